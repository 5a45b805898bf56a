// Package jwtauth issues and verifies RS256 access tokens (RFC 7519 JWTs in
// RFC 7515 compact JWS form) signed by a rotating RSA key set, publishes the
// key set as an RFC 7517 JWKS, and runs the account flow (register, login,
// refresh, logout) over small store ports.
//
// [New] builds all of it from a store and an issuer URL, with the defaults
// of `jwtauth serve`, and runs its background work until [Service.Close];
// adapters/gin and adapters/nethttp mount the [Service] with MountService.
//
// The pieces, each usable alone (the token core lives in package
// jwtauth/token; the names below still reach it from here):
//
//   - [Issuer] signs access tokens with the active key of a [SigningKeySource]
//     (a *keys.Manager), kid in the header.
//   - [Verifier] verifies them against a [KeySet] with strict rules: RS256
//     only, exp required, iss/aud/nbf/iat checked with leeway, canonical
//     base64url, numeric dates and unique member names only, tokens over
//     8 KiB refused before any cryptography. A bounded cache of verified
//     tokens (VerifierConfig.CacheSize) answers a repeated token without an
//     RSA check, looking its key up and checking its times again on each hit.
//   - [JWKSHandler] and [DiscoveryHandler] serve /.well-known/jwks.json and
//     /.well-known/openid-configuration.
//   - [Accounts] runs the account flow (package jwtauth/account, with its
//     store ports); [Routes] maps all of it onto HTTP, answering each
//     account.Error with its status, and [Authenticator] is the middleware
//     core the adapters wrap.
//
// Verified claims travel in a request's context; read them with
// [ClaimsFromContext].
package jwtauth
