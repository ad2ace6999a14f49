/// A function the model may call (`functions[]`), described by a JSON Schema.
public struct ChatFunction: Codable, Sendable, Hashable {
    /// An example of a request and the arguments the model should produce for it.
    public struct FewShotExample: Codable, Sendable, Hashable {
        /// The user's request.
        public var request: String
        /// The arguments for it.
        public var params: JSONValue

        /// Creates an example.
        public init(request: String, params: JSONValue) {
            self.request = request
            self.params = params
        }
    }

    /// The name: latin letters, not starting with a digit. Built-ins (e.g. `text2image`) need nothing else.
    public var name: String
    /// What the function does.
    public var description: String?
    /// The arguments' JSON Schema (an object schema).
    public var parameters: JSONValue?
    /// Examples that improve argument extraction.
    public var fewShotExamples: [FewShotExample]?
    /// The JSON Schema of the function's result.
    public var returnParameters: JSONValue?

    /// Creates a function description.
    public init(
        name: String,
        description: String? = nil,
        parameters: JSONValue? = nil,
        fewShotExamples: [FewShotExample]? = nil,
        returnParameters: JSONValue? = nil
    ) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.fewShotExamples = fewShotExamples
        self.returnParameters = returnParameters
    }

    private enum CodingKeys: String, CodingKey {
        case name, description, parameters
        case fewShotExamples = "few_shot_examples"
        case returnParameters = "return_parameters"
    }
}
