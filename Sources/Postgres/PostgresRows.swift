/// The rows of a result, copied out of libpq in text format.
public struct PostgresRows: Sendable, Sequence {
    public let columns: [String]
    let values: [[String?]]
    /// Rows inserted, updated or deleted (`PQcmdTuples`), 0 for statements that report none.
    public let affectedRows: Int

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }
    public var first: PostgresRow? { values.first.map { PostgresRow(columns: columns, values: $0) } }

    public subscript(index: Int) -> PostgresRow { PostgresRow(columns: columns, values: values[index]) }

    public func makeIterator() -> AnyIterator<PostgresRow> {
        var index = 0
        return AnyIterator {
            guard index < values.count else { return nil }
            defer { index += 1 }
            return PostgresRow(columns: columns, values: values[index])
        }
    }
}

/// One row; columns are read by name into a `PostgresDecodable` type.
public struct PostgresRow: Sendable {
    public let columns: [String]
    let values: [String?]

    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let index = columns.firstIndex(of: column) else {
            throw PostgresError(kind: .decoding, message: "no column \(column) in \(columns)")
        }
        guard let text = values[index] else { return try T.decodeNull(column: column) }
        return try T(postgresText: text)
    }

    public func decode<T: PostgresDecodable>(at index: Int, as type: T.Type = T.self) throws -> T {
        guard index < values.count else {
            throw PostgresError(kind: .decoding, message: "no column at \(index), the row has \(values.count)")
        }
        guard let text = values[index] else { return try T.decodeNull(column: columns[index]) }
        return try T(postgresText: text)
    }
}
