// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "portcullis",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "portcullis", targets: ["portcullis"]),
        // The benchmark's ceiling for small responses (bench/): a bare Hummingbird route.
        .executable(name: "portcullis-ceiling", targets: ["Ceiling"]),
        // libFuzzer targets for every parser of untrusted input (scripts/fuzz, FUZZING.md).
        .executable(name: "portcullis-fuzz", targets: ["PortcullisFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // Traces exported over OTLP/HTTP only: the gRPC exporter's dependencies are not built.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
    ],
    targets: [
        // Pure formats: digests, references, manifests, registry errors. No I/O.
        .target(name: "OCI", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // YAML from outside, bounded before anything expands its aliases.
        .target(name: "YAMLSafety", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Pure chart formats: tar and gzip, Chart.yaml, values injection, SemVer.
        .target(name: "Charts", dependencies: [
            "OCI", "YAMLSafety",
            .product(name: "Yams", package: "Yams"),
            .product(name: "CompressNIO", package: "compress-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // Pure licensing rules: license state, entitlements, pull secrets.
        .target(name: "Licensing", dependencies: ["OCI"]),
        // Metadata and blob storage behind protocols, with the embedded implementations.
        .target(name: "Storage", dependencies: [
            "OCI", "Licensing",
            .product(name: "SQLKit", package: "sql-kit"),
            .product(name: "SQLiteKit", package: "sqlite-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // AWS Signature Version 4, for every AWS call: S3 blobs and ECR upstream tokens.
        .target(name: "SigV4", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Blobs in S3 or any S3-compatible store, behind the storage protocols.
        .target(name: "ObjectStore", dependencies: [
            "OCI", "Storage", "SigV4", "Connectivity",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Opening the configured storage: SQLite or PostgreSQL, a directory or S3.
        .target(name: "Backends", dependencies: [
            "OCI", "Storage", "ObjectStore", "SigV4", "Connectivity",
            .product(name: "SQLKit", package: "sql-kit"),
            .product(name: "PostgresKit", package: "postgres-kit"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Talking to vendors' registries: the registry operations behind a protocol, over a
        // chain of small transports (redirects, challenge auth and token exchange, metrics).
        // Why a connection failed, in words; waiting for an answer no longer than a deadline.
        .target(name: "Connectivity", dependencies: [.product(name: "Logging", package: "swift-log")]),
        .target(name: "Upstream", dependencies: [
            "OCI", "SigV4", "Connectivity",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // The one repository interface every kind of repository implements.
        .target(name: "RegistryCore", dependencies: [
            "OCI", "Storage",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // The pull-through cache: proxied repositories, coalesced blob fills, tag freshness.
        .target(name: "Proxy", dependencies: [
            "OCI", "Storage", "Upstream", "RegistryCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // What vendors host here: pushed repositories, releases on channels, charts delivered per customer.
        .target(name: "Hosting", dependencies: [
            "OCI", "Licensing", "Storage", "Charts", "RegistryCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
        ]),
        // Who is asking (the license gate, registry tokens) and what they may have (the access
        // rules and the resolver that applies them to every repository).
        // Registry tokens: ES256 JWTs with Docker's access claims, issued and verified.
        .target(name: "RegistryTokens", dependencies: [
            "OCI",
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Access", dependencies: [
            "OCI", "Licensing", "Storage", "RegistryCore", "Proxy", "Hosting", "RegistryTokens",
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Image tooling: find image references in manifests and charts, rewrite them to the proxy, lint charts.
        .target(name: "ImageTooling", dependencies: [
            "OCI", "Charts", "YAMLSafety",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The admin API's request and response types, shared by the server and the CLI.
        .target(name: "PortcullisAPI"),
        // Vendor operations: apps, registries, customers, tokens, channels and releases.
        .target(name: "ControlPlane", dependencies: [
            "OCI", "Licensing", "Storage", "Upstream", "Access", "Proxy", "Hosting", "ImageTooling", "Charts", "PortcullisAPI",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // HTTP surface: registry API, token endpoint, admin API. Thin routes over the modules above.
        // The settings of `portcullis serve`: one catalogue, the configuration file, precedence.
        .target(name: "ServeSettings", dependencies: [
            "Proxy", "Charts", "YAMLSafety", "PortcullisAPI",
            .product(name: "Yams", package: "Yams"),
        ]),
        // Air-gap bundles: a release's charts and images for one customer, as one OCI layout tar.
        .target(name: "Bundles", dependencies: [
            "OCI", "Charts", "ImageTooling", "Licensing", "RegistryCore", "Access", "Hosting", "Proxy", "Storage", "PortcullisAPI",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .target(name: "Server", dependencies: [
            "OCI", "Licensing", "Storage", "Upstream", "RegistryCore", "Access", "Proxy", "Hosting", "Charts", "ImageTooling",
            "ControlPlane", "PortcullisAPI", "Backends", "Bundles", "Connectivity",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdHTTP2", package: "hummingbird"),
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The in-cluster SDK (`portcullis sdk serve`): license, updates and instance reports for the app it ships with.
        .target(name: "InClusterSDK", dependencies: [
            "Licensing", "PortcullisAPI", "YAMLSafety", "Connectivity",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "portcullis", dependencies: [
            "OCI", "Licensing", "Server", "Storage", "Backends", "ImageTooling", "Upstream", "PortcullisAPI", "Proxy", "Charts",
            "ServeSettings", "InClusterSDK", "Connectivity",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "OTel", package: "swift-otel"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .executableTarget(name: "Ceiling", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .target(name: "FuzzTargets", dependencies: [
            "OCI", "Charts", "ImageTooling", "RegistryTokens",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .executableTarget(name: "PortcullisFuzz", dependencies: ["FuzzTargets"]),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "OCITests", dependencies: ["OCI", "TestSupport"]),
        .testTarget(name: "LicensingTests", dependencies: ["Licensing"]),
        .testTarget(name: "PortcullisAPITests", dependencies: ["PortcullisAPI"]),
        .testTarget(name: "InClusterSDKTests", dependencies: ["InClusterSDK", "Licensing", "PortcullisAPI",
                                                             .product(name: "CryptoExtras", package: "swift-crypto")]),
        .testTarget(name: "ChartsTests", dependencies: ["Charts", "YAMLSafety"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "ServeSettingsTests", dependencies: ["ServeSettings"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzTargets"]),
        .testTarget(name: "UpstreamTests", dependencies: ["Upstream", "TestSupport"]),
        .testTarget(name: "SigV4Tests", dependencies: ["SigV4", "TestSupport"], exclude: ["botocore_oracle.py"]),
        .testTarget(name: "ObjectStoreTests", dependencies: ["ObjectStore", "SigV4"]),
        .testTarget(name: "AccessTests", dependencies: ["Access", "Hosting", "Proxy", "Storage", "Upstream", "Charts"]),
        .testTarget(name: "ProxyTests", dependencies: ["Proxy", "RegistryCore", "Upstream", "Storage", "TestSupport"]),
        .testTarget(name: "HostingTests", dependencies: ["Hosting", "RegistryCore", "Storage", "PortcullisAPI"]),
        .testTarget(name: "ImageToolingTests", dependencies: ["ImageTooling", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "BundlesTests", dependencies: ["Bundles"]),
        .testTarget(name: "ConnectivityTests", dependencies: ["Connectivity", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ServerTests", dependencies: [
            "Server", "Backends", "TestSupport", "PortcullisAPI", "ControlPlane",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
