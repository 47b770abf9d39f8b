import AMQP
import ArmadaTestSupport
import Foundation
import Lifecycle
import Logging
import Messaging
import Notifications
import Provisioning
import Testing
import Wallet
import WalletContracts

/// The message catalogue is code: the workers' definitions. These tests hold the four other
/// places a message type appears — `Queues/topology.json`, `Queues/README.md`,
/// `Queues/examples/` and its files under `Sources/*/Messages/` — to that registry, both ways.
@Suite("Message catalogue: the registry against Queues/ and Sources/")
struct CatalogueTests {
    /// Every worker, one line each.
    static let workers: [WorkerDefinition] = {
        let environment = EnvironmentReader([
            "TRIPAY_API_KEY": "catalogue-test", "TRIPAY_PRIVATE_KEY": "catalogue-test", "TRIPAY_MERCHANT_CODE": "T0000",
            "ARMADA_ENCRYPTION_KEY": String(repeating: "ab", count: 32),
            "ARMADA_TEMPLATES_DIR": TestEnvironment.repositoryRoot.appendingPathComponent("Templates/notifications").path,
            "SMTP_URL": "smtp://127.0.0.1:1", "SMTP_FROM": "armada@example.invalid", "TELEGRAM_BOT_TOKEN": "1:catalogue-test",
        ])
        let logger = Logger(label: "catalogue")
        // Nothing connects: the definitions are only read.
        let resources = WorkerResources(
            pool: TestDatabase.pool(size: 1, name: "catalogue"),
            publisher: BrokerClient(configuration: try! AMQPConfiguration(url: TestEnvironment.amqpURL), logger: logger),
            logger: logger, environment: environment)
        return [
            PaymentsWorker.definition(try! PaymentsSettings(environment), resources),
            ProvisionerWorker.definition(try! ProvisionerSettings(environment), resources),
            LifecycleWorker.definition(try! LifecycleSettings(environment), resources),
        ] + (try! NotifierWorker.definitions(try! NotifierSettings(environment), resources))
    }()

    static var registered: [String: any MessageBody.Type] {
        Dictionary(workers.flatMap(\.messageTypes).map { ($0.messageType, $0) }, uniquingKeysWith: { first, _ in first })
    }

    static let queuesFolder = TestEnvironment.repositoryRoot.appendingPathComponent("Queues")

    @Test("each worker's queue is in the topology with that worker as its consumer, and routes every type it handles")
    func topology() throws {
        let topology = try Topology.bundled()
        for worker in Self.workers {
            let queue = try #require(topology.queues.first { $0.name == worker.queue }, "\(worker.queue) is not in topology.json")
            #expect(queue.consumer == worker.name, "topology.json names \(queue.consumer ?? "nobody") as the consumer of \(worker.queue)")
            #expect(
                topology.queues.filter { $0.consumer == worker.name }.map(\.name) == [worker.queue],
                "\(worker.name) consumes exactly its own queue")
            for handler in worker.handlers {
                let routed = topology.queues(routing: handler.messageType, on: handler.bodyType.exchange).map(\.name)
                #expect(routed.contains(worker.queue), "\(handler.messageType) does not reach \(worker.queue)")
                if handler.bodyType.exchange == Exchange.commands {
                    #expect(routed == [worker.queue], "command \(handler.messageType) must reach exactly one queue, reaches \(routed)")
                }
            }
        }
        for type in Self.registered.values where type.exchange == Exchange.commands {
            #expect(
                !topology.queues(routing: type.messageType, on: Exchange.commands).isEmpty,
                "command \(type.messageType) reaches no queue: its publish would be refused")
        }
    }

    @Test("Queues/README.md has one catalogue row per registered type, and no other")
    func readme() throws {
        let text = try String(contentsOf: Self.queuesFolder.appendingPathComponent("README.md"), encoding: .utf8)
        let catalogue = try #require(text.components(separatedBy: "\n## Catalog").dropFirst().first, "README.md has no ## Catalog")
        let rows = catalogue.split(separator: "\n").filter { $0.hasPrefix("| `") }.compactMap { line in
            line.split(separator: "`").dropFirst().first.map(String.init)
        }
        #expect(rows.count == Set(rows).count, "a type has two rows")
        #expect(
            Set(rows) == Set(Self.registered.keys),
            "rows without a registered type: \(Set(rows).subtracting(Self.registered.keys)); registered types without a row: \(Set(Self.registered.keys).subtracting(rows))"
        )
    }

    @Test("Queues/examples has one example per registered type, and each decodes as that type")
    func examples() throws {
        let folder = Self.queuesFolder.appendingPathComponent("examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
        #expect(Set(files) == Set(Self.registered.keys.map { "\($0).json" }), "example files and registered types differ")
        for (type, body) in Self.registered {
            let url = folder.appendingPathComponent("\(type).json")
            guard let data = FileManager.default.contents(atPath: url.path) else {
                Issue.record("no example for \(type)")
                continue
            }
            let header = try MessageCoding.decoder().decode(EnvelopeHeader.self, from: data)
            #expect(header.type == type)
            try decode(body, data)
        }
    }

    private func decode<Body: MessageBody>(_ type: Body.Type, _ data: Data) throws {
        let envelope = try MessageCoding.decoder().decode(Envelope<Body>.self, from: data)
        #expect(envelope.version == Body.version, "\(Body.messageType): the example's version is not the body's")
    }

    @Test("each message type has a file named after it holding its body, and its handler in the area's file of that name")
    func files() throws {
        let sources = TestEnvironment.repositoryRoot.appendingPathComponent("Sources")
        let modules = try FileManager.default.contentsOfDirectory(atPath: sources.path)
        func messageFile(named name: String) -> [String] {
            modules.compactMap { module in
                let path = sources.appendingPathComponent("\(module)/Messages/\(name).swift").path
                return try? String(contentsOfFile: path, encoding: .utf8)
            }
        }
        for (type, body) in Self.registered {
            let name = String(describing: body)
            #expect(
                messageFile(named: name).contains { $0.contains("struct \(name): MessageBody") },
                "\(type): no Sources/*/Messages/\(name).swift declares its body")
        }
        for handler in Self.workers.flatMap(\.handlers) {
            let name = String(describing: handler.bodyType)
            #expect(
                messageFile(named: name).contains { $0.contains("struct \(handler.handlerName):") },
                "\(handler.messageType): \(handler.handlerName) is not in a Sources/*/Messages/\(name).swift")
        }
    }
}
