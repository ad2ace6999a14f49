import Kafka
import Synchronization
import Testing

@testable import Worker

@Suite struct PartitionWatermarkTests {
    private func complete(_ watermark: inout PartitionWatermark, _ offset: Int64) -> Int64? {
        watermark.complete(offset)
    }

    @Test func movesOnlyOverContiguousDoneOffsets() {
        var watermark = PartitionWatermark()
        for offset in Int64(5)...9 {
            let registered = watermark.register(offset)
            #expect(registered)
        }
        #expect(complete(&watermark, 7) == nil)
        #expect(complete(&watermark, 6) == nil)
        #expect(watermark.committable == nil)
        #expect(complete(&watermark, 5) == 8)
        #expect(complete(&watermark, 9) == nil)
        #expect(complete(&watermark, 8) == 10)
        #expect(watermark.pendingCount == 0)
    }

    @Test func gapsInOffsetsDoNotHoldTheWatermark() {
        var watermark = PartitionWatermark()
        for offset: Int64 in [3, 4, 10, 11] { _ = watermark.register(offset) }
        #expect(complete(&watermark, 3) == 4)
        #expect(complete(&watermark, 4) == 10)
        #expect(complete(&watermark, 11) == nil)
        #expect(complete(&watermark, 10) == 12)
    }

    @Test func refusesRedeliveriesAndIgnoresUnknownOrRepeatedCompletions() {
        var watermark = PartitionWatermark()
        let first = watermark.register(1)
        let again = watermark.register(1)
        let older = watermark.register(0)
        #expect(first && !again && !older)
        #expect(complete(&watermark, 5) == nil)
        #expect(complete(&watermark, 1) == 2)
        #expect(complete(&watermark, 1) == nil)
    }

    @Test func manyOutOfOrderCompletionsEndAtTheEnd() {
        var watermark = PartitionWatermark()
        let offsets = Array(Int64(0)..<5000)
        for offset in offsets { _ = watermark.register(offset) }
        var generator = SystemRandomNumberGenerator()
        var last: Int64?
        for offset in offsets.shuffled(using: &generator) {
            if let moved = watermark.complete(offset) {
                if let last { #expect(moved > last) }
                last = moved
            }
        }
        #expect(watermark.committable == 5000)
        #expect(watermark.pendingCount == 0)
    }
}

@Suite struct OffsetTrackerTests {
    let partition = KafkaTopicPartition(topic: "jobs", partition: 0)

    @Test func storesTheWatermarkWhenItMoves() throws {
        let stored = Mutex<[[KafkaTopicPartition: Int64]]>([])
        let tracker = OffsetTracker { positions in stored.withLock { $0.append(positions.mapValues(\.offset)) } }
        tracker.assign([partition])
        let first = try #require(tracker.register(partition, offset: 0).ticket)
        let second = try #require(tracker.register(partition, offset: 1).ticket)
        tracker.complete(second)
        #expect(stored.withLock { $0 }.isEmpty)
        tracker.complete(first)
        #expect(stored.withLock { $0 } == [[partition: 2]])
        #expect(tracker.committable == [partition: 2])
    }

    @Test func aTicketFromBeforeARevocationCompletesNothingAfterIt() throws {
        let stored = Mutex<[[KafkaTopicPartition: Int64]]>([])
        let tracker = OffsetTracker { positions in stored.withLock { $0.append(positions.mapValues(\.offset)) } }
        tracker.assign([partition])
        let old = try #require(tracker.register(partition, offset: 0).ticket)
        _ = tracker.fence([partition])
        // While revoking, nothing new of the partition is taken.
        #expect(tracker.register(partition, offset: 1).ticket == nil)
        tracker.forget([partition])
        // Not owned until assigned again.
        #expect(tracker.register(partition, offset: 0).ticket == nil)
        tracker.assign([partition])
        // Owned again: a new epoch, the same offset registers anew.
        let new = try #require(tracker.register(partition, offset: 0).ticket)
        tracker.complete(old)
        #expect(stored.withLock { $0 }.isEmpty, "the old ticket must not move the new epoch's watermark")
        tracker.complete(new)
        #expect(stored.withLock { $0 } == [[partition: 1]])
    }

    @Test func aLostPartitionsOwnershipEndsAndTheNextOneIsNew() throws {
        let stored = Mutex<[[KafkaTopicPartition: Int64]]>([])
        let tracker = OffsetTracker { positions in stored.withLock { $0.append(positions.mapValues(\.offset)) } }
        tracker.assign([partition])
        let lost = try #require(tracker.register(partition, offset: 0).ticket)
        // Lost (fenced out of the group): forgotten without a drain.
        let ending = tracker.fence([partition])
        #expect(ending == [lost.ownership])
        tracker.forget([partition])
        tracker.assign([partition])
        let again = try #require(tracker.register(partition, offset: 0).ticket)
        #expect(again.ownership != lost.ownership && again.ownership.epoch > lost.ownership.epoch)
        tracker.complete(lost)
        #expect(stored.withLock { $0 }.isEmpty, "a job of the lost ownership completes nothing")
        tracker.complete(again)
        #expect(stored.withLock { $0 } == [[partition: 1]])
    }

    @Test func aRecordHandedOverJustBeforeAQuickRevokeOpensNoEpoch() throws {
        // Defect: the first sight of a record made an epoch, so a record taken just before its partition was revoked
        // registered after the revocation; when the partition came back, the offsets below it were skipped.
        let stored = Mutex<[[KafkaTopicPartition: Int64]]>([])
        let tracker = OffsetTracker { positions in stored.withLock { $0.append(positions.mapValues(\.offset)) } }
        tracker.assign([partition])
        _ = tracker.fence([partition])
        tracker.forget([partition])
        // The intake registers the record it was handed before the revocation: refused.
        #expect(tracker.register(partition, offset: 7).ticket == nil)
        // Assigned again, the next owner (this worker) reads from the committed offset, below 7.
        tracker.assign([partition])
        let redelivered = try #require(tracker.register(partition, offset: 5).ticket, "offset 5 is not skipped")
        tracker.complete(redelivered)
        #expect(stored.withLock { $0 } == [[partition: 6]])
    }
}

@Suite struct OffsetMapTests {
    @Test func roundTripsThroughItsMetadata() throws {
        let map = OffsetMap(base: 1_000, done: [1_001, 1_003, 1_008, 1_009, 1_500])
        let metadata = try #require(map.metadata)
        #expect(metadata.hasPrefix("gw1:1000:"))
        #expect(OffsetMap(metadata: metadata, committedOffset: 1_000) == map)
    }

    @Test func nothingDoneAboveTheBaseIsNoMetadata() {
        #expect(OffsetMap(base: 5, done: []).metadata == nil)
        // The base itself and offsets below it are never recorded.
        #expect(OffsetMap(base: 5, done: [3, 5]).metadata == nil)
    }

    @Test func aMapOfAnotherCommittedOffsetOrAnotherFormatIsIgnored() throws {
        let metadata = try #require(OffsetMap(base: 10, done: [12]).metadata)
        // Someone committed 11 without a map after this one was written: its bits would name the wrong offsets.
        #expect(OffsetMap(metadata: metadata, committedOffset: 11) == nil)
        #expect(OffsetMap(metadata: "some other client's note", committedOffset: 10) == nil)
        #expect(OffsetMap(metadata: "gw1:10:!!!", committedOffset: 10) == nil)
        #expect(OffsetMap(metadata: nil, committedOffset: 10) == nil)
    }

    @Test func staysUnderKafkasDefaultMetadataLimitByLeavingOutTheFarthestOffsets() throws {
        let base: Int64 = 9_000_000_000
        let map = OffsetMap(base: base, done: (base + 1)...(base + 50_000))
        let metadata = try #require(map.metadata)
        #expect(metadata.utf8.count <= 4_096)
        #expect(map.done.count == Int(OffsetMap.maximumSpan))
        #expect(map.done.last == base + OffsetMap.maximumSpan)
        #expect(OffsetMap(metadata: metadata, committedOffset: base) == map)
    }
}

@Suite struct OffsetTrackerMapTests {
    let partition = KafkaTopicPartition(topic: "jobs", partition: 0)

    final class Recorded: Sendable {
        let stored = Mutex<[[KafkaTopicPartition: KafkaOffsetAndMetadata]]>([])
        let committed = Mutex<[[KafkaTopicPartition: KafkaOffsetAndMetadata]]>([])
    }

    func tracker(_ recorded: Recorded) -> OffsetTracker {
        OffsetTracker(
            store: { positions in recorded.stored.withLock { $0.append(positions) } },
            commit: { positions in
                recorded.committed.withLock { $0.append(positions) }
                return true
            }
        )
    }

    @Test func offsetsFinishedAboveASlowOneAreCommittedInTheMapWhileTheWatermarkStands() throws {
        let recorded = Recorded()
        let tracker = tracker(recorded)
        tracker.assign([partition])
        let tickets = try (0..<5).map { try #require(tracker.register(partition, offset: $0).ticket) }
        tracker.complete(tickets[1])
        tracker.complete(tickets[3])
        // The watermark stands at 0: nothing is stored until the map is committed.
        #expect(recorded.stored.withLock { $0 }.isEmpty)
        let committed = tracker.commitChangedMaps()
        let position = try #require(committed[partition])
        #expect(position.offset == 0)
        #expect(OffsetMap(metadata: position.metadata, committedOffset: 0)?.done == [1, 3])
        // Stored too, so that librdkafka's own later commits carry the same map.
        #expect(recorded.stored.withLock { $0 } == [committed])
        #expect(recorded.committed.withLock { $0 } == [committed])
        // Unchanged since: nothing more to commit.
        #expect(tracker.commitChangedMaps().isEmpty)
        // The slow one finishes: the watermark moves to 2, and carries 3 in its map.
        tracker.complete(tickets[0])
        let moved = try #require(recorded.stored.withLock { $0.last?[partition] })
        #expect(moved.offset == 2)
        #expect(OffsetMap(metadata: moved.metadata, committedOffset: 2)?.done == [3])
    }

    @Test func aWatermarkWithNothingDoneAboveItCarriesNoMetadata() throws {
        let recorded = Recorded()
        let tracker = tracker(recorded)
        tracker.assign([partition])
        let ticket = try #require(tracker.register(partition, offset: 0).ticket)
        _ = tracker.register(partition, offset: 1)
        tracker.complete(ticket)
        #expect(recorded.stored.withLock { $0 } == [[partition: KafkaOffsetAndMetadata(offset: 1)]])
    }

    @Test func anAssignmentWithACommittedMapSkipsWhatItNamesAndRunsTheRest() throws {
        let recorded = Recorded()
        let tracker = tracker(recorded)
        let metadata = OffsetMap(base: 10, done: [11, 13]).metadata
        let skipped = tracker.assign([partition], committed: [partition: KafkaOffsetAndMetadata(offset: 10, metadata: metadata)])
        #expect(skipped == [partition: 2])
        let ten = try #require(tracker.register(partition, offset: 10).ticket)
        #expect(tracker.register(partition, offset: 11) == .skipped)
        let twelve = try #require(tracker.register(partition, offset: 12).ticket)
        #expect(tracker.register(partition, offset: 13) == .skipped)
        tracker.complete(twelve)
        tracker.complete(ten)
        // 10 and 12 ran, 11 and 13 were done before: everything up to 13 is done.
        #expect(tracker.committable == [partition: 14])
    }

    @Test func aCommitBeforeTheInheritedOffsetsAreReadAgainKeepsThemInTheMap() throws {
        // Defect (review): the map was made from this ownership's registrations only, so a commit made before the
        // previous owner's done offsets were read again forgot them, and the next owner ran them again.
        let recorded = Recorded()
        let tracker = tracker(recorded)
        let metadata = OffsetMap(base: 10, done: [12, 15]).metadata
        tracker.assign([partition], committed: [partition: KafkaOffsetAndMetadata(offset: 10, metadata: metadata)])
        let ten = try #require(tracker.register(partition, offset: 10).ticket)
        _ = tracker.register(partition, offset: 11)
        tracker.complete(ten)
        // The watermark moved to 11 before 12 and 15 were read again: they stay in the stored map.
        let stored = try #require(recorded.stored.withLock { $0.last?[partition] })
        #expect(stored.offset == 11)
        #expect(OffsetMap(metadata: stored.metadata, committedOffset: 11)?.done == [12, 15])
    }

    @Test func aMapThatCouldNotBeCommittedIsTriedAgain() throws {
        let refusing = Mutex(true)
        let tracker = OffsetTracker(store: { _ in }, commit: { _ in !refusing.withLock { $0 } })
        tracker.assign([partition])
        _ = tracker.register(partition, offset: 0)
        tracker.complete(try #require(tracker.register(partition, offset: 1).ticket))
        #expect(tracker.commitChangedMaps().isEmpty, "refused: nothing committed")
        refusing.withLock { $0 = false }
        #expect(tracker.commitChangedMaps()[partition]?.offset == 0, "tried again at the next call")
    }

    @Test func aMapOfALostEpochIsNotCarriedIntoTheNextAssignment() throws {
        let recorded = Recorded()
        let tracker = tracker(recorded)
        let metadata = OffsetMap(base: 0, done: [1]).metadata
        tracker.assign([partition], committed: [partition: KafkaOffsetAndMetadata(offset: 0, metadata: metadata)])
        _ = tracker.fence([partition])
        tracker.forget([partition])
        // Assigned again with a committed position that has no map (another member committed 0 since).
        tracker.assign([partition], committed: [partition: KafkaOffsetAndMetadata(offset: 0)])
        _ = tracker.register(partition, offset: 0)
        #expect(tracker.register(partition, offset: 1).ticket != nil, "offset 1 must run: no map says it is done")
    }

    @Test func onlyTheNamedPartitionsMapsAreCommittedBeforeARevocation() throws {
        let recorded = Recorded()
        let tracker = tracker(recorded)
        let other = KafkaTopicPartition(topic: "jobs", partition: 1)
        tracker.assign([partition, other])
        for owned in [partition, other] {
            _ = tracker.register(owned, offset: 0)
            tracker.complete(try #require(tracker.register(owned, offset: 1).ticket))
        }
        #expect(Set(tracker.commitChangedMaps(of: [other]).keys) == [other])
        #expect(Set(tracker.commitChangedMaps().keys) == [partition])
    }
}
