/// How the model may use ``ChatFunction``s: `"auto"`, `"none"` or a forced `{"name": ...}`.
public enum ChatFunctionCallMode: Codable, Sendable, Hashable {
    /// The model decides.
    case auto
    /// No function calls.
    case none
    /// The model must call this function (it must be in `functions`).
    case function(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            switch text {
            case "auto": self = .auto
            case "none": self = .none
            default: self = .function(text)
            }
        } else {
            let object = try container.decode([String: String].self)
            guard let name = object["name"] else {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "function_call must be \"auto\", \"none\" or {\"name\": ...}"
                )
            }
            self = .function(name)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .auto: try container.encode("auto")
        case .none: try container.encode("none")
        case .function(let name): try container.encode(["name": name])
        }
    }
}
