import CRabbitMQ
import Glibc

/// Owns the C memory one library call needs (strings, header tables) and frees it on deinit.
///
/// rabbitmq-c takes `amqp_bytes_t` views; `amqp_cstring_bytes` on a Swift string would point into
/// a temporary. Copying into malloc'd memory that lives as long as the arena avoids that trap.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit {
        for pointer in allocations { free(pointer) }
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        var utf8 = Array(string.utf8)
        return bytes(&utf8)
    }

    func bytes(_ data: inout [UInt8]) -> amqp_bytes_t {
        guard !data.isEmpty, let memory = malloc(data.count) else { return amqp_bytes_t(len: 0, bytes: nil) }
        allocations.append(memory)
        data.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return amqp_bytes_t(len: data.count, bytes: memory)
    }

    func cString(_ string: String) -> UnsafePointer<CChar> {
        let copy = strdup(string)!
        allocations.append(UnsafeMutableRawPointer(copy))
        return UnsafePointer(copy)
    }

    func table(_ values: [String: HeaderValue]) -> amqp_table_t {
        let supported = values.filter { $0.value != .other }.sorted { $0.key < $1.key }
        guard !supported.isEmpty,
            let memory = malloc(MemoryLayout<amqp_table_entry_t>.stride * supported.count)
        else { return amqp_table_t(num_entries: 0, entries: nil) }
        allocations.append(memory)
        let entries = memory.bindMemory(to: amqp_table_entry_t.self, capacity: supported.count)
        for (index, (key, value)) in supported.enumerated() {
            var field = amqp_field_value_t()
            switch value {
            case .string(let s):
                field.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
                field.value.bytes = bytes(s)
            case .int(let i):
                field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
                field.value.i64 = i
            case .bool(let b):
                field.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
                field.value.boolean = b ? 1 : 0
            case .other:
                continue
            }
            (entries + index).initialize(to: amqp_table_entry_t(key: bytes(key), value: field))
        }
        return amqp_table_t(num_entries: Int32(supported.count), entries: entries)
    }
}

extension String {
    /// Copies bytes that rabbitmq-c owns into a Swift string.
    init(amqpBytes: amqp_bytes_t) {
        guard amqpBytes.len > 0, let base = amqpBytes.bytes else {
            self = ""
            return
        }
        let buffer = UnsafeRawBufferPointer(start: base, count: amqpBytes.len)
        self = String(decoding: buffer, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    init(amqpBytes: amqp_bytes_t) {
        guard amqpBytes.len > 0, let base = amqpBytes.bytes else {
            self = []
            return
        }
        self = Array(UnsafeRawBufferPointer(start: base, count: amqpBytes.len))
    }
}

extension Dictionary where Key == String, Value == HeaderValue {
    init(amqpTable table: amqp_table_t) {
        self = [:]
        guard table.num_entries > 0, let entries = table.entries else { return }
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            let key = String(amqpBytes: entry.key)
            let value = entry.value
            switch Int32(value.kind) {
            case Int32(AMQP_FIELD_KIND_UTF8.rawValue), Int32(AMQP_FIELD_KIND_BYTES.rawValue):
                self[key] = .string(String(amqpBytes: value.value.bytes))
            case Int32(AMQP_FIELD_KIND_I8.rawValue): self[key] = .int(Int64(value.value.i8))
            case Int32(AMQP_FIELD_KIND_U8.rawValue): self[key] = .int(Int64(value.value.u8))
            case Int32(AMQP_FIELD_KIND_I16.rawValue): self[key] = .int(Int64(value.value.i16))
            case Int32(AMQP_FIELD_KIND_U16.rawValue): self[key] = .int(Int64(value.value.u16))
            case Int32(AMQP_FIELD_KIND_I32.rawValue): self[key] = .int(Int64(value.value.i32))
            case Int32(AMQP_FIELD_KIND_U32.rawValue): self[key] = .int(Int64(value.value.u32))
            case Int32(AMQP_FIELD_KIND_I64.rawValue): self[key] = .int(value.value.i64)
            case Int32(AMQP_FIELD_KIND_U64.rawValue), Int32(AMQP_FIELD_KIND_TIMESTAMP.rawValue):
                self[key] = .int(Int64(clamping: value.value.u64))
            case Int32(AMQP_FIELD_KIND_BOOLEAN.rawValue): self[key] = .bool(value.value.boolean != 0)
            default: self[key] = .other
            }
        }
    }
}
