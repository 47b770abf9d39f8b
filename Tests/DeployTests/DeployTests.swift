import ArmadaTestSupport
import Foundation
import Testing

/// `Deploy/` checked with the tools operators use, as far as they run without a cluster, a
/// daemon or systemd as PID 1 (Docs/deploy.md says what is not checked here).
@Suite("Deploy/: alert rules, systemd units, compose, Kubernetes and KEDA manifests")
struct DeployTests {
    static let root = TestEnvironment.repositoryRoot
    static let deploy = root.appendingPathComponent("Deploy")
    static let executables = ["armada-ingress", "armada-payments", "armada-provisioner", "armada-lifecycle", "armada-notifier"]

    /// A copy of `folder` in a fresh temporary directory.
    static func scratchCopy(of folder: String) throws -> URL {
        let target = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("armada-deploy-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: deploy.appendingPathComponent(folder), to: target)
        return target
    }

    @Test("promtool: the scrape config and rules are valid and every rule unit test passes")
    func prometheus() async throws {
        let folder = Self.deploy.appendingPathComponent("prometheus").path
        let config = try await ChildProcess.run("/usr/bin/promtool", ["check", "config", folder + "/prometheus.yml"])
        #expect(config.status == 0 && config.output.contains("SUCCESS: 10 rules found"), "\(config.output)")
        // promtool resolves rule_files against the working directory of the test file's folder.
        let tests = try await ChildProcess.run("/bin/sh", ["-c", "cd '\(folder)' && /usr/bin/promtool test rules armada-rules.test.yml"])
        #expect(tests.status == 0 && tests.output.contains("SUCCESS"), "\(tests.output)")
        // Every alert has at least one unit test.
        let rules = try String(contentsOfFile: folder + "/armada-rules.yml", encoding: .utf8)
        let ruleTests = try String(contentsOfFile: folder + "/armada-rules.test.yml", encoding: .utf8)
        let alerts = rules.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("- alert: ") ? String(trimmed.dropFirst("- alert: ".count)) : nil
        }
        #expect(alerts.count == 10)
        for alert in alerts { #expect(ruleTests.contains("alertname: \(alert)\n"), "\(alert) has no unit test") }
    }

    @Test("promtool test rules fails when a rule no longer does what its unit test says")
    func prometheusTestsCanFail() async throws {
        let folder = try Self.scratchCopy(of: "prometheus")
        defer { try? FileManager.default.removeItem(at: folder) }
        let rules = folder.appendingPathComponent("armada-rules.yml")
        let text = try String(contentsOf: rules, encoding: .utf8)
        // Dead letters alerting only above 5 waiting: the single new letter of the test goes unseen.
        try text.replacingOccurrences(
            of: #"armada_queue_messages_ready{kind="dead"}) > 0 unless"#, with: #"armada_queue_messages_ready{kind="dead"}) > 5 unless"#
        )
        .replacingOccurrences(
            of: "(max by (queue) (armada_queue_messages_ready{kind=\"dead\"}) > max by",
            with: "(max by (queue) (armada_queue_messages_ready{kind=\"dead\"}) > 5 + max by"
        )
        .write(to: rules, atomically: true, encoding: .utf8)
        let tests = try await ChildProcess.run(
            "/bin/sh", ["-c", "cd '\(folder.path)' && /usr/bin/promtool test rules armada-rules.test.yml"])
        #expect(tests.status != 0 && tests.output.contains("alertname: ArmadaNewDeadLetter"), "\(tests.output)")
    }

    @Test("systemd-analyze verify: every unit is valid with no warning; the workers' exposure stays low")
    func systemdUnits() async throws {
        let folder = try Self.scratchCopy(of: "systemd")
        defer { try? FileManager.default.removeItem(at: folder) }
        // ExecStart names /opt/armada/bin; verify needs the binaries to exist, so the copies
        // point at this build's.
        let bin = TestEnvironment.binDirectory.path + "/"
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasPrefix("armada") {
            let url = folder.appendingPathComponent(file)
            let text = try String(contentsOf: url, encoding: .utf8)
            try text.replacingOccurrences(of: "/opt/armada/bin/", with: bin).write(to: url, atomically: true, encoding: .utf8)
        }
        let units = Self.executables.map { "\($0)@1.service" } + ["armada-payments@2.service", "armada-migrate.service", "armada.target"]
        let verify = try await ChildProcess.run(
            "/bin/sh", ["-c", "cd '\(folder.path)' && systemd-analyze verify --man=no \(units.joined(separator: " "))"])
        #expect(verify.status == 0 && verify.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(verify.output)")
        for executable in Self.executables {
            let security = try await ChildProcess.run(
                "/bin/sh",
                ["-c", "cd '\(folder.path)' && systemd-analyze security --offline=yes --threshold=20 --no-pager \(executable)@1.service"])
            #expect(security.status == 0, "\(executable): exposure above 2.0: \(security.output.suffix(300))")
            #expect(security.output.contains("Overall exposure level"), "\(security.output.suffix(300))")
        }
        // A misspelt hardening option is a warning systemd ignores: verify's output shows it.
        let unit = folder.appendingPathComponent("armada-payments@.service")
        try String(contentsOf: unit, encoding: .utf8).replacingOccurrences(of: "NoNewPrivileges=yes", with: "NoNewPrivilege=yes")
            .write(to: unit, atomically: true, encoding: .utf8)
        let broken = try await ChildProcess.run(
            "/bin/sh", ["-c", "cd '\(folder.path)' && systemd-analyze verify --man=no armada-payments@1.service"])
        #expect(broken.output.contains("Unknown key 'NoNewPrivilege'"), "\(broken.output)")
    }

    @Test("docker-compose config: the compose file is valid and runs every executable from the one image")
    func compose() async throws {
        let folder = try Self.scratchCopy(of: "docker")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            at: folder.appendingPathComponent("armada.env.example"), to: folder.appendingPathComponent("armada.env"))
        let environment = ["POSTGRES_PASSWORD": "compose-check-fake", "RABBITMQ_PASSWORD": "compose-check-fake"]
        let compose = folder.appendingPathComponent("compose.yml").path
        let config = try await ChildProcess.run("/usr/bin/docker-compose", ["-f", compose, "config"], environment: environment)
        #expect(config.status == 0, "\(config.output)")
        for executable in Self.executables {
            #expect(config.output.contains("- \(executable)\n"), "a service runs \(executable)")
        }
        #expect(config.output.contains("armadactl migrate && armadactl topology apply"))
        #expect(config.output.contains("condition: service_completed_successfully"))
        let services = try await ChildProcess.run(
            "/usr/bin/docker-compose", ["-f", compose, "config", "--services"], environment: environment)
        #expect(
            Set(services.output.split(separator: "\n").map(String.init))
                == ["postgres", "rabbitmq", "migrate", "ingress", "payments", "provisioner", "lifecycle", "notifier"])
        // Without the passwords it refuses, naming what is missing.
        let missing = try await ChildProcess.run("/usr/bin/docker-compose", ["-f", compose, "config", "-q"])
        #expect(missing.status != 0 && missing.output.contains("set POSTGRES_PASSWORD"), "\(missing.output)")

        // The Dockerfile builds every product the compose file runs.
        let dockerfile = try String(contentsOf: Self.deploy.appendingPathComponent("docker/Dockerfile"), encoding: .utf8)
        for executable in Self.executables + ["armadactl"] { #expect(dockerfile.contains("--product \(executable)")) }
    }

    @Test("policies.sh: RabbitMQ accepts the quorum-queue policy and it applies to every Armada queue")
    func rabbitPolicies() async throws {
        let vhost = "armada_policies_\(UUID().uuidString.prefix(8).lowercased())"
        let root = Self.root.path
        let amqp = "amqp://guest:guest@127.0.0.1:${RABBIT_PORT}/\(vhost)"
        let script = """
            set -e
            cd '\(root)'
            source Deploy/local/env.sh
            ctl() { rabbit_env "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" "$@"; }
            trap 'ctl delete_vhost \(vhost) >/dev/null 2>&1 || true' EXIT
            ctl add_vhost \(vhost) >/dev/null
            ctl set_permissions -p \(vhost) guest '.*' '.*' '.*' >/dev/null
            rabbit_env env PATH="$RABBIT_BIN:$PATH" RABBITMQ_NODE="$RABBIT_NODE" Deploy/rabbitmq/policies.sh \(vhost)
            AMQP_URL="\(amqp)" '\(TestEnvironment.binDirectory.path)/armadactl' topology apply >/dev/null
            echo QUEUES
            ctl list_queues -p \(vhost) name policy
            """
        let run = try await ChildProcess.run("/bin/bash", ["-c", script])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("least-leaders"), "\(run.output)")
        let queues = run.output.components(separatedBy: "QUEUES").last?.split(separator: "\n").filter { $0.hasPrefix("armada.") } ?? []
        #expect(queues.count >= 6 * 3, "every work queue, its delay tiers and dead letters: \(queues)")
        #expect(queues.allSatisfy { $0.hasSuffix("armada-quorum") }, "\(queues)")
    }

    @Test("kubernetes-validate and the KEDA schema: every manifest valid, every worker probed and scaled on its own queues")
    func kubernetes() async throws {
        let validator = Self.root.appendingPathComponent(".local/venv-deploy/bin/kubernetes-validate").path
        #expect(FileManager.default.isExecutableFile(atPath: validator), "Deploy/local/test.sh installs kubernetes-validate")
        let script = Self.deploy.appendingPathComponent("kubernetes/validate.py").path
        let run = try await ChildProcess.run("/usr/bin/python3", [script], environment: ["KUBERNETES_VALIDATE": validator])
        #expect(run.status == 0 && !run.output.contains("FAIL"), "\(run.output)")
        for kind in ["deployment/armada-payments", "horizontalpodautoscaler/armada-ingress", "job/armada-migrate"] {
            #expect(run.output.contains("passed for resource \(kind)"), "\(kind)")
        }
        for worker in Self.executables.dropFirst() {
            #expect(run.output.contains("ScaledObject/\(worker) passed against schemas/keda-v1alpha1.json"))
            #expect(run.output.contains("INFO \(worker): probes, resources, security context and scaling present"))
        }

        // A ScaledObject that scales to zero on a queue nobody declared, with a number where
        // KEDA wants a string, fails three ways.
        let bad = NSTemporaryDirectory() + "armada-bad-keda-\(UUID().uuidString).yaml"
        defer { unlink(bad) }
        try """
        apiVersion: keda.sh/v1alpha1
        kind: ScaledObject
        metadata: {name: armada-payments, namespace: armada}
        spec:
          scaleTargetRef: {name: armada-payments}
          minReplicaCount: 0
          triggers:
            - type: rabbitmq
              metadata: {protocol: amqp, queueName: armada.payment, mode: QueueLength, value: "500"}
        """.write(toFile: bad, atomically: true, encoding: .utf8)
        let payments = Self.deploy.appendingPathComponent("kubernetes/payments.yaml").path
        let failing = try await ChildProcess.run(
            "/usr/bin/python3", [script, payments, bad], environment: ["KUBERNETES_VALIDATE": validator])
        #expect(failing.status != 0)
        #expect(failing.output.contains("may scale to zero"), "\(failing.output)")
        #expect(failing.output.contains("queue armada.payment is not one armada-payments consumes"), "\(failing.output)")
        let typo = bad + ".typo.yaml"
        defer { unlink(typo) }
        try String(contentsOfFile: bad, encoding: .utf8).replacingOccurrences(of: "value: \"500\"", with: "value: 500")
            .write(toFile: typo, atomically: true, encoding: .utf8)
        let schema = try await ChildProcess.run(
            "/usr/bin/python3", [script, payments, typo], environment: ["KUBERNETES_VALIDATE": validator])
        #expect(schema.output.contains("500 is not of type 'string'"), "\(schema.output)")
    }
}
