import Testing
@testable import OCI

struct RepositoryPatternTests {
    @Test(arguments: [
        ("org/*", "org/api", true),
        ("org/*", "org/team/api", false),
        ("org/*", "org", false),
        ("org/*", "other/api", false),
        ("org/**", "org/api", true),
        ("org/**", "org/team/api", true),
        ("org/**", "org", true),
        ("org/**", "organisation/api", false),
        ("**/api", "a/b/api", true),
        ("**/api", "api", true),
        ("org/api-*", "org/api-server", true),
        ("org/api-*", "org/web-server", false),
        ("org/*-server", "org/api-server", true),
        ("library/nginx", "library/nginx", true),
        ("library/nginx", "library/nginx-extra", false),
        ("*", "nginx", true),
        ("*", "library/nginx", false),
        ("**", "any/depth/at/all", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
    ])
    func matches(pattern: String, repository: String, expected: Bool) throws {
        #expect(try RepositoryPattern(parsing: pattern).matches(repository) == expected)
    }

    @Test(arguments: ["", "Org/*", "org//api", "/org", "org/", "org/a**", "org/api:1", "org/api@x", "org/ api"])
    func rejects(pattern: String) {
        #expect(throws: RepositoryPatternError.self) { _ = try RepositoryPattern(parsing: pattern) }
    }
}
