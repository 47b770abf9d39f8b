import Synchronization

/// A value that concurrent test tasks update and read.
public final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    public init(_ value: Value) { storage = Mutex(value) }

    public func update(_ body: (inout Value) -> Void) { storage.withLock { body(&$0) } }

    public var value: Value { storage.withLock { $0 } }
}
