// Registry tokens live in a module of their own (it depends on JWTKit and Crypto only, so the
// fuzzer can build it alone); everything that authorizes through Access sees them as before.
@_exported import RegistryTokens
