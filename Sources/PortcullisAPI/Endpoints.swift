import Foundation

/// The methods the control-plane API uses.
public enum APIMethod: String, Sendable, CaseIterable {
    case GET, POST, PATCH, DELETE
}

/// The request of an endpoint that takes no body, or the answer of one whose status says it all.
public struct Nothing: Codable, Sendable, Equatable {
    public init() {}
}

/// An answer that is a document, not JSON (the signed license, as YAML).
public struct Document: Codable, Sendable, Equatable {
    public var text: String
    public init(text: String) { self.text = text }
}

/// An answer streamed to a file (an air-gap bundle), resumable with `Range`.
public struct Archive: Codable, Sendable, Equatable {
    public init() {}
}

/// One endpoint of `/api/v1`: its method, its path (`:name` marks a parameter), what it takes
/// and what it answers. The server registers its routes from these and the CLI builds its
/// requests from them, so the two cannot disagree about a path, a method or a type.
public struct Endpoint<Body: Codable & Sendable, Answer: Codable & Sendable>: Sendable {
    public let method: APIMethod
    /// Relative to `API.prefix`.
    public let path: String
    /// The status of success.
    public let status: Int
    /// The largest request body accepted, when larger than the server's default.
    public let bodyLimit: Int?
    /// One line for the README's API table and `portcullis api`.
    public let summary: String

    public init(_ method: APIMethod, _ path: String, status: Int = 200, bodyLimit: Int? = nil, _ summary: String) {
        self.method = method
        self.path = path
        self.status = status
        self.bodyLimit = bodyLimit
        self.summary = summary
    }

    /// The names of the path's parameters, in order.
    public var parameterNames: [String] {
        path.split(separator: "/").filter { $0.hasPrefix(":") }.map { String($0.dropFirst()) }
    }

    /// The path with its parameters filled in order (each percent-encoded) and a query string.
    /// A query value that is nil is left out.
    public func path(_ values: String..., query: [(String, String?)] = []) -> String {
        path(filling: values, query: query)
    }

    public func path(filling values: [String], query: [(String, String?)] = []) -> String {
        precondition(values.count == parameterNames.count, "\(path) takes \(parameterNames.count) parameters, given \(values.count)")
        var remaining = values.makeIterator()
        let filled = path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix(":") ? Self.encoded(remaining.next()!) : String(segment)
        }.joined(separator: "/")
        let pairs = query.compactMap { key, value in value.map { "\(Self.encoded(key))=\(Self.encoded($0))" } }
        return pairs.isEmpty ? filled : filled + "?" + pairs.joined(separator: "&")
    }

    public var description: EndpointDescription {
        EndpointDescription(method: method, path: path, status: status, summary: summary)
    }

    /// RFC 3986 unreserved characters kept, everything else percent-encoded.
    static func encoded(_ text: String) -> String {
        var unreserved = CharacterSet.alphanumerics
        unreserved.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}

/// An endpoint without its types, for tables.
public struct EndpointDescription: Sendable, Equatable {
    public let method: APIMethod
    public let path: String
    public let status: Int
    public let summary: String
}

/// Every endpoint of the vendor control plane.
public enum API {
    public static let prefix = "/api/v1"

    // Apps
    public static let createApp = Endpoint<CreateAppRequest, AppBody>(.POST, "/apps", status: 201, "Create an app")
    public static let apps = Endpoint<Nothing, [AppBody]>(.GET, "/apps", "List apps")
    public static let appPublicKey = Endpoint<Nothing, PublicKeyBody>(.GET, "/apps/:app/public-key", "The app's license-signing public key (PEM)")

    // External registries and public repositories
    public static let addRegistry = Endpoint<CreateRegistryRequest, RegistryBody>(.POST, "/registries", status: 201,
                                                                                  "Register an upstream registry (credentials are stored, never returned)")
    public static let registries = Endpoint<Nothing, [RegistryBody]>(.GET, "/registries", "List upstream registries")
    public static let updateRegistry = Endpoint<UpdateRegistryRequest, RegistryBody>(.PATCH, "/registries/:name",
                                                                                     "Replace a registry's credentials (tried first)")
    public static let removeRegistry = Endpoint<Nothing, Nothing>(.DELETE, "/registries/:name", status: 204, "Remove an upstream registry")
    public static let testRegistry = Endpoint<TestRegistryRequest, TestRegistryResult>(.POST, "/registries/:name/test",
                                                                                       "Log in to an upstream and read an image's manifest")
    public static let publicRepositories = Endpoint<Nothing, [PublicRepositoryBody]>(.GET, "/public-repositories",
                                                                                     "List hosted repositories anyone may pull")
    public static let makeRepositoryPublic = Endpoint<PublicRepositoryBody, PublicRepositoryBody>(.POST, "/public-repositories", status: 201,
                                                                                                  "Let anyone pull a hosted repository")
    public static let makeRepositoryPrivate = Endpoint<Nothing, Nothing>(.DELETE, "/public-repositories", status: 204,
                                                                         "Make a hosted repository private again (?name=)")

    // Customers and their licenses
    public static let createCustomer = Endpoint<CreateCustomerRequest, CustomerBody>(.POST, "/customers", status: 201,
                                                                                     "Create a customer and its license")
    public static let customers = Endpoint<Nothing, [CustomerBody]>(.GET, "/customers", "List customers (?app=)")
    public static let customer = Endpoint<Nothing, CustomerBody>(.GET, "/customers/:id", "One customer")
    public static let updateCustomer = Endpoint<UpdateCustomerRequest, CustomerBody>(.PATCH, "/customers/:id",
                                                                                     "Change a customer (only the fields given)")
    public static let archiveCustomer = Endpoint<Nothing, CustomerBody>(.POST, "/customers/:id/archive", "Archive a customer: pulls stop")
    public static let unarchiveCustomer = Endpoint<Nothing, CustomerBody>(.POST, "/customers/:id/unarchive", "Restore an archived customer")
    public static let pullSecret = Endpoint<Nothing, PullSecretBody>(.GET, "/customers/:id/pull-secret",
                                                                     "The customer's image pull secret (.dockerconfigjson)")
    public static let mirrorConfig = Endpoint<Nothing, [MirrorHostsBody]>(.GET, "/customers/:id/mirror-config",
                                                                          "containerd hosts.toml files for node mirrors (?upstream=&server=&ca=)")
    public static let customerPullSummary = Endpoint<Nothing, PullSummaryBody>(.GET, "/customers/:id/pulls/summary",
                                                                               "A customer's pulls per day and repository (?days=)")
    public static let pullSummary = Endpoint<Nothing, PullSummaryBody>(.GET, "/pulls/summary", "Pulls per day, customer and repository (?days=)")
    public static let customerPulls = Endpoint<Nothing, [PullBody]>(.GET, "/customers/:id/pulls", "A customer's latest pulls (?limit=)")
    public static let customerInstances = Endpoint<Nothing, [InstanceBody]>(.GET, "/customers/:id/instances",
                                                                            "A customer's running instances, as their SDKs report them")
    public static let license = Endpoint<Nothing, Document>(.GET, "/customers/:id/license", "The customer's signed license document (YAML)")

    // License fields
    public static let createLicenseField = Endpoint<LicenseFieldBody, LicenseFieldBody>(.POST, "/apps/:app/license-fields", status: 201,
                                                                                        "Define a license field")
    public static let licenseFields = Endpoint<Nothing, [LicenseFieldBody]>(.GET, "/apps/:app/license-fields", "List an app's license fields")
    public static let removeLicenseField = Endpoint<Nothing, Nothing>(.DELETE, "/apps/:app/license-fields/:name", status: 204,
                                                                      "Remove a license field")

    // Channels and releases
    public static let channels = Endpoint<Nothing, [ChannelBody]>(.GET, "/apps/:app/channels", "List an app's channels")
    public static let createChannel = Endpoint<CreateChannelRequest, ChannelBody>(.POST, "/apps/:app/channels", status: 201, "Create a channel")
    public static let createRelease = Endpoint<CreateReleaseRequest, ReleaseBody>(.POST, "/apps/:app/releases", status: 201, bodyLimit: 64 << 20,
                                                                                  "Release charts (base64 archives), optionally promoted")
    public static let releases = Endpoint<Nothing, [ReleaseBody]>(.GET, "/apps/:app/releases", "List an app's releases")
    public static let promote = Endpoint<PromoteRequest, ReleaseBody>(.POST, "/apps/:app/releases/:sequence/promote", "Promote a release to a channel")
    public static let bundle = Endpoint<Nothing, Archive>(.GET, "/apps/:app/releases/:sequence/bundle",
                                                          "A customer's air-gap bundle of a release (?customer=&platform=)")

    // Image tooling
    public static let lint = Endpoint<LintRequest, LintResult>(.POST, "/apps/:app/lint", bodyLimit: 32 << 20, "Lint a chart for proxy readiness")
    public static let findImages = Endpoint<FindImagesRequest, [FoundImage]>(.POST, "/images/find", bodyLimit: 8 << 20,
                                                                             "Find image references in manifests or values")

    // Custom domains
    public static let addDomain = Endpoint<CreateDomainRequest, DomainBody>(.POST, "/domains", status: 201, "Add a custom domain (optional certificate)")
    public static let domains = Endpoint<Nothing, [DomainBody]>(.GET, "/domains", "List custom domains")
    public static let removeDomain = Endpoint<Nothing, Nothing>(.DELETE, "/domains/:name", status: 204, "Remove a custom domain (?force=true)")

    // Tokens, keys, users, audit
    public static let createToken = Endpoint<CreateTokenRequest, TokenBody>(.POST, "/tokens", status: 201,
                                                                            "Create a vendor token (shown once)")
    public static let tokens = Endpoint<Nothing, [TokenBody]>(.GET, "/tokens", "List vendor tokens")
    public static let removeToken = Endpoint<Nothing, Nothing>(.DELETE, "/tokens/:id", status: 204, "Revoke a vendor token")
    public static let signingKeys = Endpoint<Nothing, [SigningKeyBody]>(.GET, "/signing-keys", "List registry-token signing keys")
    public static let rotateSigningKey = Endpoint<Nothing, SigningKeyBody>(.POST, "/signing-keys", status: 201, "Rotate the token signing key")
    public static let createUser = Endpoint<CreateUserRequest, UserBody>(.POST, "/users", status: 201, "Create a portal user")
    public static let users = Endpoint<Nothing, [UserBody]>(.GET, "/users", "List portal users")
    public static let removeUser = Endpoint<Nothing, Nothing>(.DELETE, "/users/:id", status: 204, "Remove a portal user (id or email)")
    public static let audit = Endpoint<Nothing, [AuditBody]>(.GET, "/audit", "The audit log, newest first (?limit=)")

    // Webhooks
    public static let addWebhook = Endpoint<CreateWebhookRequest, WebhookBody>(.POST, "/webhooks", status: 201,
                                                                               "Subscribe a URL to events (secret shown once)")
    public static let webhooks = Endpoint<Nothing, [WebhookBody]>(.GET, "/webhooks", "List webhooks")
    public static let removeWebhook = Endpoint<Nothing, Nothing>(.DELETE, "/webhooks/:id", status: 204, "Remove a webhook")
    public static let webhookDeliveries = Endpoint<Nothing, [WebhookDeliveryBody]>(.GET, "/webhooks/:id/deliveries",
                                                                                   "A webhook's latest deliveries (?limit=)")
    public static let testWebhook = Endpoint<Nothing, Nothing>(.POST, "/webhooks/:id/test", status: 202, "Send a test event")

    // Maintenance
    public static let collectGarbage = Endpoint<GarbageCollectionRequest, GarbageCollectionBody>(.POST, "/gc",
                                                                                                 "Delete unreferenced hosted blobs and forget idle delivered charts")
    public static let cache = Endpoint<Nothing, CacheStatusBody>(.GET, "/cache", "The proxy cache's size and limit")

    /// Every endpoint, in the order the README lists them.
    public static let all: [EndpointDescription] = [
        createApp.description, apps.description, appPublicKey.description,
        addRegistry.description, registries.description, updateRegistry.description, removeRegistry.description, testRegistry.description,
        publicRepositories.description, makeRepositoryPublic.description, makeRepositoryPrivate.description,
        createCustomer.description, customers.description, customer.description, updateCustomer.description,
        archiveCustomer.description, unarchiveCustomer.description, pullSecret.description, mirrorConfig.description,
        customerPullSummary.description, pullSummary.description, customerPulls.description, customerInstances.description,
        license.description,
        createLicenseField.description, licenseFields.description, removeLicenseField.description,
        channels.description, createChannel.description, createRelease.description, releases.description, promote.description,
        bundle.description,
        lint.description, findImages.description,
        addDomain.description, domains.description, removeDomain.description,
        createToken.description, tokens.description, removeToken.description, signingKeys.description, rotateSigningKey.description,
        createUser.description, users.description, removeUser.description, audit.description,
        addWebhook.description, webhooks.description, removeWebhook.description, webhookDeliveries.description, testWebhook.description,
        collectGarbage.description, cache.description,
    ]
}
