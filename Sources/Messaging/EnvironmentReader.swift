import Foundation

/// Reads typed settings from environment variables, once, at start. A malformed or
/// out-of-range value is an error naming the variable, so a process stops before doing work.
public struct EnvironmentReader: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    /// The value, or nil when unset or empty.
    public func string(_ name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    public func string(_ name: String, default value: String) -> String {
        string(name) ?? value
    }

    /// A secret or address the process cannot run without.
    public func required(_ name: String) throws -> String {
        guard let value = string(name) else { throw SettingsError("\(name) is not set; see README.md, Configuration") }
        return value
    }

    public func int(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = string(name) else { return value }
        guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw SettingsError("\(name) must be a whole number, got '\(text)'")
        }
        guard range.contains(number) else {
            throw SettingsError("\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
        }
        return number
    }

    public func seconds(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Duration {
        .seconds(try int(name, default: value, in: range))
    }

    public func choice<Value: RawRepresentable & CaseIterable>(_ name: String, default value: Value) throws -> Value
    where Value.RawValue == String {
        guard let text = string(name) else { return value }
        guard let parsed = Value(rawValue: text) else {
            throw SettingsError("\(name) must be one of \(Value.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        }
        return parsed
    }
}

public struct SettingsError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
