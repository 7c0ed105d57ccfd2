/// The shell commands the portals show a customer to copy: every value in them is quoted for a
/// POSIX shell, because some of them (a customer's email) are typed by people, and a pasted
/// command must do what it says and nothing else.
enum InstallCommands {
    /// `helm registry login`. Helm asks for the password itself (the license ID), so the
    /// command holds no placeholder to edit and the license goes into no shell history. Any
    /// username is accepted; the customer's email when there is one, as vendor docs show it.
    static func login(host: String, plainHTTP: Bool, username: String?) -> String {
        let user = username.flatMap { $0.isEmpty ? nil : $0 } ?? "customer"
        return "helm registry login \(quoted(host))\(plainHTTP ? " --plain-http" : "") --username \(quoted(user))"
    }

    static func install(chart: String, host: String, path: String, version: String, plainHTTP: Bool) -> String {
        "helm install \(quoted(chart)) \(quoted("oci://\(host)/\(path)")) --version \(quoted(version))\(plainHTTP ? " --plain-http" : "")"
    }

    /// `text` as one shell word: unchanged when it holds only characters no shell treats
    /// specially, else in single quotes (a single quote inside becomes `'\''`).
    static func quoted(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "@%+=:,./_-".unicodeScalars.contains(scalar))
        }
        // zsh expands a word starting with `=` (`=cmd` is a path lookup): quoted too.
        return plain && !text.hasPrefix("=") ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
