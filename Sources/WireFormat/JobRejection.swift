/// Why a record could not become a ``Job``: it goes to the dead-letter topic with this code and message.
public struct JobRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of problem; extensible. Its `rawValue` is the `gigachat_worker-error-code` header of the
    /// dead letter.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The wire name (snake_case).
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }

        /// The record has no value (a tombstone) or an empty one.
        public static let emptyValue = Code("empty_value")
        /// The value is larger than `jobs.max_bytes`.
        public static let tooLarge = Code("too_large")
        /// The value is not valid UTF-8.
        public static let invalidUTF8 = Code("invalid_utf8")
        /// The value is not JSON.
        public static let notJSON = Code("not_json")
        /// The value is JSON but not an object.
        public static let notAnObject = Code("not_an_object")
        /// `id` or `messages` is missing.
        public static let missingField = Code("missing_field")
        /// `id` or `messages` (or a message's content where one is required) is empty.
        public static let emptyField = Code("empty_field")
        /// A top-level field the job format does not have (rejected rather than silently dropped).
        public static let unknownField = Code("unknown_field")
        /// A field has the wrong JSON type.
        public static let wrongType = Code("wrong_type")
        /// A message has a role other than `system`, `user`, `assistant` or `function`.
        public static let invalidRole = Code("invalid_role")
        /// `deadline` is not an RFC 3339 date-time.
        public static let invalidDeadline = Code("invalid_deadline")
        /// `reply_to` is not a legal Kafka topic name.
        public static let invalidReplyTo = Code("invalid_reply_to")
        /// `api` is not `v1` or `v2`.
        public static let invalidAPI = Code("invalid_api")
        /// `options.response_format` is not a usable structured-output format (a schema that is not an object, a
        /// `$ref` outside the schema, a regular expression that does not compile, an unknown type).
        public static let invalidResponseFormat = Code("invalid_response_format")

        public var description: String { rawValue }
    }

    /// The kind of problem.
    public var code: Code
    /// What is wrong, naming the field (never the record's content beyond the field name).
    public var message: String

    /// Creates a rejection.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
