import GigaChat

/// Where a job made by `submit --attach` records the id of the file it uploaded: `metadata.gigachat_file_id`. The
/// completion echoes the job's metadata, so `collect` finds the file to delete by it; the worker keeps that one
/// member when it must shrink a completion.
public enum UploadedFileMetadata {
    /// The metadata member's name.
    public static let key = "gigachat_file_id"

    /// The uploaded file's id in a job's or a completion's metadata, if it has one.
    public static func fileID(in metadata: JSONValue?) -> String? {
        guard case .object(let members)? = metadata, case .string(let id)? = members[key] else { return nil }
        return id
    }
}
