// Package token is the token core of jwtauth: it issues and verifies RS256
// access tokens (RFC 7519 JWTs in RFC 7515 compact JWS form) against an RSA
// key set, and builds the key set's RFC 7517 JWK Set document.
//
//   - [Issuer] signs access tokens with the active key of a
//     [SigningKeySource] (a *keys.Manager), kid in the header.
//   - [Verifier] verifies them against a [KeySet] (keys.Set, keys.Manager or
//     remote.KeySet) with strict rules: RS256 only, exp required,
//     iss/aud/nbf/iat checked with leeway, canonical base64url, numeric
//     dates and unique member names only, tokens over 8 KiB refused before
//     any cryptography. A bounded cache of verified tokens
//     (VerifierConfig.CacheSize) answers a repeated token without an RSA
//     check, looking its key up and checking its times again on each hit.
//   - [Claims] are what a verified token says, with typed accessors for the
//     authorization claims of RFC 9068 (scope, roles, groups, entitlements).
//   - [VerifierTrace] tells metrics and logs what the verifier did.
//
// It has no HTTP server code, no metrics library and no account types: a
// service that only verifies tokens links this package and jwtauth/remote,
// not the account flow or its storage.
package token
