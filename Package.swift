// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Armada",
    platforms: [.macOS(.v15)],
    products: [
    ],
    dependencies: [
        // HTTP server for the ingress and the /metrics endpoint of every worker.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Service lifecycle: ServiceGroup, graceful shutdown on SIGTERM.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // Prometheus text exposition for swift-metrics.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // HMAC-SHA256 (Tripay signatures), SHA-1 (UUIDv5 message ids); 4.x is what jwt-kit 5.8 needs.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries: module map + shim header each, imported only by their wrapper.
        .systemLibrary(name: "CRabbitMQ", path: "Sources/CRabbitMQ", pkgConfig: "librabbitmq", providers: [.apt(["librabbitmq-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Wrappers: the only importers of the C modules.
        .target(name: "AMQP", dependencies: ["CRabbitMQ", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),

        .target(name: "Postgres", dependencies: ["CLibPQ", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),

        .target(name: "Curl", dependencies: ["CCurl"], swiftSettings: strict),

        .target(name: "ArmadaTestSupport", path: "Tests/Support", exclude: ["peers"], swiftSettings: strict),
        .testTarget(name: "AMQPTests", dependencies: ["AMQP", "ArmadaTestSupport"], swiftSettings: strict),
        .testTarget(name: "CurlTests", dependencies: ["Curl", "ArmadaTestSupport"], swiftSettings: strict),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "ArmadaTestSupport"], swiftSettings: strict),
    ]
)
