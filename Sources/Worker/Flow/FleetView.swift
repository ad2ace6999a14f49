import Foundation

/// What this worker knows of the fleet: every member's last report, and when it arrived (on this worker's own
/// clock, so clock skew between hosts plays no part in leases).
///
/// - A member whose report is older than `lease` is gone (killed, partitioned away): its units return to the rest.
/// - A member that reported leaving (a graceful stop) is gone at once.
/// - This worker's own reports come back through the fleet topic too. A want counts as announced once its report
///   has been back for `settle`: by then the reports other members sent at about the same time have arrived too
///   (two members whose wants rise together each see the other's rise before either takes more than an even share).
/// - Another member's rise is fresh for `settle − promptness` after this worker first reads it: its own report
///   cannot have settled yet (this worker reads within `promptness` of the head, see ``isPrompt(at:interval:)``), so
///   that member keeps to an even share for now, and ``others(at:)`` says so (``FleetMember/announcedWant``).
/// - Until this worker's first report has come back, and for one report
///   interval after (so every live member has reported once), the view is not complete and the worker starts
///   nothing. When its own reports stop coming back for longer than `fence`, the others will soon drop it, so it
///   starts nothing either until they come back (a worker cut off from Kafka stops taking units it no longer holds).
///
/// Pure: the caller supplies the time.
public struct FleetView: Sendable {
    /// One report on the fleet topic.
    public struct Report: Sendable, Hashable {
        public var member: FleetMember
        /// Counts up with every report of the member's process.
        public var sequence: Int64
        /// A graceful stop: the member holds nothing from now on.
        public var left: Bool

        public init(member: FleetMember, sequence: Int64, left: Bool = false) {
            self.member = member
            self.sequence = sequence
            self.left = left
        }
    }

    /// This worker's member id.
    public let me: String
    /// How long a member counts without a report.
    public let lease: Duration
    /// How long this worker's own reports may stay away before it starts nothing.
    public let fence: Duration
    /// How long the view must have been read, after this worker's first report came back, before it is complete.
    public let warmUp: Duration
    /// How long this worker's report must have been back before its want counts as announced.
    public let settle: Duration

    /// Every member's last report (a member that left is kept for a lease, so that a stale report of it read later
    /// cannot bring it back).
    private var members: [String: Member] = [:]
    private struct Member {
        var report: Report
        var seen: ContinuousClock.Instant
        /// The member's want before its latest rise, and when this worker read the rise's first report.
        var rise: (from: Int, seen: ContinuousClock.Instant)?
    }
    private var firstEcho: ContinuousClock.Instant?
    private var lastEcho: ContinuousClock.Instant?
    /// This worker's wants as its reports came back: the newest one older than `settle`, and the ones after it.
    private var echoes: [(want: Int, at: ContinuousClock.Instant)] = []
    /// This worker's reports sent and not back yet: sequence, want, when sent.
    private var pending: [(sequence: Int64, want: Int, sent: ContinuousClock.Instant)] = []
    /// When a member last joined, left or lapsed in this view.
    private var membershipChanged: ContinuousClock.Instant?
    /// How long this worker's last report took to come back.
    private var lastRoundTrip: Duration?
    /// Whether rises are allowed: the reports come back within this (the others read as promptly, presumably).
    public var promptness: Duration = .milliseconds(250)

    public init(me: String, lease: Duration, fence: Duration, warmUp: Duration, settle: Duration = .milliseconds(500)) {
        self.me = me
        self.lease = lease
        self.fence = fence
        self.warmUp = warmUp
        self.settle = settle
    }

    /// The want the others may base their limits on: the want of this worker's last report that has been back for
    /// `settle` (the others have it, and it has the reports they sent meanwhile), or any lower want reported since,
    /// back or not (a dip and a rise within `settle` must not count as the earlier, settled want); `nil` before the
    /// first.
    public func announcedWant(at now: ContinuousClock.Instant) -> Int? {
        guard let settled = echoes.lastIndex(where: { now - $0.at >= settle }) else { return nil }
        let since = echoes[settled...].map(\.want) + pending.map(\.want)
        return since.min()
    }

    /// Records a report of this worker's as it is sent.
    public mutating func sent(sequence: Int64, want: Int, at now: ContinuousClock.Instant) {
        pending.append((sequence, want, now))
    }

    /// Whether this worker reads the fleet topic promptly enough to take more units: its last report came back
    /// within `promptness`, and a report came back within a report interval plus that. A worker whose reader lags
    /// may not see another's rise in time, so it keeps what it has and takes no more.
    public func isPrompt(at now: ContinuousClock.Instant, interval: Duration) -> Bool {
        guard let lastRoundTrip, let lastEcho else { return false }
        return lastRoundTrip <= promptness && now - lastEcho <= interval + promptness
    }

    /// Takes a report read from the fleet topic.
    public mutating func observe(_ report: Report, at now: ContinuousClock.Instant) {
        let id = report.member.id
        if id == me {
            if firstEcho == nil { firstEcho = now }
            // Back after the fence: the others dropped this worker meanwhile and read its next report as a rise from
            // nothing (fresh), so its want must settle again before it counts as announced.
            if let lastEcho, now - lastEcho > fence { echoes.removeAll() }
            lastEcho = now
            if let sent = pending.first(where: { $0.sequence == report.sequence }) { lastRoundTrip = now - sent.sent }
            pending.removeAll { $0.sequence <= report.sequence }
            echoes.append((report.member.want, now))
            // Keep the newest settled one and those after it.
            if let settled = echoes.lastIndex(where: { now - $0.at >= settle }), settled > 0 {
                echoes.removeFirst(settled)
            }
            return
        }
        // Reports of one process arrive in order (one partition); an older one read again changes nothing.
        let known = members[id]
        if let known, known.report.sequence > report.sequence { return }
        if known == nil || (report.left && known?.report.left == false) { membershipChanged = now }
        // A rise older than the window may be announced by now: a further rise starts a new one.
        var rise = known?.rise.flatMap { now - $0.seen < settle - promptness ? $0 : nil }
        let before = known?.report.member.want ?? 0
        if report.member.want <= (rise?.from ?? before) {
            rise = nil
        } else if rise == nil && report.member.want > before {
            rise = (before, now)
        }
        members[id] = Member(report: report, seen: now, rise: rise)
    }

    /// The other members that count at `now`: reported within the lease, not left.
    /// A member whose rise is fresh comes with the want it had before as its ``FleetMember/announcedWant``.
    public mutating func others(at now: ContinuousClock.Instant) -> [FleetMember] {
        prune(at: now)
        return members.values.filter { !$0.report.left }.map { known in
            var member = known.report.member
            if let rise = known.rise, now - rise.seen < settle - promptness {
                member.announcedWant = min(member.want, rise.from)
            }
            return member
        }.sorted { $0.id < $1.id }
    }

    /// Whether another live member wants more than its limit (it waits for units). Builds nothing: asked each
    /// time a slot frees up.
    public mutating func anyoneWaiting(at now: ContinuousClock.Instant) -> Bool {
        prune(at: now)
        return members.values.contains { !$0.report.left && $0.report.member.want > $0.report.member.limit }
    }

    /// Drops the members whose lease ran out (a member that had not left changes the membership).
    private mutating func prune(at now: ContinuousClock.Instant) {
        guard members.values.contains(where: { now - $0.seen >= lease }) else { return }
        if members.values.contains(where: { now - $0.seen >= lease && !$0.report.left }) { membershipChanged = now }
        members = members.filter { now - $0.value.seen < lease }
    }

    /// Whether every prompt reader counts the same members as this worker: none joined, left or lapsed in this
    /// worker's view within `promptness` (one that this worker has not read yet makes the others' views the ones
    /// that changed). Even shares split the remainder only then (``FleetShare``).
    public func membersAgreed(at now: ContinuousClock.Instant) -> Bool {
        membershipChanged.map { now - $0 >= promptness } ?? true
    }

    /// Whether this worker's own reports have stayed away past the fence (the others are about to drop it).
    public func isFenced(at now: ContinuousClock.Instant) -> Bool {
        guard let firstEcho, let lastEcho else { return false }
        return now - firstEcho >= warmUp && now - lastEcho > fence
    }

    /// Why this worker may start nothing now, or `nil` when its view is complete and current.
    public func blocked(at now: ContinuousClock.Instant) -> String? {
        guard let firstEcho, let lastEcho else {
            return "waiting for its first report to come back from the fleet topic"
        }
        if now - firstEcho < warmUp { return "reading the fleet topic's reports" }
        if isFenced(at: now) {
            let seconds = (now - lastEcho).secondsDouble
            return "its reports have not come back from the fleet topic for \(String(format: "%.1f", seconds)) s"
        }
        return nil
    }
}
