import Foundation
import Glibc

/// A process the tests start with `posix_spawn` and reap with `waitpid`.
///
/// Foundation's `Process.waitUntilExit` was seen to hang here when the child left a daemon
/// behind (the broker), so the tests manage children with the plain system calls.
///
/// `@unchecked Sendable`: `pid` and `logPath` are constants and `exitStatus` is only touched
/// under `lock`.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let logPath: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments`, the current environment plus `environment`,
    /// stdout and stderr appended to `logPath`.
    public init(_ executable: String, _ arguments: [String] = [], environment: [String: String] = [:], logPath: String) throws {
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw TestFailure("cannot start \(executable): \(String(cString: strerror(result)))") }
        self.pid = pid
        self.logPath = logPath
    }

    /// The exit status once the process ended (128 + signal when killed), nil while it runs.
    public var status: Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
        let signal = raw & 0x7f
        exitStatus = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
        return exitStatus
    }

    public var isRunning: Bool { status == nil }

    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Waits for the exit, up to `timeout`; returns the status or nil if it still runs.
    @discardableResult
    public func wait(timeout: Duration = .seconds(30)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status { return status }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return status
    }

    /// SIGTERM, then SIGKILL if it has not ended within `grace`.
    public func stop(grace: Duration = .seconds(10)) async {
        signal(SIGTERM)
        if await wait(timeout: grace) == nil {
            signal(SIGKILL)
            await wait(timeout: .seconds(5))
        }
    }

    public var log: String {
        // Decoded leniently: a line half-written at the end must not hide the whole log.
        (FileManager.default.contents(atPath: logPath)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Runs a command to its end and returns its exit status and output.
    public static func run(
        _ executable: String, _ arguments: [String] = [], environment: [String: String] = [:], timeout: Duration = .seconds(120)
    ) async throws -> (status: Int32, output: String) {
        let logPath = NSTemporaryDirectory() + "armada-cmd-\(UUID().uuidString).log"
        defer { unlink(logPath) }
        let child = try ChildProcess(executable, arguments, environment: environment, logPath: logPath)
        guard let status = await child.wait(timeout: timeout) else {
            child.signal(SIGKILL)
            throw TestFailure("\(executable) \(arguments) did not finish within \(timeout)")
        }
        return (status, child.log)
    }
}
