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

    public init(id: String, want: Int, inFlight: Int, limit: Int) {
        self.id = id
        self.want = max(0, want)
        self.inFlight = max(0, inFlight)
        self.limit = max(0, limit)
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
/// - **Before the others know** of a rise in this member's want (its report has not come back yet), it takes at
///   most an even share of the account (`units / members`): two idle members that get work at once do not both
///   take the whole account.
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

    /// The limit of the member `me`.
    /// - Parameters:
    ///   - me: This member with its current (local) want, in flight and limit.
    ///   - announcedWant: The want of this member's last report that came back from the fleet topic (so the others
    ///     have it too); `nil` before the first.
    ///   - others: The other live members, from their last reports.
    ///   - units: The account's concurrency limit.
    ///   - step: The rotation step for remainders.
    public static func limit(
        of me: FleetMember,
        announcedWant: Int?,
        others: [FleetMember],
        units: Int,
        step: Int
    ) -> Int {
        let members = [me] + others
        let local = targets(units: units, members: members, step: step)
        // What the others base their limits on: this member's announced want (the lower of the two while a rise is
        // not announced yet, so that their targets are the higher).
        var announced = me
        announced.want = min(me.want, announcedWant ?? 0)
        let agreed = targets(units: units, members: [announced] + others, step: step)
        var target = local[0]
        if target > agreed[0] {
            let even = units / members.count
            target = min(target, max(agreed[0], min(me.want, even)))
        }
        // Each other member may take up to its target as the others see it, before its report says so.
        let othersHold = others.indices.reduce(0) { $0 + max(others[$1].holds, local[$1 + 1], agreed[$1 + 1]) }
        return max(0, min(target, units - othersHold))
    }
}
