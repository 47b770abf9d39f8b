import Foundation
import Synchronization

/// Real protocol peers on loopback that the wrapper tests talk to.
public enum Peers {
    /// Starts `Tests/Support/peers/echo_http.py`; returns the process and its base URL.
    public static func echoHTTP() async throws -> (ChildProcess, String) {
        let log = NSTemporaryDirectory() + "armada-echo-\(UUID().uuidString).log"
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/Support/peers/echo_http.py").path
        let process = try ChildProcess("/usr/bin/python3", ["-u", script], logPath: log)
        var port: Int?
        _ = await eventually(timeout: .seconds(10)) {
            port = process.log.split(separator: "\n").first.flatMap { Int($0) }
            return port != nil
        }
        guard let port else { throw TestFailure("echo server did not start: \(process.log)") }
        return (process, "http://127.0.0.1:\(port)")
    }

    public static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

extension Peers {
    /// Starts the built `armada-sim` (Tripay simulator) on a free port; returns it and its base URL.
    public static func tripaySimulator(
        apiKey: String, privateKey: String, merchantCode: String = "T0001", callbackURL: String = "http://127.0.0.1:1/",
        callbackRetries: Int = 3, callbackIntervalSeconds: Double = 0.2
    ) async throws -> (ChildProcess, String) {
        try await onFreePort { port in
            let log = NSTemporaryDirectory() + "armada-sim-\(UUID().uuidString.prefix(6)).log"
            let process = try ChildProcess(
                TestEnvironment.binDirectory.appendingPathComponent("armada-sim").path, ["tripay"],
                environment: [
                    "SIM_TRIPAY_PORT": "\(port)", "TRIPAY_API_KEY": apiKey, "TRIPAY_PRIVATE_KEY": privateKey,
                    "TRIPAY_MERCHANT_CODE": merchantCode,
                    "SIM_TRIPAY_CALLBACK_URL": callbackURL, "SIM_TRIPAY_CALLBACK_RETRIES": "\(callbackRetries)",
                    "SIM_TRIPAY_CALLBACK_INTERVAL_SECONDS": "\(callbackIntervalSeconds)",
                ], logPath: log)
            // Listening on the port is not enough: it must be this process (the port could have been taken).
            let up = await eventually(timeout: .seconds(15)) {
                process.isRunning && process.log.contains("listening") && canConnect(port: port)
            }
            guard up, process.isRunning else { throw TestFailure("simulator did not start: \(process.log)") }
            return (process, "http://127.0.0.1:\(port)")
        }
    }
}

extension Peers {
    /// Starts the built `armada-sim digitalocean` on a free port; returns it and its base URL.
    public static func digitalOceanSimulator(
        tokens: [String], bootSeconds: Double = 0.5, actionSeconds: Double = 0.5, dropletLimit: Int = 25, perMinute: Int = 250,
        rateWindowSeconds: Double = 60
    ) async throws -> (ChildProcess, String) {
        try await onFreePort { port in
            let log = NSTemporaryDirectory() + "armada-do-sim-\(UUID().uuidString.prefix(6)).log"
            let process = try ChildProcess(
                TestEnvironment.binDirectory.appendingPathComponent("armada-sim").path, ["digitalocean"],
                environment: [
                    "SIM_DO_PORT": "\(port)", "SIM_DO_TOKENS": tokens.joined(separator: ","), "SIM_DO_BOOT_SECONDS": "\(bootSeconds)",
                    "SIM_DO_ACTION_SECONDS": "\(actionSeconds)", "SIM_DO_DROPLET_LIMIT": "\(dropletLimit)",
                    "SIM_DO_RATE_PER_MINUTE": "\(perMinute)", "SIM_DO_RATE_WINDOW_SECONDS": "\(rateWindowSeconds)",
                ], logPath: log)
            let up = await eventually(timeout: .seconds(15)) {
                process.isRunning && process.log.contains("listening") && canConnect(port: port)
            }
            guard up, process.isRunning else { throw TestFailure("DigitalOcean simulator did not start: \(process.log)") }
            return (process, "http://127.0.0.1:\(port)")
        }
    }
}

extension Peers {
    /// Starts the built `armada-sim telegram` on a free port; returns it and its base URL.
    public static func telegramSimulator(token: String) async throws -> (ChildProcess, String) {
        try await onFreePort { port in
            let log = NSTemporaryDirectory() + "armada-telegram-sim-\(UUID().uuidString.prefix(6)).log"
            let process = try ChildProcess(
                TestEnvironment.binDirectory.appendingPathComponent("armada-sim").path, ["telegram"],
                environment: ["SIM_TELEGRAM_PORT": "\(port)", "SIM_TELEGRAM_TOKENS": token], logPath: log)
            let up = await eventually(timeout: .seconds(15)) {
                process.isRunning && process.log.contains("listening") && canConnect(port: port)
            }
            guard up, process.isRunning else { throw TestFailure("Telegram simulator did not start: \(process.log)") }
            return (process, "http://127.0.0.1:\(port)")
        }
    }

    /// Starts `Deploy/local/smtp-sink.py` (aiosmtpd) on `port` (a free one by default), storing
    /// each message in `maildir/new`. Recipients whose local part starts with `reject` get 550,
    /// `tempfail` 451.
    /// A free port can be taken by another process before the sink binds it: without a port of
    /// the caller's, another is tried.
    public static func armadaSMTPSink(port: Int? = nil, maildir: String? = nil) async throws -> (
        ChildProcess, port: Int, maildir: String
    ) {
        var failure: Error?
        for _ in 0..<(port == nil ? 3 : 1) {
            do { return try await armadaSMTPSinkOnce(port: port ?? freePort(), maildir: maildir) } catch { failure = error }
        }
        throw failure!
    }

    static func armadaSMTPSinkOnce(port: Int, maildir: String?) async throws -> (ChildProcess, port: Int, maildir: String) {
        let maildir = maildir ?? NSTemporaryDirectory() + "armada-sink-\(UUID().uuidString)"
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("Deploy/local/smtp-sink.py").path
        // Debian's aiosmtpd is installed for /usr/bin/python3, not for another python3 on PATH.
        let process = try ChildProcess(
            "/usr/bin/python3", ["-u", script, "--host", "127.0.0.1", "--port", "\(port)", "--maildir", maildir],
            logPath: maildir + "-\(UUID().uuidString.prefix(4)).log")
        let listening = await eventually(timeout: .seconds(10)) { process.isRunning && process.log.contains("listening") }
        guard listening, process.isRunning else { throw TestFailure("SMTP sink did not start: \(process.log)") }
        return (process, port, maildir)
    }

    /// The messages a sink stored, oldest first, as raw text.
    public static func sinkMessages(_ maildir: String) -> [String] {
        let folder = (maildir as NSString).appendingPathComponent("new")
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        return files.compactMap { try? String(contentsOfFile: (folder as NSString).appendingPathComponent($0), encoding: .utf8) }
    }
}

/// Runs `start` on a free port, again on another (up to 3 times) when it fails: a free port
/// can still be taken by someone else before the started process binds it.
func onFreePort<T>(_ start: (Int) async throws -> T) async throws -> T {
    var failure: Error?
    for _ in 0..<3 {
        do { return try await start(freePort()) } catch { failure = error }
    }
    throw failure!
}

/// A TCP port nobody listens on right now, below the kernel's ephemeral range.
///
/// The kernel's own pick (bind to port 0) comes from the ephemeral range (32768–60999 on
/// Linux), the same range every outgoing connection's local port is taken from: with hundreds
/// of client sockets open during the tests, a port handed out that way was taken by a
/// connection before the simulator bound it (CI failed on exactly that). Ports here are drawn
/// from 20000–32767, checked free by binding, and never handed out twice by this process.
public func freePort() -> Int {
    while true {
        let candidate = Int.random(in: 20000...32767)
        let fresh = handedOutPorts.withLock { $0.insert(candidate).inserted }
        if fresh, portIsFree(candidate) { return candidate }
    }
}

private let handedOutPorts = Mutex<Set<Int>>([])

private func portIsFree(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return bound == 0
}
