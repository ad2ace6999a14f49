import Foundation
import GigaChatEmulator
import Testing

@testable import GigaChat

/// The local check of structured output: the JSON Schema subset, the verdict on an answer, the correction.
@Suite("Structured output")
struct StructuredOutputTests {
    static func json(_ text: String) throws -> JSONValue { try JSONValue(parsing: Array(text.utf8)) }

    static func violation(_ schema: String, _ instance: String) throws -> String? {
        try JSONSchema(json(schema)).firstViolation(in: json(instance))
    }

    /// Each keyword of the documented subset, with a value that passes and one that fails (and the message's start).
    static let cases: [(schema: String, passes: String, fails: String, message: String)] = [
        (#"{"type":"string"}"#, #""a""#, "1", "$: expected string, got the integer 1"),
        (#"{"type":["integer","null"]}"#, "null", "1.5", "$: expected integer or null, got the number 1.5"),
        (#"{"type":"integer"}"#, "2.0", "2.5", "$: expected integer"),
        (#"{"enum":["RUB","USD"]}"#, #""USD""#, #""EUR""#, #"$: "EUR" is not one of ["RUB","USD"]"#),
        (#"{"const":3}"#, "3", "4", "$: 4 is not 3"),
        (#"{"required":["a"]}"#, #"{"a":1}"#, #"{"b":1}"#, #"$: the required property "a" is missing"#),
        (
            #"{"properties":{"a":{"type":"string"}},"additionalProperties":false}"#, #"{"a":"x"}"#, #"{"a":"x","b":1}"#,
            #"$: the property "b" is not allowed"#
        ),
        (#"{"additionalProperties":{"type":"number"}}"#, #"{"x":1}"#, #"{"x":"1"}"#, "$.x: expected number"),
        (#"{"minProperties":1,"maxProperties":1}"#, #"{"a":1}"#, "{}", "$: 0 properties, fewer than minProperties 1"),
        (#"{"items":{"type":"integer"}}"#, "[1,2]", #"[1,"2"]"#, "$[1]: expected integer"),
        (#"{"minItems":2}"#, "[1,2]", "[1]", "$: 1 items, fewer than minItems 2"),
        (#"{"maxItems":1}"#, "[1]", "[1,2]", "$: 2 items, more than maxItems 1"),
        (#"{"uniqueItems":true}"#, "[1,2]", "[1,1]", "$[1]: repeats an earlier item"),
        (#"{"minLength":2}"#, #""ёж""#, #""ё""#, "$: the string has 1 characters, fewer than minLength 2"),
        (#"{"maxLength":2}"#, #""ёж""#, #""ёжи""#, "$: the string has 3 characters, more than maxLength 2"),
        (#"{"pattern":"^[A-Z]{3}-\\d{4}$"}"#, #""TKT-2023""#, #""TKT-23""#, "$: \"TKT-23\" does not match the pattern"),
        (#"{"minimum":1}"#, "1", "0", "$: 0 is below the minimum 1"),
        (#"{"maximum":10}"#, "10", "11", "$: 11 is above the maximum 10"),
        (#"{"exclusiveMinimum":0}"#, "0.1", "0", "$: 0 is not above the exclusive minimum 0"),
        (#"{"exclusiveMaximum":1}"#, "0.9", "1", "$: 1 is not below the exclusive maximum 1"),
        (#"{"multipleOf":0.5}"#, "1.5", "1.2", "$: 1.2 is not a multiple of 0.5"),
        (#"{"anyOf":[{"type":"string"},{"type":"null"}]}"#, "null", "1", "$: matches none of anyOf"),
        (
            #"{"oneOf":[{"type":"integer"},{"type":"number"}]}"#, "1.5", "1",
            "$: matches oneOf's schemas 0 and 1, not exactly one"
        ),
        (#"{"allOf":[{"minimum":1},{"maximum":2}]}"#, "2", "3", "$: 3 is above the maximum 2"),
        (#"{"not":{"type":"null"}}"#, "1", "null", "$: matches the schema under not"),
        (
            ##"{"$defs":{"Line":{"type":"object","required":["qty"],"properties":{"qty":{"type":"integer","minimum":1}}}},"properties":{"lines":{"type":"array","items":{"$ref":"#/$defs/Line"}}}}"##,
            #"{"lines":[{"qty":2}]}"#, #"{"lines":[{"qty":2},{"qty":0}]}"#, "$.lines[1].qty: 0 is below the minimum 1"
        ),
        (
            ##"{"definitions":{"N":{"type":["object","null"],"properties":{"next":{"$ref":"#/definitions/N"}}}},"$ref":"#/definitions/N"}"##,
            #"{"next":{"next":null}}"#, #"{"next":{"next":3}}"#, "$.next.next: expected object or null"
        ),
        (
            #"{"patternProperties":{"^x-":{"type":"integer"}},"additionalProperties":false}"#, #"{"x-a":1}"#,
            #"{"x-a":"1"}"#, "$.x-a: expected integer"
        ),
        (
            #"{"patternProperties":{"^x-":{}},"additionalProperties":false}"#, #"{"x-a":1}"#, #"{"y":1}"#,
            #"$: the property "y" is not allowed"#
        ),
        (#"{"minimum":1,"exclusiveMinimum":true}"#, "1.5", "1", "$: 1 is not above the exclusive minimum 1"),
        (#"{"maximum":1,"exclusiveMaximum":true}"#, "0.5", "1", "$: 1 is not below the exclusive maximum 1"),
        (
            #"{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":{"type":"boolean"}}"#,
            #"["a",1,true]"#, #"["a","b"]"#, "$[1]: expected integer"
        ),
        // Annotations and format are not checked.
        (
            #"{"type":"string","format":"date","title":"T","description":"D"}"#, #""not a date""#, "1",
            "$: expected string"
        ),
    ]

    @Test func eachKeywordOfTheSubsetPassesAndFails() throws {
        for (schema, passes, fails, message) in Self.cases {
            #expect(try Self.violation(schema, passes) == nil, "\(schema) should accept \(passes)")
            let violation = try Self.violation(schema, fails)
            #expect(violation?.hasPrefix(message) == true, "\(schema) on \(fails): \(violation ?? "no violation")")
        }
    }

    @Test func referenceLoopsEndAndBranchingSchemasStayWithinTheBudget() throws {
        // A reference back to where it is checks nothing new: it ends, and accepts.
        #expect(try Self.violation(##"{"$ref":"#"}"##, "[1,2]") == nil)
        #expect(
            try Self.violation(
                ##"{"$defs":{"A":{"$ref":"#/$defs/B"},"B":{"$ref":"#/$defs/A"}},"$ref":"#/$defs/A"}"##,
                "1"
            ) == nil
        )
        #expect(try Self.violation(##"{"anyOf":[{"$ref":"#"},{"$ref":"#"}]}"##, "1") == nil)
        // A recursive model is followed down the value, as deep as it goes.
        let tree =
            ##"{"$defs":{"N":{"type":"object","properties":{"c":{"type":"array","items":{"$ref":"#/$defs/N"}},"v":{"type":"integer"}}}},"$ref":"#/$defs/N"}"##
        var deep = #"{"v":1}"#
        for _ in 0..<40 { deep = #"{"c":[\#(deep)]}"# }
        #expect(try Self.violation(tree, deep) == nil)
        #expect(
            try Self.violation(tree, deep.replacingOccurrences(of: #""v":1"#, with: #""v":"1""#))?.hasSuffix(
                "expected integer, got a string"
            ) == true
        )
        // Branches that multiply end at the step budget with a message, not a hung thread.
        // Level k tries level k-1 twice (the first try fails at its end), so 30 levels are 2^30 steps.
        var definitions = [#""L0":{"type":"integer"}"#]
        for level in 1...30 {
            let below = ##"{"$ref":"#/$defs/L\##(level - 1)"}"##
            definitions.append(##""L\##(level)":{"anyOf":[{"allOf":[\##(below),{"type":"string"}]},\##(below)]}"##)
        }
        let branching = ##"{"$defs":{\##(definitions.joined(separator: ","))},"$ref":"#/$defs/L30"}"##
        #expect(try Self.violation(branching, "1") == "$: the schema takes too long to check")
        #expect(try Self.violation(branching.replacingOccurrences(of: "L30\"}", with: "L3\"}"), "1") == nil)
    }

    @Test func theFormatIsTheOneTheRequestCarries() throws {
        let schema: JSONValue = ["type": "json_schema", "schema": ["type": "object"]]
        let regex: JSONValue = ["type": "regex", "regex": "[0-9]+"]
        // v2: model_options wins, as in the request body; v1 sends only the top-level one as the format.
        let both: [String: JSONValue] = ["response_format": schema, "model_options": ["response_format": regex]]
        #expect(try ResponseFormat.requested(in: both, api: .v2) == .regex("[0-9]+"))
        #expect(try ResponseFormat.requested(in: both, api: .v1) == .jsonSchema(try JSONSchema(["type": "object"])))
        #expect(try ResponseFormat.requested(in: ["response_format": .null], api: .v1) == nil)
        #expect(try ResponseFormat.requested(in: [:], api: .v2) == nil)
        // The whole answer, to its very end: a trailing newline is not part of a match.
        let digits = try #require(try ResponseFormat.requested(in: ["response_format": regex], api: .v2))
        #expect(digits.verdict(on: "2026", finishReason: "stop") == .valid(parsed: nil))
        #expect(digits.verdict(on: "2026\n", finishReason: "stop") != .valid(parsed: nil))
    }

    @Test func schemasThatCannotBeUsedAreRefusedUpFront() throws {
        #expect(throws: JSONSchema.Invalid.self) { try JSONSchema(Self.json("[]")) }
        #expect(throws: JSONSchema.Invalid.self) {
            try JSONSchema(Self.json(#"{"$ref":"https://example.com/s.json"}"#))
        }
        #expect(throws: JSONSchema.Invalid.self) {
            try JSONSchema(Self.json(##"{"properties":{"a":{"$ref":"#/$defs/Missing"}}}"##))
        }
        #expect(throws: JSONSchema.Invalid.self) { try JSONSchema(Self.json(#"{"pattern":"[a-"}"#)) }
        #expect(throws: ResponseFormat.Invalid.self) { try ResponseFormat(Self.json(#"{"type":"json_schema"}"#)) }
        #expect(throws: ResponseFormat.Invalid.self) { try ResponseFormat(Self.json(#"{"type":"xml"}"#)) }
        #expect(throws: ResponseFormat.Invalid.self) { try ResponseFormat(Self.json(#"{"type":"regex","regex":"("}"#)) }
    }

    @Test func theVerdictParsesChecksOrSaysTruncated() throws {
        let format = try ResponseFormat(
            Self.json(
                #"{"type":"json_schema","schema":{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}}"#
            )
        )
        #expect(format.verdict(on: #"{"n": 3}"#, finishReason: "stop") == .valid(parsed: ["n": 3]))
        guard case .invalid(let notJSON) = format.verdict(on: #"Вот ответ: {"n": 3}"#, finishReason: "stop") else {
            Issue.record("text around the JSON is not JSON")
            return
        }
        #expect(notJSON.hasPrefix("the answer is not JSON"))
        #expect(
            format.verdict(on: #"{"n": "3"}"#, finishReason: "stop") == .invalid("$.n: expected integer, got a string")
        )
        #expect(format.verdict(on: #"{"n": "#, finishReason: "length") == .truncated)
        let correction = format.correction(for: "$.n: expected integer, got a string")
        #expect(correction.role == .user)
        #expect(correction.content?.contains("$.n: expected integer, got a string") == true)

        let regex = try ResponseFormat(Self.json(#"{"type":"regex","regex":"[A-Z]{3}-\\d{4}"}"#))
        #expect(regex.verdict(on: "TKT-2023", finishReason: "stop") == .valid(parsed: nil))
        #expect(regex.verdict(on: "Code: TKT-2023", finishReason: "stop") != .valid(parsed: nil))  // the whole answer
        #expect(
            try ResponseFormat(Self.json(#"{"type":"text"}"#)).verdict(on: "x", finishReason: "length")
                == .valid(parsed: nil)
        )
    }

    /// The emulator's structured answers satisfy the schemas they were made for (checked by the validator above),
    /// pydantic's shapes included: nested models, optional fields, recursion, tuples, bounds, formats.
    @Test func theEmulatorsAnswersSatisfyTheirSchemas() throws {
        let schemas = [
            #"{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1}"#,
            #"{"type":"number","minimum":0.5,"maximum":0.75,"multipleOf":0.25}"#,
            #"{"type":"integer","exclusiveMinimum":5,"maximum":6}"#,
            #"{"type":"array","items":{"type":"string"},"minItems":3,"uniqueItems":true}"#,
            #"{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"minItems":2,"maxItems":2}"#,
            #"{"type":"string","minLength":3,"maxLength":3}"#,
            #"{"allOf":[{"type":"object","required":["a"],"properties":{"a":{"type":"string"}}},{"type":"object","required":["b"],"properties":{"b":{"type":"integer"}}}]}"#,
            ##"{"$defs":{"Node":{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/Node"}}}}},"$ref":"#/$defs/Node"}"##,
            #"{"type":"object","required":["when","id","mail"],"properties":{"when":{"type":"string","format":"date"},"id":{"type":"string","format":"uuid"},"mail":{"type":"string","format":"email"}}}"#,
            #"{"type":"object","properties":{"note":{"anyOf":[{"type":"null"},{"type":"string","minLength":2}]}}}"#,
        ]
        for schema in schemas {
            let answer = try #require(GigaChatEmulator.structuredAnswer(schemaJSON: schema, prompt: "Extract it"))
            #expect(try Self.violation(schema, answer) == nil, "\(schema) -> \(answer)")
        }
        // A pattern is sampled; the emulator's regex answers match their expression, or are not made.
        let coded =
            #"{"type":"object","required":["code"],"properties":{"code":{"type":"string","pattern":"^[A-Z]{3}-\\d{4}$"}}}"#
        let codedAnswer = try #require(GigaChatEmulator.structuredAnswer(schemaJSON: coded, prompt: "x"))
        #expect(try Self.violation(coded, codedAnswer) == nil, "\(codedAnswer)")
        for (pattern, sample) in [
            (#"[^a-z]+"#, "Q"), (#"\x41\u0416\n"#, "AЖ\n"), (#"[\u0400-\u04FF]{2}"#, "ЀЀ"), (#"[^\w\s]"#, "-"),
            (#"(?:ab|c)+\.txt"#, "ab.txt"), (#"\d{2,}"#, "00"),
        ] {
            #expect(GigaChatEmulator.regexSample(pattern) == sample, "\(pattern)")
        }
        for pattern in [#"a{-1}"#, #"a{99999}"#, #"(?=a)b"#, #"(a)\1"#, #"[b-a]"#] {
            #expect(GigaChatEmulator.regexSample(pattern) == nil, "\(pattern)")
        }
        // Contradictory bounds cannot be satisfied: the answer breaks them, and the validator says so.
        let impossible =
            #"{"type":"object","required":["n"],"properties":{"n":{"type":"integer","minimum":5,"maximum":3}}}"#
        let answer = try #require(GigaChatEmulator.structuredAnswer(schemaJSON: impossible, prompt: "x"))
        #expect(try Self.violation(impossible, answer) != nil)
    }
}
