import NIOCore

#if canImport(Darwin)
    import Darwin
#elseif canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// An incremental parser of `text/event-stream` bodies.
///
/// Feed it the body as it arrives, split anywhere (inside a line, inside `\r\n`, inside a UTF-8 sequence);
/// it returns complete events. It follows the WHATWG rules GigaChat needs: lines end in `\r\n`, `\n` or `\r`;
/// `data:` with or without one following space; several `data:` lines of one event are joined with `\n`;
/// a blank line ends an event; `:` starts a comment; `event:` names the event (``SSEEvent/named(_:_:)``, the last
/// one wins; an empty name is no name, as the SDK reads it); `id:`, `retry:` and unknown fields are ignored; an event whose data is exactly `[DONE]` is
/// ``SSEEvent/done``.
///
/// It works on bytes only (no `String` per line): terminators are found with `memchr` and data bytes are copied
/// once into a reused buffer. ``SSEEvent``s own copies of their bytes (one array per event); the client's own
/// reading takes each event as a view of the parser's buffers instead (``SSERawEvent``), allocating nothing.
public struct SSEParser: Sendable {
    /// The most bytes one event (or one unterminated line) may take: 16 MiB. A server that never ends a line
    /// or an event cannot grow the parser's buffers past it.
    public static let defaultMaximumEventBytes = 16 << 20

    /// The bound on an event's size (see ``defaultMaximumEventBytes``).
    public var maximumEventBytes = SSEParser.defaultMaximumEventBytes
    /// Set once an event or line went over ``maximumEventBytes``; what was over is dropped, so the stream is
    /// broken and the caller should stop.
    public private(set) var overflowed = false

    /// Bytes of a line that started in an earlier buffer and has not ended yet.
    private var partialLine: [UInt8] = []
    /// Data of the event being assembled.
    private var data: [UInt8] = []
    /// Whether the current event has had a `data` field (an empty `data:` still makes an event).
    private var hasData = false
    /// The current event's `event:` field (empty: none, as the SDK reads an empty name).
    private var eventName: [UInt8] = []
    /// The previous buffer ended in `\r`: a `\n` at the start of the next one belongs to it.
    private var skipLeadingLF = false

    /// Creates a parser at the start of a stream.
    public init() {
        self.partialLine.reserveCapacity(256)
        self.data.reserveCapacity(1024)
        self.eventName.reserveCapacity(64)
    }

    /// Parses the next piece of the body.
    /// - Parameters:
    ///   - buffer: The bytes that arrived.
    ///   - onEvent: Called for each complete event, in order.
    public mutating func parse(_ buffer: ByteBuffer, _ onEvent: (SSEEvent) throws -> Void) rethrows {
        try buffer.withUnsafeReadableBytes { bytes in
            try self.parse(bytes, onEvent)
        }
    }

    /// Parses the next piece of the body and returns the events it completed.
    public mutating func parse(_ buffer: ByteBuffer) -> [SSEEvent] {
        var events: [SSEEvent] = []
        self.parse(buffer) { events.append($0) }
        return events
    }

    /// Parses the next piece of the body given as raw bytes.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, _ onEvent: (SSEEvent) throws -> Void) rethrows {
        try self.parseRaw(bytes) { try onEvent($0.event) }
    }

    /// Parses the next piece of the body, handing each complete event over as a view of the parser's buffers.
    mutating func parseRaw(_ buffer: ByteBuffer, _ onEvent: (SSERawEvent) throws -> Void) rethrows {
        try buffer.withUnsafeReadableBytes { bytes in
            try self.parseRaw(bytes, onEvent)
        }
    }

    /// Parses the next piece of the body given as raw bytes, handing each complete event over as a view.
    mutating func parseRaw(_ bytes: UnsafeRawBufferPointer, _ onEvent: (SSERawEvent) throws -> Void) rethrows {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let count = bytes.count
        var position = 0
        if self.skipLeadingLF {
            self.skipLeadingLF = false
            if base.load(as: UInt8.self) == UInt8(ascii: "\n") { position = 1 }
        }
        // Cached positions of the next LF and CR at or after `position` (count = none left in this buffer).
        var nextLF = -1
        var nextCR = -1
        while position < count {
            if nextLF < position { nextLF = Self.find(UInt8(ascii: "\n"), base, from: position, count: count) }
            if nextCR < position { nextCR = Self.find(UInt8(ascii: "\r"), base, from: position, count: count) }
            let end = min(nextLF, nextCR)
            if end == count {
                // No terminator: keep the rest for the next buffer (within the bound).
                guard self.partialLine.count + (count - position) <= self.maximumEventBytes else {
                    self.overflowed = true
                    self.partialLine.removeAll()
                    return
                }
                self.partialLine.append(
                    contentsOf: UnsafeRawBufferPointer(start: base + position, count: count - position)
                )
                return
            }
            let line = UnsafeRawBufferPointer(start: base + position, count: end - position)
            if self.partialLine.isEmpty {
                try self.processLine(line, onEvent)
            } else {
                self.partialLine.append(contentsOf: line)
                // Swapped out, not copied: the buffer stays unshared, so clearing it keeps its storage.
                var joined: [UInt8] = []
                swap(&joined, &self.partialLine)
                defer {
                    joined.removeAll(keepingCapacity: true)
                    self.partialLine = joined
                }
                try joined.withUnsafeBytes { try self.processLine($0, onEvent) }
            }
            position = end + 1
            if end == nextCR {
                // `\r\n` is one terminator; a `\r` at the very end may be followed by `\n` in the next buffer.
                if position < count {
                    if base.load(fromByteOffset: position, as: UInt8.self) == UInt8(ascii: "\n") { position += 1 }
                } else {
                    self.skipLeadingLF = true
                }
            }
        }
    }

    /// Ends the stream: a last line without a terminator is processed, and a pending event without the final
    /// blank line is delivered (lenient: some servers end with `data: [DONE]\n` only).
    public mutating func finish(_ onEvent: (SSEEvent) throws -> Void) rethrows {
        try self.finishRaw { try onEvent($0.event) }
    }

    /// Ends the stream as ``finish(_:)`` does, handing the last events over as views.
    mutating func finishRaw(_ onEvent: (SSERawEvent) throws -> Void) rethrows {
        if !self.partialLine.isEmpty {
            let line = self.partialLine
            self.partialLine.removeAll()
            try line.withUnsafeBytes { try self.processLine($0, onEvent) }
        }
        try self.dispatch(onEvent)
    }

    /// Ends the stream and returns the events that completes.
    public mutating func finish() -> [SSEEvent] {
        var events: [SSEEvent] = []
        self.finish { events.append($0) }
        return events
    }

    @inline(__always)
    private static func find(_ byte: UInt8, _ base: UnsafeRawPointer, from: Int, count: Int) -> Int {
        guard let found = memchr(base + from, Int32(byte), count - from) else { return count }
        return base.distance(to: UnsafeRawPointer(found))
    }

    private mutating func processLine(_ line: UnsafeRawBufferPointer, _ onEvent: (SSERawEvent) throws -> Void) rethrows
    {
        let count = line.count
        if count == 0 {
            try self.dispatch(onEvent)
            return
        }
        let first = line[0]
        if first == UInt8(ascii: ":") { return }  // comment
        if first == UInt8(ascii: "e") {
            self.readEventName(line)
            return
        }
        // Otherwise only the `data` field matters; anything else (id, retry, unknown) is ignored.
        guard first == UInt8(ascii: "d"), count >= 4, line[1] == UInt8(ascii: "a"), line[2] == UInt8(ascii: "t"),
            line[3] == UInt8(ascii: "a")
        else { return }
        var valueStart: Int
        if count == 4 {
            valueStart = 4  // `data` without a colon: an empty value
        } else if line[4] == UInt8(ascii: ":") {
            valueStart = 5
            if valueStart < count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        } else {
            return  // a field like `database:`
        }
        guard self.data.count + count - valueStart + 1 <= self.maximumEventBytes else {
            self.overflowed = true
            self.data.removeAll()
            self.hasData = false
            return
        }
        if self.hasData { self.data.append(UInt8(ascii: "\n")) }
        self.hasData = true
        if valueStart < count {
            self.data.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[valueStart..<count]))
        }
    }

    private static let eventField: [UInt8] = Array("event".utf8)

    /// An `event:` line (`event` with or without a colon and one space); a field like `events:` is ignored.
    private mutating func readEventName(_ line: UnsafeRawBufferPointer) {
        let count = line.count
        guard count >= 5, line.prefix(5).elementsEqual(Self.eventField) else { return }
        var valueStart = 5
        if count > 5 {
            guard line[5] == UInt8(ascii: ":") else { return }
            valueStart = 6
            if valueStart < count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        }
        self.eventName.removeAll(keepingCapacity: true)
        self.eventName.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[valueStart..<count]))
    }

    private static let doneMarker: [UInt8] = Array("[DONE]".utf8)

    private mutating func dispatch(_ onEvent: (SSERawEvent) throws -> Void) rethrows {
        // The buffers are cleared after the call (in place: the views handed over were not kept).
        defer { self.eventName.removeAll(keepingCapacity: true) }
        guard self.hasData else { return }
        self.hasData = false
        defer { self.data.removeAll(keepingCapacity: true) }
        if self.data == Self.doneMarker {
            try onEvent(SSERawEvent(isDone: true, name: nil, data: UnsafeRawBufferPointer(start: nil, count: 0)))
            return
        }
        try self.data.withUnsafeBytes { data in
            if self.eventName.isEmpty {
                try onEvent(SSERawEvent(isDone: false, name: nil, data: data))
            } else {
                try self.eventName.withUnsafeBytes { name in
                    try onEvent(SSERawEvent(isDone: false, name: name, data: data))
                }
            }
        }
    }
}

/// An event as the parser holds it, valid only during the call that hands it over: its name and data are views of
/// the parser's own buffers (no copy, no `String`).
struct SSERawEvent {
    /// `data: [DONE]`.
    let isDone: Bool
    /// The `event:` field; `nil` when the event had none (or an empty one).
    let name: UnsafeRawBufferPointer?
    /// The `data:` lines joined with `\n`.
    let data: UnsafeRawBufferPointer

    /// Whether the event's name is `name`.
    func isNamed(_ name: StaticString) -> Bool {
        guard let own = self.name else { return false }
        return name.withUTF8Buffer { expected in
            expected.count == own.count
                && (own.count == 0 || memcmp(own.baseAddress!, expected.baseAddress!, own.count) == 0)
        }
    }

    /// The event as a value of its own (copies its bytes).
    var event: SSEEvent {
        if self.isDone { return .done }
        if let name = self.name { return .named(String(decoding: name, as: UTF8.self), Array(self.data)) }
        return .data(Array(self.data))
    }
}
