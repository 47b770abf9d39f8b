import Foundation

/// Where the tests find the project-local stack that `Deploy/local/test.sh` started.
public enum TestEnvironment {
    public static let repositoryRoot: URL = {
        // Tests/Support/TestEnvironment.swift → repository root
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }()

    public static var amqpURL: String {
        ProcessInfo.processInfo.environment["AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:17672/%2f"
    }

    /// The vhost of the suites that start workers of their own, away from the shared system's.
    public static var isolatedAMQPURL: String {
        ProcessInfo.processInfo.environment["ARMADA_TEST_ISOLATED_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:17672/armada_test_isolated"
    }

    /// The test database (created by the stack script, migrated by the test script).
    public static var databaseURL: String {
        ProcessInfo.processInfo.environment["ARMADA_TEST_DATABASE_URL"]
            ?? "postgresql://armada@127.0.0.1:17432/armada_test"
    }

    /// Built executables (armada-ingress, armada-payments, armadactl).
    public static var binDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["ARMADA_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        return repositoryRoot.appendingPathComponent(".build/debug")
    }

    /// A name no other test uses, for queues, customers and references.
    public static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs `Deploy/local/stack.sh <command>` and waits for it (fault tests stop and start the broker).
    public static func stack(_ command: String) async throws {
        let script = repositoryRoot.appendingPathComponent("Deploy/local/stack.sh").path
        let (status, output) = try await ChildProcess.run("/bin/bash", [script, command])
        guard status == 0 else { throw TestFailure("stack.sh \(command) failed: \(output)") }
    }

    /// The broker's Erlang VM pid, for SIGSTOP/SIGCONT.
    public static func brokerPID() throws -> Int32 {
        let path = repositoryRoot.appendingPathComponent(".local/rabbitmq/rabbitmq.pid").path
        let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(text) else { throw TestFailure("no broker pid in \(path)") }
        return pid
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
public func eventually(
    timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(50), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
