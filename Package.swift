// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Armada",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "armada-ingress", targets: ["armada-ingress"]),
        .executable(name: "armada-payments", targets: ["armada-payments"]),
        .executable(name: "armada-provisioner", targets: ["armada-provisioner"]),
        .executable(name: "armada-lifecycle", targets: ["armada-lifecycle"]),
        .executable(name: "armada-notifier", targets: ["armada-notifier"]),
        .executable(name: "armadactl", targets: ["armadactl"]),
        .executable(name: "armada-sim", targets: ["armada-sim"]),
        .executable(name: "armada-bench", targets: ["armada-bench"]),
    ],
    dependencies: [
        // HTTP server for the ingress and the /metrics endpoint of every worker.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Service lifecycle: ServiceGroup, graceful shutdown on SIGTERM.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Already a Hummingbird dependency; named for HTTPField.Name.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // Prometheus text exposition for swift-metrics.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // HMAC-SHA256 (Tripay signatures), SHA-1 (UUIDv5 message ids); 4.x is what jwt-kit 5.8 needs.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // JWT verification (HS256, RS256, ES256) for the customer API; not hand-rolled.
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        // Tests only: reads Docs/openapi.yaml for the contract test.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // Notification templates operators edit without rebuilding (Templates/notifications).
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // System libraries: module map + shim header each, imported only by their wrapper.
        .systemLibrary(name: "CRabbitMQ", path: "Sources/CRabbitMQ", pkgConfig: "librabbitmq", providers: [.apt(["librabbitmq-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // The one protocol every wrapper's and provider's error conforms to, so the runtime can
        // classify an error without importing the module that threw it.
        .target(name: "Retriability", swiftSettings: strict),

        // Wrappers: the only importers of the C modules.
        .target(
            name: "AMQP", dependencies: ["CRabbitMQ", "Retriability", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .target(
            name: "Postgres", dependencies: ["CLibPQ", "Retriability", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .target(name: "Curl", dependencies: ["CCurl", "Retriability"], swiftSettings: strict),

        // Queues/ holds the topology as data (embedded) and the message catalogue (checked by tests).
        .target(
            name: "ArmadaQueues", path: "Queues", exclude: ["README.md", "examples"], resources: [.embedInCode("topology.json")],
            swiftSettings: strict),

        .target(
            name: "Migrations",
            dependencies: ["Postgres", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")],
            resources: [
                .embedInCode("SQL/0001_messaging.sql"), .embedInCode("SQL/0002_wallet.sql"),
                .embedInCode("SQL/0003_commands_and_deposits.sql"), .embedInCode("SQL/0004_deposit_reconciliation.sql"),
                .embedInCode("SQL/0005_promos.sql"), .embedInCode("SQL/0006_periodic_runs.sql"),
                .embedInCode("SQL/0007_payments_hardening.sql"), .embedInCode("SQL/0008_delivery_copies.sql"),
                .embedInCode("SQL/0009_command_stalled.sql"), .embedInCode("SQL/0010_reconcile_index_and_stalled.sql"),
                .embedInCode("SQL/0011_catalog_orders_provisioning.sql"), .embedInCode("SQL/0012_provisioning_fencing.sql"),
                .embedInCode("SQL/0013_lifecycle.sql"), .embedInCode("SQL/0014_notifications.sql"),
                .embedInCode("SQL/0015_queue_backlog.sql"), .embedInCode("SQL/0016_ledger_append_only.sql"),
                .embedInCode("SQL/0017_audit_indexes.sql"),
            ],
            swiftSettings: strict),

        // The worker kit: envelope, handlers and outcomes, the consumer runtime, inbox, outbox,
        // periodic jobs, topology, settings. Knows no business area and no provider.
        .target(
            name: "Messaging",
            dependencies: [
                "AMQP", "Postgres", "Retriability", "ArmadaQueues",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: strict),

        // Outside services, each on the Curl wrapper.
        .target(
            name: "Tripay", dependencies: ["Curl", "Retriability", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),

        .target(name: "DigitalOcean", dependencies: ["Curl", "Retriability"], swiftSettings: strict),
        .target(name: "Telegram", dependencies: ["Curl", "Retriability"], swiftSettings: strict),

        // The payments area's contracts: its messages, error codes, views and its tables' reads,
        // what the ingress needs of it without importing the area.
        .target(name: "WalletContracts", dependencies: ["Messaging", "Postgres", "Tripay"], swiftSettings: strict),

        // Business areas: handlers, rules, their tables' writes, the worker definition.
        .target(
            name: "Wallet",
            dependencies: [
                "WalletContracts", "Messaging", "AMQP", "Postgres", "Retriability", "Tripay",
                .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),

        // The catalog's and the orders' contracts: messages, error codes, views, table reads.
        .target(
            name: "OrdersContracts", dependencies: ["Messaging", "Postgres", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),

        // Orders and droplets against DigitalOcean; pays through the wallet's ledger.
        .target(
            name: "Provisioning",
            dependencies: [
                "OrdersContracts", "Wallet", "WalletContracts", "Messaging", "Postgres", "DigitalOcean",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),

        // Reminders, auto-renewal, suspension and termination on time; shares provisioning's order rules.
        .target(
            name: "Lifecycle",
            dependencies: ["OrdersContracts", "Provisioning", "Messaging", "Postgres", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),

        // The notifications' views and table reads, what the ingress shows (`GET /notifications`).
        .target(name: "NotificationsContracts", dependencies: ["Postgres"], swiftSettings: strict),

        // Notifications from events, delivered by email (SMTP over Curl) and Telegram, paced and retried.
        .target(
            name: "Notifications",
            dependencies: [
                "NotificationsContracts", "WalletContracts", "OrdersContracts", "Messaging", "Postgres", "Curl", "Telegram", "Retriability",
                .product(name: "Mustache", package: "swift-mustache"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),

        // Process wiring every executable shares: settings, logs, metrics, the worker builder.
        .target(
            name: "ArmadaService",
            dependencies: [
                "AMQP", "Postgres", "Messaging",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ], swiftSettings: strict),

        .target(
            name: "Ingress",
            dependencies: [
                "AMQP", "Postgres", "Messaging", "Tripay", "WalletContracts", "OrdersContracts", "NotificationsContracts", "ArmadaService",
                "Operations",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ], resources: [.embedInCode("Resources/ops.html")], swiftSettings: strict),

        // Thin mains.
        .executableTarget(name: "armada-ingress", dependencies: ["Ingress"], swiftSettings: strict),
        .executableTarget(name: "armada-payments", dependencies: ["ArmadaService", "Wallet"], swiftSettings: strict),
        .executableTarget(name: "armada-provisioner", dependencies: ["ArmadaService", "Provisioning"], swiftSettings: strict),
        .executableTarget(name: "armada-lifecycle", dependencies: ["ArmadaService", "Lifecycle"], swiftSettings: strict),
        .executableTarget(name: "armada-notifier", dependencies: ["ArmadaService", "Notifications"], swiftSettings: strict),
        // What operators look at: queues (the management API, or AMQP without it), outbox,
        // dead letters, flagged deposits, as one snapshot for armadactl, the ops page and the
        // Prometheus gauges.
        .target(
            name: "Operations",
            dependencies: [
                "AMQP", "Curl", "Messaging", "Postgres", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ], swiftSettings: strict),

        .executableTarget(
            name: "armadactl",
            dependencies: [
                "ArmadaService", "AMQP", "Messaging", "Migrations", "Postgres", "Wallet", "WalletContracts", "DigitalOcean",
                "OrdersContracts", "Provisioning", "Lifecycle", "Operations",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),

        // The benchmark harness's load generators (Deploy/bench/run.sh); not shipped.
        .executableTarget(
            name: "armada-bench",
            dependencies: [
                "AMQP", "Messaging", "WalletContracts", "Tripay", "CBenchPoll", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),

        // ppoll for the bench's load generator (Glibc's Swift module leaves it out).
        .target(name: "CBenchPoll", path: "Sources/CBenchPoll"),

        // Simulators of the outside services, for tests and the local stack.
        .executableTarget(
            name: "armada-sim",
            dependencies: [
                "Tripay", "Curl",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),

        .target(
            name: "ArmadaTestSupport", dependencies: ["Postgres", .product(name: "Logging", package: "swift-log")], path: "Tests/Support",
            exclude: ["peers"], swiftSettings: strict),
        .testTarget(name: "AMQPTests", dependencies: ["AMQP", "ArmadaTestSupport"], swiftSettings: strict),
        .testTarget(name: "CurlTests", dependencies: ["Curl", "ArmadaTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "MessagingTests",
            dependencies: [
                "Messaging", "AMQP", "Postgres", "Curl", "Retriability", "ArmadaQueues", "ArmadaTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(name: "MigrationsTests", dependencies: ["Migrations", "Postgres", "ArmadaTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "WalletTests",
            dependencies: [
                "Wallet", "WalletContracts", "Messaging", "AMQP", "Curl", "Postgres", "Tripay", "ArmadaTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "AMQP", "Curl", "Ingress", "Messaging", "Postgres", "Tripay", "WalletContracts", "Wallet", "ArmadaTestSupport",
                "OrdersContracts", "Provisioning", "DigitalOcean", "Lifecycle", "Notifications", "NotificationsContracts", "Telegram",
                "Operations",
                .product(name: "JWTKit", package: "jwt-kit"), .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(name: "TripayTests", dependencies: ["Tripay", "Curl", "ArmadaTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "IngressTests",
            dependencies: [
                "Ingress", "Tripay", .product(name: "Crypto", package: "swift-crypto"), "AMQP", "Messaging", "Postgres", "WalletContracts",
                "ArmadaTestSupport",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(name: "DeployTests", dependencies: ["ArmadaTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "CatalogueTests",
            dependencies: [
                "Messaging", "AMQP", "Wallet", "WalletContracts", "Provisioning", "Lifecycle", "Notifications", "ArmadaTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ProvisioningTests",
            dependencies: ["Provisioning", "OrdersContracts", "DigitalOcean", "Messaging", "Postgres", "ArmadaTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "NotificationsTests",
            dependencies: [
                "Notifications", "NotificationsContracts", "Curl", "Telegram", "WalletContracts", "OrdersContracts", "Messaging",
                "Postgres",
                "ArmadaTestSupport",
            ],
            swiftSettings: strict),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "ArmadaTestSupport"], swiftSettings: strict),
    ]
)
