/// This build's version: `portcullis --version`, the SDK's `/healthz`, the SDK subchart's appVersion.
public let portcullisVersion = "0.1.0"
