/// One member of the fleet as this worker last heard of it: what it wants and what it holds.
public struct FleetMember: Sendable, Hashable {
    /// The member's instance id (unique per process).
    public var id: String
    /// The requests it could run now: running plus waiting in its buffer, up to its own `concurrency`.
    public var want: Int
    /// Its GigaChat requests in flight.
    public var inFlight: Int
    /// The limit it applied last (what it may start without telling anyone).
    public var limit: Int
    /// For another member: the want its own limit may count as known to the others. Lower than `want` only while
    /// this worker has not said it read its rise yet (``FleetView``): until then it takes at most an even
    /// share, as this member does (``FleetShare``). Not on the wire.
    public var announcedWant: Int
    /// For another member: whether it has read every other member's rise that is fresh (its last report says it read
    /// past them), so its own target counts those rises. Not on the wire.
    public var readEveryRise: Bool

    public init(
        id: String,
        want: Int,
        inFlight: Int,
        limit: Int,
        announcedWant: Int? = nil,
        readEveryRise: Bool = true
    ) {
        self.id = id
        self.want = max(0, want)
        self.inFlight = max(0, inFlight)
        self.limit = max(0, limit)
        self.announcedWant = min(self.want, max(0, announcedWant ?? want))
        self.readEveryRise = readEveryRise
    }

    /// What the member may have in flight before its next report: the others must leave it this much.
    var holds: Int { max(inFlight, limit) }
}

/// The account's units shared by what the members want: a worker with nothing to run holds nothing, and units go
/// to the workers with work within one report. Pure: every worker computes it from its own view of the fleet.
///
/// - **Targets** are max-min fair: every member wanting more gets an equal share, a member that wants less gets
///   what it wants and the rest goes to the others. Units that do not divide (10 over 3, or a personal account's
///   one over 3) go one each to members in id order starting at `step`, which advances with the wall clock so that
///   the remainder visits every member in turn.
/// - **A member's limit** is its target, but never more than what the others leave it: the account's units minus,
///   for every other member, the larger of what it holds (in flight, or its last limit) and its target — as this
///   member sees it, and as that member sees it while this member's last rise is not announced (it may take that
///   much before its next report). A unit a member gives up passes on only once its report says its request
///   ended, so a hand-off never overlaps.
/// - **Before the others know** of a rise in this member's want (not every other member has said it read the
///   report, ``FleetView/announcedWant(at:)``), it takes at most an even share of the account (`units / members`, the remainder by the same rotation as the targets): two
///   idle members that get work at once do not both take the whole account. The others count on that while the
///   member's rise is fresh (``FleetMember/announcedWant``), so members that all start together take the whole
///   account between them at once instead of a round trip later.
public enum FleetShare {
    /// Each member's target, in the order given: max-min fair over `want`, remainders from `step` in id order.
    public static func targets(units: Int, members: [FleetMember], step: Int) -> [Int] {
        var given = Array(repeating: 0, count: members.count)
        var remaining = max(0, units)
        while remaining > 0 {
            let wanting = members.indices.filter { given[$0] < members[$0].want }
            guard !wanting.isEmpty else { break }
            let share = remaining / wanting.count
            if share == 0 {
                // Fewer units than members wanting: one each, in id order from the rotating start.
                let order = members.indices.sorted { members[$0].id < members[$1].id }
                let start = ((step % order.count) + order.count) % order.count
                for offset in 0..<order.count where remaining > 0 {
                    let index = order[(start + offset) % order.count]
                    guard given[index] < members[index].want else { continue }
                    given[index] += 1
                    remaining -= 1
                }
                break
            }
            for index in wanting {
                let add = min(share, members[index].want - given[index])
                given[index] += add
                remaining -= add
            }
        }
        return given
    }

    /// Each member's share if every member wanted the whole account: the units split evenly, the remainder by the
    /// same rotation as ``targets(units:members:step:)``, so that the shares of members that all rise at once add up
    /// to the account (10 over 8 members: two of them take 2) and none of it waits for an announcement.
    static func evenShares(units: Int, members: [FleetMember], step: Int) -> [Int] {
        var everyone = members
        for index in everyone.indices { everyone[index].want = units }
        return targets(units: units, members: everyone, step: step)
    }

    /// The limit of the member `me`.
    /// - Parameters:
    ///   - me: This member with its current (local) want, in flight and limit.
    ///   - announcedWant: The want of this member's last report that has been back from the fleet topic for the
    ///     settle (the others have it, and this member has theirs sent meanwhile); `nil` before the first.
    ///     ``FleetView/announcedWant(at:)`` gives it: the want every other member has said it read.
    ///   - others: The other live members, from their last reports.
    ///   - units: The account's concurrency limit.
    ///   - step: The rotation step for remainders.
    ///   - otherStep: The step some members may be on meanwhile (near a rotation boundary, where clocks that differ
    ///     a little put members on either side). Even shares are what members take with nothing held to wait for,
    ///     so this member takes the lesser of its even shares under the two steps and leaves every other member the
    ///     greater. (A target that moves with the step moves once its holder reports, as any hand-off.) When
    ///     `otherStep` is the next step, a unit this member does not hold yet is taken only if that step gives it too.
    ///   - membersAgreed: Whether every prompt reader counts the same members (``FleetView/membersAgreed(at:)``):
    ///     if not, this member's even share has no remainder and another's may be the account over one member
    ///     fewer.
    public static func limit(
        of me: FleetMember,
        announcedWant: Int?,
        others: [FleetMember],
        units: Int,
        step: Int,
        otherStep: Int? = nil,
        membersAgreed: Bool = true
    ) -> Int {
        let members = [me] + others
        let local = targets(units: units, members: members, step: step)
        // The targets under the other step, near a rotation boundary (worked out once: the fresh rises' caps and the
        // next step's rule below both use them).
        let localAcross = otherStep.map { targets(units: units, members: members, step: $0) }
        // What the others base their limits on: this member's announced want (the lower of the two while a rise is
        // not announced yet, so that their targets are the higher). Until the rise is announced this member takes
        // only its target under that, or an even share.
        var announced = me
        announced.want = min(me.want, announcedWant ?? 0)
        let agreed = targets(units: units, members: [announced] + others, step: step)
        var even = evenShares(units: units, members: members, step: step)
        var othersEven = even
        if !membersAgreed {
            // Members may count different members for a moment: no remainder for this one, and another may have
            // split the account over one member fewer.
            even = Array(repeating: units / members.count, count: members.count)
            let fewest = max(1, members.count - 1)
            othersEven = Array(repeating: (units + fewest - 1) / fewest, count: members.count)
        } else if let otherStep {
            let across = evenShares(units: units, members: members, step: otherStep)
            even = zip(even, across).map { min($0, $1) }
            othersEven = zip(othersEven, across).map { max($0, $1) }
        }
        var target = local[0]
        if target > agreed[0] {
            target = min(target, max(agreed[0], min(me.want, even[0])))
        }
        // Each other member may take up to its target as the others see it, before its report says so. One whose
        // rise is not announced yet keeps to the same rule as this member: its target with its announced want (and
        // the others' announced wants, the most it could see), or an even share. One whose want is announced may not
        // have read another's fresh rise yet either: until it has, it may take its target with every fresh rise at its
        // announced want (a simulated fleet ran 13 of 10 without that: a worker took the whole account an instant
        // before it read two rises, and one of them took its even share seeing the worker's last report).
        func mayTake(local: [Int], agreed: [Int], step: Int) -> [Int] {
            let othersAnnounced = others.map { other in
                var announced = other
                announced.want = other.announcedWant
                return announced
            }
            let agreedByAll = targets(units: units, members: [announced] + othersAnnounced, step: step)
            return others.indices.map { index in
                let seen = max(local[index + 1], agreed[index + 1])
                guard others[index].announcedWant < others[index].want else {
                    return others[index].readEveryRise ? seen : max(seen, agreedByAll[index + 1])
                }
                return min(seen, max(agreedByAll[index + 1], min(others[index].want, othersEven[index + 1])))
            }
        }
        // Worked out only when some member's rise is fresh (rarely: the common case is none; then every member's
        // want is its announced one). Near a rotation boundary a member whose rise is fresh may be on the other step:
        // it may take the greater of the two.
        var mayTakeByStep: [[Int]] = []
        if others.contains(where: { $0.announcedWant < $0.want }) {
            mayTakeByStep.append(mayTake(local: local, agreed: agreed, step: step))
            if let otherStep, let localAcross {
                mayTakeByStep.append(
                    mayTake(
                        local: localAcross,
                        agreed: targets(units: units, members: [announced] + others, step: otherStep),
                        step: otherStep
                    )
                )
            }
        }
        let othersHold = others.indices.reduce(0) { sum, index in
            let other = others[index]
            var mayTake = max(local[index + 1], agreed[index + 1])
            if let current = mayTakeByStep.first {
                mayTake = current[index]
                if other.announcedWant < other.want { mayTake = mayTakeByStep.map { $0[index] }.max() ?? mayTake }
            }
            return sum + max(other.holds, mayTake)
        }
        let limit = max(0, min(target, units - othersHold))
        // Before a rotation boundary, a unit this member does not hold yet is taken only if the next step leaves it
        // here too: a member past the boundary (or a moment later) gives it by the next step, and one taken on either
        // side of the boundary by two members ran 2 of a personal account's 1 (the simulated fleet, and 11 of 41
        // calls answered 429 in an end-to-end run). Units held are kept until the boundary, as before.
        if let otherStep, otherStep > step, let localAcross {
            return min(limit, max(me.holds, localAcross[0]))
        }
        return limit
    }
}
