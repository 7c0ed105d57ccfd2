import Testing
@testable import Bundles

/// Which of an index's platforms a bundle takes: `linux/arm64` asked for takes every variant of
/// arm64 (indexes commonly say `linux/arm64/v8`); a variant asked for takes only itself.
@Suite struct PlatformChoiceTests {
    @Test func aPlatformWithoutAVariantTakesEveryVariant() {
        #expect(BundleBuilder.isWanted("linux/arm64/v8", ["linux/arm64"]))
        #expect(BundleBuilder.isWanted("linux/arm64", ["linux/arm64"]))
        #expect(BundleBuilder.isWanted("linux/arm/v7", ["linux/amd64", "linux/arm/v7"]))
        #expect(!BundleBuilder.isWanted("linux/arm/v6", ["linux/arm/v7"]))
        #expect(!BundleBuilder.isWanted("linux/arm64", ["linux/arm64/v8"]), "a variant asked for is not a platform that names none")
        #expect(!BundleBuilder.isWanted("windows/amd64", ["linux/amd64"]))
        #expect(!BundleBuilder.isWanted("unknown/unknown", ["linux/amd64"]))
    }
}
