import GigaChat
import Testing
import WireFormat

@testable import Worker

/// Which `X-Session-ID` a job's calls carry, so GigaChat's prefix cache serves what jobs share.
@Suite struct PromptSessionTests {
    func job(_ messages: [ChatMessage], model: String? = nil, session: String? = nil) -> Job {
        Job(id: "j", model: model, messages: messages, sessionID: session)
    }

    @Test func jobsSharingTheirPrefixShareASessionAndOthersDoNot() {
        let system = ChatMessage.system("Extract the invoice fields")
        let a = PromptSession.id(for: job([system, .user("doc A")]), mode: .prefix)
        let b = PromptSession.id(for: job([system, .user("doc B, longer")]), mode: .prefix)
        #expect(a != nil && a == b, "only the last message differs")
        #expect(a?.hasPrefix("prefix-") == true && a?.count == 39)
        #expect(PromptSession.id(for: job([.system("Other"), .user("doc A")]), mode: .prefix) != a)
        #expect(PromptSession.id(for: job([system, .user("doc A")], model: "GigaChat-2-Max"), mode: .prefix) != a)
        // Field boundaries count: the same text split differently between messages is another prefix.
        let split1 = PromptSession.id(for: job([.system("ab"), .user("c"), .user("x")]), mode: .prefix)
        let split2 = PromptSession.id(for: job([.system("a"), .user("bc"), .user("x")]), mode: .prefix)
        #expect(split1 != split2)
    }

    @Test func aJobOfOneMessageHasNoSharedPrefixAndTheJobsOwnIdWins() {
        #expect(PromptSession.id(for: job([.user("alone")]), mode: .prefix) == nil)
        #expect(PromptSession.id(for: job([.user("alone")], session: "mine"), mode: .prefix) == "mine")
        #expect(PromptSession.id(for: job([.system("s"), .user("u")], session: "mine"), mode: .off) == "mine")
        #expect(PromptSession.id(for: job([.system("s"), .user("u")]), mode: .off) == nil)
    }
}
