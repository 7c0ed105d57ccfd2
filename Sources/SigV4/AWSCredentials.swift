import Foundation

/// AWS credentials: an access key, its secret, and a session token for temporary credentials.
public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// From the standard variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> AWSCredentials? {
        guard let id = env["AWS_ACCESS_KEY_ID"], !id.isEmpty, let secret = env["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
            return nil
        }
        let token = env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
    }
}

/// Where an AWS service is reached, as the standard variables say.
public enum AWSEndpoints {
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    public static func region(_ env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        [env["AWS_REGION"], env["AWS_DEFAULT_REGION"]].compactMap { $0 }.first { !$0.isEmpty }
    }

    /// `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`: a non-AWS endpoint (a local
    /// S3-compatible store, a test server).
    public static func override(service: String, _ env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        [env["AWS_ENDPOINT_URL_" + service.uppercased()], env["AWS_ENDPOINT_URL"]].compactMap { $0 }.first { !$0.isEmpty }
    }
}
