import Foundation

/// What this worker knows of the fleet: every member's last report, and when it arrived (on this worker's own
/// clock, so clock skew between hosts plays no part in leases).
///
/// - A member whose report is older than `lease` is gone (killed, partitioned away): its units return to the rest.
/// - A member that reported leaving (a graceful stop) is gone at once.
/// - This worker's own reports come back through the fleet topic too. A want counts as announced once every other
///   member has acknowledged its report: each has sent a report since that says it read past it (``Report/read``).
///   The topic is one partition, so by then this worker has read every report the others sent before they knew of
///   the rise (two members whose wants rise together each see the other's rise before either takes more than an even
///   share), and each of them leaves the rise its target from its acknowledgement on. A member whose reader lags
///   holds the rise back until it has read it (a time bound would let it take, from the reports it has not caught up
///   on, units the rise took meanwhile); one that stopped reporting holds it back until its lease ends. A member that
///   does not say what it read (an older worker) counts as having read a report once it has been back for `settle`:
///   by then the reports other members sent at about the same time have arrived as well.
/// - Another member's rise is fresh until this worker acknowledges it, for `settle − promptness` at most after this
///   worker first reads it: until then that member cannot count it as announced (its own report cannot have settled
///   yet either: this worker reads within `promptness` of the head, see ``isPrompt(at:interval:)``), so it keeps to
///   an even share for now, and ``others(at:)`` says so (``FleetMember/announcedWant``). A fresh rise is worth a
///   report at once (``owesAcknowledgement``).
/// - Until this worker's first report has come back, and for one report interval after (so every live member has
///   reported once, and a rise read before its own report was back is no longer fresh), the view is not complete and
///   the worker starts nothing; the same once its reports come back from past the fence, or the topic went back.
///   When its own reports stop coming back for longer than `fence`, the others will soon drop it, so it starts
///   nothing either until they come back (a worker cut off from Kafka stops taking units it no longer holds).
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
        /// The fleet topic's offset the member had read up to (the next one it reads) when it sent the report: it
        /// acknowledges every report before. `nil` from a member that does not say.
        public var read: Int64?

        public init(member: FleetMember, sequence: Int64, left: Bool = false, read: Int64? = nil) {
            self.member = member
            self.sequence = sequence
            self.left = left
            self.read = read
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
    /// How long this worker's report must have been back before its want counts as announced, while a member that
    /// does not say what it read (an older worker) is among the others.
    public let settle: Duration

    /// Every member's last report (a member that left is kept for a lease, so that a stale report of it read later
    /// cannot bring it back).
    private var members: [String: Member] = [:]
    private struct Member {
        var report: Report
        var seen: ContinuousClock.Instant
        /// The member's latest rise, while it may still be fresh.
        var rise: Rise?
    }
    /// A member's want before a rise, when this worker read the rise's first report, and that report's offset.
    private typealias Rise = (from: Int, seen: ContinuousClock.Instant, offset: Int64)
    private var firstEcho: ContinuousClock.Instant?
    private var lastEcho: ContinuousClock.Instant?
    /// This worker's wants as its reports came back, with their offsets: the newest one known to be announced (when
    /// ``announcedKnown``), and the ones after it; at most ``maximumEchoes``.
    private var echoes: [Echo] = []
    private typealias Echo = (want: Int, at: ContinuousClock.Instant, offset: Int64)
    /// Whether the first of ``echoes`` is announced. An announcement stays: a member that joins later reads it while
    /// it warms up (and one whose report came before it had to acknowledge it).
    private var announcedKnown = false
    /// Echoes kept while a member does not acknowledge (a stuck reader): the oldest go first.
    private static let maximumEchoes = 512
    /// The next offset of the fleet topic this worker reads.
    public private(set) var readPosition: Int64 = 0
    /// The read position its last report carried: the reports before it are acknowledged.
    private var acknowledgedThrough: Int64 = 0
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

    /// The want the others may base their limits on: the want of this worker's last report that every other member
    /// has acknowledged (and that has been back for `settle`, while a member that does not say what it read is among
    /// them), or any lower want reported since, back or not (a dip and a rise must not count as the earlier,
    /// announced want); `nil` before the first. The others have it, and this worker has read every report they sent
    /// before they knew of it.
    public func announcedWant(at now: ContinuousClock.Instant) -> Int? {
        guard let announced = newestAnnounced(at: now) ?? (announcedKnown ? 0 : nil) else { return nil }
        let since = echoes[announced...].map(\.want) + pending.map(\.want)
        return since.min()
    }

    /// The index of the newest echo every live other member has acknowledged (and that has been back for `settle`,
    /// while one of them does not say what it read).
    private func newestAnnounced(at now: ContinuousClock.Instant) -> Int? {
        let others = members.values.filter { !$0.report.left && now - $0.seen < lease }
        let oldestRead = others.compactMap(\.report.read).min() ?? .max
        let silent = others.contains { $0.report.read == nil }
        return echoes.lastIndex { oldestRead > $0.offset && (!silent || now - $0.at >= settle) }
    }

    /// Records a report of this worker's as it is sent.
    /// - Returns: The read position the report carries (``Report/read``): the reports read so far count as
    ///   acknowledged from now on.
    @discardableResult
    public mutating func sent(sequence: Int64, want: Int, at now: ContinuousClock.Instant) -> Int64 {
        pending.append((sequence, want, now))
        acknowledgedThrough = readPosition
        return readPosition
    }

    /// Whether this worker has read another member's rise and not acknowledged it yet: a report now lets that member
    /// count it as announced.
    public var owesAcknowledgement: Bool {
        members.values.contains { $0.rise.map { $0.offset >= acknowledgedThrough } ?? false }
    }

    /// Whether another member's rise still counts as fresh: not acknowledged, and read within `settle − promptness`.
    private func isFresh(_ rise: Rise, at now: ContinuousClock.Instant) -> Bool {
        now - rise.seen < settle - promptness && rise.offset >= acknowledgedThrough
    }

    /// Whether this worker reads the fleet topic promptly enough to take more units: its last report came back
    /// within `promptness`, and a report came back within a report interval plus that. A worker whose reader lags
    /// may not see another's rise in time, so it keeps what it has and takes no more.
    public func isPrompt(at now: ContinuousClock.Instant, interval: Duration) -> Bool {
        guard let lastRoundTrip, let lastEcho else { return false }
        return lastRoundTrip <= promptness && now - lastEcho <= interval + promptness
    }

    /// Takes a report read from the fleet topic at `offset`.
    public mutating func observe(_ report: Report, offset: Int64, at now: ContinuousClock.Instant) {
        var report = report
        if offset + 1 < readPosition {
            // The topic went back (recreated, or truncated by an unclean leader election): read positions before
            // this one are of another log. Nothing counts as acknowledged, and this worker starts over as a member
            // that has just joined.
            for id in members.keys {
                members[id]?.report.read = nil
                members[id]?.rise = nil
            }
            acknowledgedThrough = 0
            echoes.removeAll()
            announcedKnown = false
            firstEcho = nil
            lastEcho = nil
        }
        readPosition = offset + 1
        // A report cannot have been read past itself: a larger position is of another log.
        if let read = report.read, read > offset { report.read = nil }
        let id = report.member.id
        if id == me {
            if firstEcho == nil { firstEcho = now }
            // Back after the fence: the others dropped this worker meanwhile and read its next report as a rise from
            // nothing (fresh), so its want must be announced again. It warms up again too: a rise it read just now
            // may already count for a member that did not wait for this worker's acknowledgement (it was not a member).
            if let lastEcho, now - lastEcho > fence {
                echoes.removeAll()
                announcedKnown = false
                firstEcho = now
            }
            lastEcho = now
            if let sent = pending.first(where: { $0.sequence == report.sequence }) { lastRoundTrip = now - sent.sent }
            pending.removeAll { $0.sequence <= report.sequence }
            echoes.append((report.member.want, now, offset))
            keepFromNewestAnnounced(at: now)
            return
        }
        // Reports of one process arrive in order (one partition); an older one read again changes nothing.
        let known = members[id]
        if let known, known.report.sequence > report.sequence { return }
        if known == nil || (report.left && known?.report.left == false) { membershipChanged = now }
        // A rise no longer fresh may be announced by now: a further rise starts a new one.
        var rise = known?.rise.flatMap { isFresh($0, at: now) ? $0 : nil }
        let before = known?.report.member.want ?? 0
        if report.member.want <= (rise?.from ?? before) {
            rise = nil
        } else if rise == nil && report.member.want > before {
            rise = (before, now, offset)
        }
        members[id] = Member(report: report, seen: now, rise: rise)
        // Its report may acknowledge this worker's.
        keepFromNewestAnnounced(at: now)
    }

    /// Drops the echoes before the newest one announced, which stays announced; keeps at most ``maximumEchoes``.
    private mutating func keepFromNewestAnnounced(at now: ContinuousClock.Instant) {
        if let newest = newestAnnounced(at: now) {
            echoes.removeFirst(newest)
            announcedKnown = true
        }
        if echoes.count > Self.maximumEchoes {
            echoes.removeFirst(echoes.count - Self.maximumEchoes)
            announcedKnown = false
        }
    }

    /// The other members that count at `now`: reported within the lease, not left.
    /// A member whose rise is fresh comes with the want it had before as its ``FleetMember/announcedWant``; one that
    /// has not read past another member's fresh rise comes with ``FleetMember/readEveryRise`` false.
    public mutating func others(at now: ContinuousClock.Instant) -> [FleetMember] {
        prune(at: now)
        let live = members.values.filter { !$0.report.left }
        // The fresh rises, by offset: a member that has not read past one of another's may not count it yet.
        let fresh = live.compactMap { known -> (id: String, offset: Int64)? in
            guard let rise = known.rise, isFresh(rise, at: now) else { return nil }
            return (known.report.member.id, rise.offset)
        }
        return live.map { known in
            var member = known.report.member
            if let rise = known.rise, isFresh(rise, at: now) {
                member.announcedWant = min(member.want, rise.from)
            }
            let read = known.report.read ?? -1
            member.readEveryRise = !fresh.contains { $0.id != member.id && $0.offset >= read }
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
