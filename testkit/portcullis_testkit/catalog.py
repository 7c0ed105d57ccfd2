"""Names of the repositories/tags the session upstream is populated with."""

THREE_REPO = "e2e/three-layer"  # 3-layer linux/amd64 OCI image, tag v1
MULTI_REPO = "e2e/multi-arch"  # OCI index linux/amd64 + linux/arm64, tag v1
BIG_REPO = "e2e/big-layer"  # single 64 MiB layer, tag v1
TAGGED_REPO = "e2e/tagged"  # the 3-layer image under many tags (tags/list pagination)
TAG = "v1"
TAGGED_TAGS = ["1.0", "alpha", "beta", "latest", "v1", "v2", "v3"]

BIG_LAYER_SIZE = 64 * 1024 * 1024
