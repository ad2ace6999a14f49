import Foundation
import Testing

@testable import Worker

/// The fleet budget's whole protocol, simulated: members that report on one log, read it late by varying amounts
/// (now and then for a second or so, past the promptness), join while others run, get killed, and see work come and
/// go, each doing what ``FleetChannel`` and ``FlowController`` do with a ``FleetView`` and ``FleetShare`` (a report
/// before each share, a share after each report read, at each request's end and at each tick). What GigaChat would
/// count, the requests in flight across the fleet, must never exceed the account's units. Not simulated: the
/// rotation step's boundaries, AIMD, a worker cut off from Kafka past the fence (DECISIONS.md, failure modes).
@Suite struct FleetProtocolTests {
    /// One run's outcome.
    struct Outcome {
        /// The most requests in flight across the fleet at any moment.
        var peak = 0
        /// Requests in flight over what could have run (the account, or the work there was), summed over time.
        var busy = 0.0
        /// Reports sent.
        var reports = 0
    }

    /// A member of the simulated fleet.
    struct Member {
        var id: String
        var view: FleetView
        var joins: Int
        var dies: Int
        var read = 0
        var sequence: Int64 = 0
        var published: FleetMember?
        var publishedAt = Int.min / 2
        var lastArrival = 0
        /// How late it reads the log, until when.
        var lag = 10
        var lagUntil = 0
        var ceiling = 0
        var inFlight = 0
        var backlog = 0
        var nextTick: Int
        /// When an acknowledgement held back by the 20 ms spacing is due (FleetChannel schedules a refresh).
        var acknowledgementDue: Int?
    }

    struct Produce {
        var arrives: Int
        var report: FleetView.Report
    }

    /// What happens to the fleet.
    enum Scenario {
        /// Members join while others run, one in four is killed, work comes in bursts and runs dry, and now and then
        /// a member's reader falls 0.3-1.5 s behind for up to 2 s.
        case churn(stalls: Bool)
        /// Every member starts at once; a backlog reaches half of them 2 s in (once every view is complete) and the
        /// rest 300 ms later, as a group hands out partitions in two rounds. Measured from the first backlog.
        case batchInTwoRounds
        /// Every member starts at once; 2 s in, one of them gets a backlog and the others stay idle (a batch's tail).
        case oneBusy
    }

    static let units = 10
    static let concurrency = 16
    static let lease = 3_000
    static let interval = 1_000

    /// Runs `members` for `duration` milliseconds in 10 ms steps.
    /// - Parameter acknowledging: Whether reports say how far their member read. Without, as from a worker that
    ///   does not say, a member's rise counts once its report has been back for the settle.
    static func simulate(
        seed: UInt64,
        members count: Int,
        duration: Int,
        scenario: Scenario,
        acknowledging: Bool,
        units: Int = units,
        rotation: Int? = nil
    ) -> Outcome {
        var churn = false
        var stalls = false
        if case .churn(let withStalls) = scenario {
            churn = true
            stalls = withStalls
        }
        let measuredFrom = churn ? 0 : 2_000
        var random = SplitMix64(seed: seed)
        let base = ContinuousClock.now
        func clock(_ ms: Int) -> ContinuousClock.Instant { base + .milliseconds(ms) }
        var members = (0..<count).map { index in
            Member(
                id: "m\(index)",
                view: FleetView(
                    me: "m\(index)",
                    lease: .milliseconds(lease),
                    fence: .milliseconds(lease - interval),
                    warmUp: .milliseconds(interval + 300)
                ),
                // Half start together, the rest join while the others run; now and then one is killed.
                joins: !churn || index < (count + 1) / 2
                    ? 0 : Int.random(in: 0...(duration / 2), using: &random) / 10 * 10,
                dies: churn && Int.random(in: 0..<4, using: &random) == 0
                    ? Int.random(in: (duration / 3)...duration, using: &random) / 10 * 10 : Int.max,
                nextTick: Int.random(in: 0..<10, using: &random) * 10
            )
        }
        var log: [FleetView.Report] = []
        var arrivals: [Int] = []
        var producing: [Produce] = []
        var outcome = Outcome()
        var possible = 0

        func update(_ index: Int, at t: Int) {
            var member = members[index]
            let now = clock(t)
            let want = min(concurrency, member.inFlight + member.backlog)
            let me = FleetMember(id: member.id, want: want, inFlight: member.inFlight, limit: member.ceiling)
            // FleetChannel.report: on a change, a rise to acknowledge (every 20 ms at most: one held back is due 20 ms
            // after the last report), or a heartbeat.
            var quiet = member.published == me && t - member.publishedAt < interval
            if quiet && member.view.owesAcknowledgement {
                if t - member.publishedAt < 20 {
                    member.acknowledgementDue = member.acknowledgementDue ?? member.publishedAt + 20
                } else {
                    quiet = false
                }
            }
            if !quiet {
                member.acknowledgementDue = nil
                member.sequence += 1
                var report = FleetView.Report(member: me, sequence: member.sequence)
                let read = member.view.sent(sequence: member.sequence, want: want, at: now)
                if acknowledging { report.read = read }
                // One partition: a member's reports arrive in the order sent.
                let arrives = max(t + Int.random(in: 1...20, using: &random), member.lastArrival)
                member.lastArrival = arrives
                producing.append(Produce(arrives: arrives, report: report))
                member.published = me
                member.publishedAt = t
                outcome.reports += 1
            }
            // FleetChannel.limit, with FlowController's rotation step and its neighbour near a boundary.
            var step = 0
            var otherStep: Int?
            if let rotation {
                step = t / rotation
                let margin = min(2_000, rotation / 4)
                otherStep = [(t - margin) / rotation, (t + margin) / rotation].first { $0 != step }
            }
            var limit = 0
            if member.view.blocked(at: now) == nil {
                limit = FleetShare.limit(
                    of: me,
                    announcedWant: member.view.announcedWant(at: now),
                    others: member.view.others(at: now),
                    units: units,
                    step: step,
                    otherStep: otherStep,
                    membersAgreed: member.view.membersAgreed(at: now)
                )
                if !member.view.isPrompt(at: now, interval: .milliseconds(interval)) { limit = min(limit, me.limit) }
            }
            member.ceiling = min(concurrency, limit)
            // The dispatcher starts what the limit allows at once.
            while member.inFlight < member.ceiling && member.backlog > 0 {
                member.inFlight += 1
                member.backlog -= 1
            }
            members[index] = member
        }

        for t in stride(from: 0, through: duration, by: 10) {
            // Reports reach the log.
            producing.sort { ($0.arrives, $0.report.member.id) < ($1.arrives, $1.report.member.id) }
            while let first = producing.first, first.arrives <= t {
                log.append(first.report)
                arrivals.append(first.arrives)
                producing.removeFirst()
            }
            for index in members.indices.shuffled(using: &random) {
                guard t >= members[index].joins else { continue }
                if t >= members[index].dies {
                    // Killed: its streams are cut with it; its reports stop.
                    members[index].inFlight = 0
                    members[index].backlog = 0
                    continue
                }
                // Work comes in bursts, and runs dry; or a batch in two rounds.
                if churn, Int.random(in: 0..<200, using: &random) == 0 {
                    members[index].backlog += Int.random(in: 1...40, using: &random)
                }
                switch scenario {
                case .batchInTwoRounds where t == (index < count / 2 ? measuredFrom : measuredFrom + 300),
                    .oneBusy where t == measuredFrom && index == 0:
                    members[index].backlog = 100_000
                default: break
                }
                // Requests end after 300 ms on average.
                let ending = (0..<members[index].inFlight).filter { _ in Int.random(in: 0..<30, using: &random) == 0 }
                members[index].inFlight -= ending.count
                // The dispatcher gives a freed slot to the next job at once, within the limit in force.
                let refill = min(members[index].backlog, max(0, members[index].ceiling - members[index].inFlight))
                members[index].inFlight += refill
                members[index].backlog -= refill
                // Reads lag 2-40 ms; now and then a member's reader falls 0.3-1.5 s behind for up to 2 s (past the
                // promptness: its own reports come back late too).
                if t >= members[index].lagUntil {
                    let stall = stalls && Int.random(in: 0..<3_000, using: &random) == 0
                    members[index].lag = stall
                        ? Int.random(in: 300...1_500, using: &random) : Int.random(in: 2...40, using: &random)
                    members[index].lagUntil = t + (stall ? Int.random(in: 500...2_000, using: &random) : 0)
                }
                // Each report read: the limit is worked out again (FleetChannel's onChange).
                while members[index].read < log.count, arrivals[members[index].read] <= t - members[index].lag {
                    let offset = members[index].read
                    members[index].view.observe(log[offset], offset: Int64(offset), at: clock(t))
                    members[index].read += 1
                    update(index, at: t)
                }
                // A request ended while another member waits for units (the hand-off, every 20 ms at most), an
                // acknowledgement held back is due, or the 100 ms tick.
                let handOff = !ending.isEmpty && t - members[index].publishedAt >= 20
                    && members[index].view.anyoneWaiting(at: clock(t))
                let due = members[index].acknowledgementDue.map { t >= $0 } ?? false
                if handOff || due || t >= members[index].nextTick {
                    if t >= members[index].nextTick { members[index].nextTick = t + 100 }
                    members[index].acknowledgementDue = nil
                    update(index, at: t)
                }
                outcome.peak = max(outcome.peak, members.reduce(0) { $0 + $1.inFlight })
            }
            guard t >= measuredFrom else { continue }
            let live = members.filter { t >= $0.joins && t < $0.dies }
            outcome.busy += Double(live.reduce(0) { $0 + $1.inFlight })
            possible += min(units, live.reduce(0) { $0 + $1.inFlight + $1.backlog })
        }
        outcome.busy /= Double(max(1, possible))
        return outcome
    }

    @Test(arguments: [2, 3, 6])
    func theFleetNeverRunsMoreThanTheAccountWhateverTheTiming(members: Int) {
        for seed in UInt64(1)...4 {
            let outcome = Self.simulate(
                seed: seed,
                members: members,
                duration: 20_000,
                scenario: .churn(stalls: true),
                acknowledging: true
            )
            #expect(outcome.peak <= Self.units, "seed \(seed): \(outcome.peak) of \(Self.units)")
            // Not by starting nothing: the fleet runs much of what the account and the work allow (0.6-0.9 here;
            // a killed member holds a rise back for its lease, a stalled reader until it has read it).
            #expect(outcome.busy > 0.5, "seed \(seed): busy \(outcome.busy)")
        }
    }

    @Test func unitsThatRotateAmongMembersAreNeverTakenTwiceAtABoundary() {
        // A personal account's one unit, or a remainder, moves with the rotation step between members that want it.
        // Defect: a member took a unit just freed 10 ms before a boundary (its step gave it the unit), and another
        // took it 10 ms after (the next step gave it to that one, which had not read the first one's take yet): 2 of 1
        // (seed 14 below), 11 of 10 (5 members, seeds 2 and 5 with stalls). Before a boundary, a new take needs the
        // next step to agree.
        for seed in UInt64(10)...17 {
            let outcome = Self.simulate(
                seed: seed, members: 3, duration: 20_000, scenario: .churn(stalls: false), acknowledging: true,
                units: 1, rotation: 2_000)
            #expect(outcome.peak <= 1, "seed \(seed): \(outcome.peak) of 1")
        }
        for seed in UInt64(1)...5 {
            let outcome = Self.simulate(
                seed: seed, members: 5, duration: 20_000, scenario: .churn(stalls: true), acknowledging: true,
                rotation: 2_000)
            #expect(outcome.peak <= Self.units, "seed \(seed): \(outcome.peak) of \(Self.units)")
        }
    }

    @Test func reportsThatDoNotSayWhatTheirMemberReadHoldTheLimitByTimeWhileReadersKeepUp() {
        // As from older workers: a rise counts once its report has been back for the settle. That relies on every
        // reader keeping within the promptness; a stalled reader breaks it (11 of 10 in one of 48 such runs here),
        // which acknowledgements close.
        for seed in UInt64(1)...4 {
            let outcome = Self.simulate(
                seed: seed,
                members: 4,
                duration: 20_000,
                scenario: .churn(stalls: false),
                acknowledging: false
            )
            #expect(outcome.peak <= Self.units, "seed \(seed): \(outcome.peak) of \(Self.units)")
        }
    }

    @Test(arguments: [3, 8])
    func oneMemberWithWorkAmongIdleOnesTakesTheWholeAccount(members: Int) {
        // Idle members report once a second, and acknowledge the busy member's rise at once.
        for seed in UInt64(1)...2 {
            let outcome = Self.simulate(
                seed: seed, members: members, duration: 5_000, scenario: .oneBusy, acknowledging: true)
            #expect(outcome.peak <= Self.units)
            #expect(outcome.busy > 0.95, "seed \(seed): busy \(outcome.busy)")
        }
    }

    @Test(arguments: [3, 8])
    func aBatchHandedOutInTwoRoundsFillsTheAccountWithinAFewRoundTrips(members: Int) {
        // The first round's members take even shares at once, and the whole account once the others have read their
        // rises, a round trip or two later (with the settle alone: 500 ms). The second round's rises take units as
        // the first round's requests end (300 ms on average here). Busy over the 4 s from the first backlog: 0.96-0.98
        // for 3 members and 0.87-0.89 for 8 with acknowledgements, 0.83-0.86 with the settle alone.
        var acknowledged = Outcome()
        var settled = Outcome()
        for seed in UInt64(1)...3 {
            let with = Self.simulate(
                seed: seed, members: members, duration: 6_000, scenario: .batchInTwoRounds, acknowledging: true)
            let without = Self.simulate(
                seed: seed, members: members, duration: 6_000, scenario: .batchInTwoRounds, acknowledging: false)
            #expect(with.peak <= Self.units && without.peak <= Self.units)
            acknowledged.busy += with.busy / 3
            settled.busy += without.busy / 3
        }
        #expect(acknowledged.busy > 0.85, "busy \(acknowledged.busy) with acknowledgements")
        #expect(acknowledged.busy > settled.busy, "\(acknowledged.busy) with, \(settled.busy) without")
    }
}
