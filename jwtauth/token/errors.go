package token

import "errors"

// Token verification errors. Verify returns them wrapped with detail; test
// with errors.Is. None of them ever contains key material.
var (
	// ErrTokenMissing: the request carried no token.
	ErrTokenMissing = errors.New("jwtauth: no access token")
	// ErrTokenTooLarge: the token is over MaxTokenSize bytes; it was refused
	// before any decoding or cryptography.
	ErrTokenTooLarge = errors.New("jwtauth: token too large")
	// ErrTokenMalformed: not a compact JWS of three canonical base64url
	// segments holding JSON objects with unique members and well-typed claims.
	ErrTokenMalformed = errors.New("jwtauth: malformed token")
	// ErrUnsupportedAlgorithm: the header's alg is not one the verifier allows
	// (RS256 by default; "none" and HMAC are never allowed).
	ErrUnsupportedAlgorithm = errors.New("jwtauth: unsupported signing algorithm")
	// ErrUnsupportedCritical: the header lists a crit extension (RFC 7515
	// §4.1.11) the verifier does not understand, or asks for an unencoded
	// payload (RFC 7797).
	ErrUnsupportedCritical = errors.New("jwtauth: unsupported critical header")
	// ErrUnknownKey: no key of the key set has the header's kid (or the key
	// was revoked).
	ErrUnknownKey = errors.New("jwtauth: unknown signing key")
	// ErrInvalidSignature: the signature does not verify with the kid's key.
	ErrInvalidSignature = errors.New("jwtauth: invalid signature")
	// ErrTokenExpired: now is past exp plus the leeway.
	ErrTokenExpired = errors.New("jwtauth: token expired")
	// ErrTokenNotYetValid: nbf or iat lies beyond now plus the leeway.
	ErrTokenNotYetValid = errors.New("jwtauth: token not yet valid")
	// ErrInvalidIssuer: iss is missing or not the expected issuer.
	ErrInvalidIssuer = errors.New("jwtauth: invalid issuer")
	// ErrInvalidAudience: aud is missing or names none of the expected audiences.
	ErrInvalidAudience = errors.New("jwtauth: invalid audience")
	// ErrInvalidClaims: Issuer.IssueWith (and so a login or refresh with
	// account.Config.Claims) refused extra claims: a registered claim, an
	// ill-typed scope, roles, groups or entitlements, or a value JSON cannot
	// encode. Nothing was issued.
	ErrInvalidClaims = errors.New("jwtauth: invalid extra claims")
	// ErrMissingClaim: a required claim (exp always) is absent.
	ErrMissingClaim = errors.New("jwtauth: missing required claim")
	// ErrStoreUnavailable wraps failures to reach a store (of keys, users
	// or refresh tokens: network, closed pool); a KeySet reports it wrapped
	// in ErrUnknownKey, and the HTTP layer answers it with 503, not 401.
	ErrStoreUnavailable = errors.New("jwtauth: store unavailable")
)
