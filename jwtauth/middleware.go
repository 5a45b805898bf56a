package jwtauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Authenticator is the core of the adapters' middleware: it takes the token
// from a request (RFC 6750 §2.1 Authorization: Bearer, or the tutorial's
// x-access-token header), verifies it, and answers failures with 401 and an
// RFC 6750 §3 WWW-Authenticate challenge.
type Authenticator struct {
	Verifier TokenVerifier
	// Realm is the challenge's realm; default "jwtauth".
	Realm string
}

// TokenFromRequest returns the access token of r: the credentials of an
// "Authorization: Bearer" header (scheme case-insensitive) or else the
// x-access-token header. It returns ErrTokenMissing when there is neither,
// and ErrTokenMalformed for several Authorization or x-access-token headers
// or two different tokens (RFC 6750 §2: one method per request).
func TokenFromRequest(r *http.Request) (string, error) {
	var bearer string
	if vals := r.Header.Values("Authorization"); len(vals) > 1 {
		return "", errors.Join(ErrTokenMalformed, errors.New("more than one Authorization header"))
	} else if len(vals) == 1 {
		scheme, cred, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
		if strings.EqualFold(scheme, "Bearer") {
			bearer = strings.TrimSpace(cred)
			if bearer == "" {
				return "", ErrTokenMissing
			}
		}
	}
	var alt string
	if vals := r.Header.Values("x-access-token"); len(vals) > 1 {
		return "", errors.Join(ErrTokenMalformed, errors.New("more than one x-access-token header"))
	} else if len(vals) == 1 {
		alt = strings.TrimSpace(vals[0])
	}
	switch {
	case bearer != "" && alt != "" && alt != bearer:
		return "", errors.Join(ErrTokenMalformed, errors.New("two different tokens in one request"))
	case bearer != "":
		return bearer, nil
	case alt != "":
		return alt, nil
	}
	return "", ErrTokenMissing
}

// Authenticate verifies r's token and returns r with the claims in its
// context (see ClaimsFromContext) and the claims themselves.
func (a *Authenticator) Authenticate(r *http.Request) (*http.Request, *Claims, error) {
	raw, err := TokenFromRequest(r)
	if err != nil {
		return r, nil, err
	}
	c, err := a.Verifier.Verify(r.Context(), raw)
	if err != nil {
		return r, nil, err
	}
	return r.WithContext(ContextWithClaims(r.Context(), c)), c, nil
}

// Challenge writes the answer for a failed Authenticate: 401 with
// `WWW-Authenticate: Bearer realm="…"` alone when the request had no token,
// else with error="invalid_token" and an error_description, the JSON body
// carrying the same code and description; and 503 temporarily_unavailable
// (no access either) when the keys could not be consulted (a remote JWKS
// with no usable set, an unreachable store, a timeout).
func (a *Authenticator) Challenge(w http.ResponseWriter, err error) {
	realm := a.Realm
	if realm == "" {
		realm = "jwtauth"
	}
	if errors.Is(err, ErrKeySetUnavailable) || errors.Is(err, ErrStoreUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		// The token may well be good: the keys to check it are out of
		// reach. Still no access, but not "your token is bad" either.
		WriteError(w, &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "the signing keys cannot be checked right now; try again later", RetryAfter: 5 * time.Second})
		return
	}
	if errors.Is(err, ErrTokenMissing) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+quoteSafe(realm)+`"`)
		WriteError(w, &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Description: "an access token is required (Authorization: Bearer <token> or x-access-token)"})
		return
	}
	desc := describe(err)
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+quoteSafe(realm)+`", error="invalid_token", error_description="`+quoteSafe(desc)+`"`)
	WriteError(w, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc})
}

// describe turns a verification error into a short client-facing sentence.
func describe(err error) string {
	for _, c := range []struct {
		err  error
		desc string
	}{
		{ErrTokenExpired, "the token has expired"},
		{ErrTokenNotYetValid, "the token is not valid yet"},
		{ErrTokenTooLarge, "the token is too large"},
		{ErrUnsupportedAlgorithm, "the token's signing algorithm is not accepted"},
		{ErrUnsupportedCritical, "the token uses an unsupported critical header"},
		{ErrUnknownKey, "the token was signed by an unknown or revoked key"},
		{ErrInvalidSignature, "the token's signature is invalid"},
		{ErrInvalidIssuer, "the token's issuer is not accepted"},
		{ErrInvalidAudience, "the token's audience is not accepted"},
		{ErrMissingClaim, "the token lacks a required claim"},
		{ErrTokenMalformed, "the token is malformed"},
	} {
		if errors.Is(err, c.err) {
			return c.desc
		}
	}
	return "the token is invalid"
}

// quoteSafe keeps only the characters RFC 6750 §3 allows in a quoted
// error_description (%x20-21 / %x23-5B / %x5D-7E).
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
