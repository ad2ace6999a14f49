import GigaChat

// MARK: - PartialRecord + JSON bytes

extension PartialRecord {
    /// The record as published: the same fields and names as its `Codable` form, written directly.
    public var jsonBytes: [UInt8] {
        var json = JSONWriter(capacity: 128 + delta.utf8.count)
        json.beginObject()
        json.key("id")
        json.string(id)
        json.key("attempt_id")
        json.string(attemptID)
        json.key("attempt")
        json.int(attempt)
        json.key("seq")
        json.int(seq)
        json.key("delta")
        json.string(delta)
        json.key("final")
        json.bool(isFinal)
        json.endObject()
        return json.bytes
    }
}
