import NIOPosix
import Crypto
import Access
import Foundation
import HummingbirdBcrypt
import Storage

/// Who is signed in to the web portal, once their session cookie has been checked.
public enum PortalIdentity: Sendable, Equatable {
    case user(UserRecord)
    case customer(CustomerView)

    /// How the audit log names them.
    public var actor: String {
        switch self {
        case .user(let user): "user:\(user.email)"
        case .customer(let view): "customer:\(view.customer.id)"
        }
    }
}

extension CustomerView: Equatable {
    public static func == (a: CustomerView, b: CustomerView) -> Bool { a.customer == b.customer && a.licenseID == b.licenseID }
}

extension ControlPlane {
    static let sessionLifetime: TimeInterval = 12 * 3600

    public func createUser(email: String, password: String, role: UserRecord.Role, actor: String) async throws -> UserRecord {
        let email = email.trimmingCharacters(in: .whitespaces).lowercased()
        guard email.contains("@"), email.count <= 254, !email.contains(where: \.isWhitespace) else {
            throw ControlPlaneError.invalid("invalid email \(email.debugDescription)")
        }
        guard password.count >= 12 else { throw ControlPlaneError.invalid("passwords have at least 12 characters") }
        // bcrypt reads 72 bytes and ignores the rest: a longer password would be accepted by its prefix.
        guard password.utf8.count <= Self.maxPasswordBytes else {
            throw ControlPlaneError.invalid("passwords have at most \(Self.maxPasswordBytes) bytes (bcrypt ignores what follows)")
        }
        let user = UserRecord(email: email, passwordHash: try await Self.offEventLoop { Bcrypt.hash(password, cost: 10) }, role: role)
        try await normalized { try await store.createUser(user) }
        try await audit(actor, "user create", email)
        return user
    }

    public func users() async throws -> [UserRecord] { try await store.users() }

    /// Removes a user; their sessions end with them.
    public func removeUser(id: String, actor: String) async throws {
        var found = try await store.user(id: id)
        if found == nil { found = try await store.user(email: id.lowercased()) }
        guard let user = found else {
            throw ControlPlaneError.notFound("user \(id) not found")
        }
        _ = try await store.deleteUser(id: user.id)
        try await audit(actor, "user remove", user.email)
    }

    /// The user with this email and password, or nil (the same answer for an unknown email, at
    /// about the same cost).
    public func verifyUser(email: String, password: String) async throws -> UserRecord? {
        // Too long to have been set: refused without hashing (it could only match by its prefix).
        guard password.utf8.count <= Self.maxPasswordBytes else { return nil }
        let user = try await store.user(email: email.trimmingCharacters(in: .whitespaces).lowercased())
        let hash = user?.passwordHash ?? Self.decoyHash
        let matches = try await Self.offEventLoop { Bcrypt.verify(password, hash: hash) }
        return matches ? user : nil
    }

    /// The token a login form carries for the random value in its cookie (see the portal).
    public func loginFormToken(for nonce: String) -> String { secrets.authenticate(nonce, purpose: "portal login form") }

    /// What bcrypt reads of a password.
    public static let maxPasswordBytes = 72

    /// bcrypt costs tens of milliseconds of CPU by design: run on the blocking pool, so failing
    /// logins never hold the threads that serve pulls.
    static func offEventLoop<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }

    private static let decoyHash = Bcrypt.hash("portcullis-decoy-password", cost: 10)

    /// Starts a browser session: the cookie value to set, and the session's CSRF token.
    public func startSession(for subject: WebSessionRecord.Subject, now: Date = Date()) async throws -> (cookie: String, csrf: String) {
        let cookie = Self.randomToken(), csrf = Self.randomToken()
        try await store.createSession(WebSessionRecord(idHash: SecretBox.lookupHash(cookie), subject: subject, csrfToken: csrf,
                                                       expiresAt: now.addingTimeInterval(Self.sessionLifetime)))
        return (cookie, csrf)
    }

    /// The signed-in identity of a cookie, with the session's CSRF token; nil when the session
    /// is unknown, expired, or its user or license is gone.
    public func session(cookie: String, now: Date = Date()) async throws -> (identity: PortalIdentity, csrf: String)? {
        guard let session = try await store.session(idHash: SecretBox.lookupHash(cookie), now: now) else { return nil }
        switch session.subject {
        case .user(let id):
            guard let user = try await store.user(id: id) else { return nil }
            return (.user(user), session.csrfToken)
        case .customer(let id):
            guard let view = try? await customer(id: id), AccessRules.account(view.license, domainApp: nil, now: now) == .allow else { return nil }
            return (.customer(view), session.csrfToken)
        }
    }

    /// The customer whose session this was, when it ended because their license stopped being
    /// valid (expired, archived); the session is removed, so it cannot come back with the license.
    public func endedCustomerSession(cookie: String, now: Date = Date()) async throws -> CustomerView? {
        let idHash = SecretBox.lookupHash(cookie)
        guard let session = try await store.session(idHash: idHash, now: now), case .customer(let id) = session.subject,
              let view = try? await customer(id: id), AccessRules.account(view.license, domainApp: nil, now: now) != .allow else { return nil }
        try await store.deleteSession(idHash: idHash)
        return view
    }

    public func endSession(cookie: String) async throws {
        try await store.deleteSession(idHash: SecretBox.lookupHash(cookie))
    }

    public func audit(_ actor: String, _ action: String, _ subject: String) async throws {
        try await store.recordAudit(AuditRecord(actor: actor, action: action, subject: subject))
    }

    public func auditEvents(limit: Int = 200) async throws -> [AuditRecord] {
        try await store.auditEvents(limit: min(max(limit, 1), 1000))
    }

    /// A fresh random token (256 bits, URL-safe), e.g. for a login form's CSRF check.
    public static func newToken() -> String { randomToken() }

    static func randomToken() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
