package authn

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// DPoPMode is an Authenticator's policy for DPoP-bound tokens (RFC 9449).
type DPoPMode int

const (
	// DPoPAllowed, the default: a bound token (cnf.jkt) needs
	// Authorization: DPoP <token> and a valid proof by its key; an unbound
	// token passes as a bearer token, as without DPoP.
	DPoPAllowed DPoPMode = iota
	// DPoPRequired: only bound tokens with a valid proof pass; an unbound
	// token is refused with 401 invalid_token and a DPoP challenge.
	DPoPRequired
)

// DPoPConfig turns on DPoP (RFC 9449 §7) for an Authenticator.
//
// Without it (Authenticator.DPoP nil, DPoP off), the Authorization DPoP
// scheme is not read and a token carrying a confirmation claim (cnf) is
// refused with 401 invalid_token: it cannot be checked, and RFC 9449 §7.2
// forbids accepting a bound token as a bearer token.
type DPoPConfig struct {
	// Verifier checks the proofs: algorithms, iat window, replay cache
	// (per process by default: see dpop.ReplayCache), nonces. Required.
	Verifier *dpop.Verifier
	// Mode is DPoPAllowed (the default) or DPoPRequired.
	Mode DPoPMode
	// PublicURL is the base URL clients address this service at, such as
	// "https://api.example.com/orders-svc": a proof's htu must equal it
	// followed by the request's path (the query is ignored). Set it behind
	// a reverse proxy that terminates TLS, rewrites the host or strips a
	// path prefix: the public URL, not the one the service sees, decides.
	// Empty means the request's own: https when it came over TLS, else
	// http, then Host and the path. Forwarded headers are never trusted.
	PublicURL string
}

// Errors of a refused DPoP request (RFC 9449 §7.1); all are answered 401
// with a DPoP challenge. A refused proof wraps dpop.ErrInvalidProof or
// dpop.ErrUseNonce instead.
var (
	// ErrBoundTokenAsBearer: a DPoP-bound token (cnf) came without the DPoP
	// scheme (as Bearer, in a cookie, x-access-token or the query), or to
	// an Authenticator without DPoP, or bound by a method other than jkt.
	ErrBoundTokenAsBearer = errors.New("authn: a DPoP-bound token needs Authorization: DPoP and a proof")
	// ErrUnboundDPoPToken: an unbound token came with the DPoP scheme,
	// which is for bound tokens only (RFC 9449 §7.1).
	ErrUnboundDPoPToken = errors.New("authn: the DPoP scheme needs a DPoP-bound token")
	// ErrDPoPRequired: an unbound (bearer) token reached an Authenticator
	// or a route that requires DPoP.
	ErrDPoPRequired = errors.New("authn: this resource requires a DPoP-bound token")
	// errBearerWithProof: a DPoP header on a request using another scheme.
	errBearerWithProof = errors.New("authn: a DPoP proof needs Authorization: DPoP")
	// errDPoPUnavailable: the replay cache failed (503).
	errDPoPUnavailable = errors.New("authn: DPoP proofs cannot be checked now")
)

// dpopSchemeError marks an error of a request that used the DPoP scheme, so
// that Challenge answers with a DPoP challenge.
type dpopSchemeError struct{ err error }

func (e *dpopSchemeError) Error() string { return e.err.Error() }
func (e *dpopSchemeError) Unwrap() error { return e.err }

// dpopCredentials is bearerCredentials for the DPoP scheme (RFC 9449 §7.1).
func dpopCredentials(v string) (string, bool) {
	v = strings.TrimSpace(v)
	i := strings.IndexFunc(v, unicode.IsSpace)
	if i < 0 || !strings.EqualFold(v[:i], "DPoP") {
		return "", false
	}
	return strings.TrimSpace(v[i:]), true
}

// isDPoPScheme reports whether the Authorization value v uses the DPoP scheme.
func isDPoPScheme(v string) bool {
	_, ok := dpopCredentials(v)
	return ok
}

// checkDPoP applies a's DPoP policy to a verified token raw with claims c,
// presented with the DPoP scheme or not. The proof is checked on every
// request, cached token or not.
func (a *Authenticator) checkDPoP(r *http.Request, raw string, c *token.Claims, scheme bool) error {
	cfg := a.DPoP
	if cfg == nil {
		if c.Bound() {
			return ErrBoundTokenAsBearer
		}
		return nil
	}
	if !scheme {
		switch {
		case c.Bound():
			return ErrBoundTokenAsBearer
		case len(r.Header.Values("DPoP")) > 0:
			return errBearerWithProof
		case cfg.Mode == DPoPRequired:
			return ErrDPoPRequired
		}
		return nil
	}
	if !c.Bound() {
		return &dpopSchemeError{ErrUnboundDPoPToken}
	}
	if c.JKT() == "" {
		return &dpopSchemeError{ErrBoundTokenAsBearer}
	}
	_, err := cfg.Verifier.Verify(r.Context(), dpop.ProofRequest{
		Header: r.Header.Values("DPoP"), Method: r.Method, URL: cfg.htu(r), AccessToken: raw, JKT: c.JKT(),
	})
	if err != nil && dpop.ErrorCode(err) == "" {
		return errors.Join(errDPoPUnavailable, err)
	}
	if err != nil {
		return &dpopSchemeError{err}
	}
	return nil
}

// htu returns the URL r's proof must name (its query is ignored by Verify).
func (cfg *DPoPConfig) htu(r *http.Request) string {
	path := r.URL.EscapedPath()
	if cfg.PublicURL != "" {
		return strings.TrimSuffix(cfg.PublicURL, "/") + path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// dpopChallenge writes the 401 (or 503) for a DPoP refusal err and reports
// whether err was one.
func (a *Authenticator) dpopChallenge(w http.ResponseWriter, err error) bool {
	var algs []string
	if a.DPoP != nil && a.DPoP.Verifier != nil {
		algs = a.DPoP.Verifier.Algs()
	} else {
		algs = dpop.DefaultAlgs
	}
	var de *dpop.Error
	switch {
	case errors.As(err, &de):
		code := dpop.ErrorCode(err)
		if de.Nonce != "" {
			w.Header().Set("DPoP-Nonce", de.Nonce)
		}
		w.Header().Set("WWW-Authenticate", dpop.Challenge(code, algs))
		WriteError(w, &Error{Status: http.StatusUnauthorized, Code: code, Description: "the DPoP proof is not valid: " + quoteSafe(de.Description())})
	case errors.Is(err, ErrBoundTokenAsBearer), errors.Is(err, ErrUnboundDPoPToken), errors.Is(err, ErrDPoPRequired), errors.Is(err, errBearerWithProof):
		desc := strings.TrimPrefix(err.Error(), "authn: ")
		if a.DPoP == nil {
			// DPoP off: no DPoP challenge to offer.
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+quoteSafe(a.realm())+`", error="invalid_token", error_description="`+quoteSafe(desc)+`"`)
			WriteError(w, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc})
			return true
		}
		w.Header().Set("WWW-Authenticate", dpop.Challenge("invalid_token", algs)+`, error_description="`+quoteSafe(desc)+`"`)
		WriteError(w, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc})
	case errors.Is(err, errDPoPUnavailable):
		// The replay cache failed: the server's fault, not the proof's.
		WriteError(w, &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "DPoP proofs cannot be checked right now; try again later", RetryAfter: 5 * time.Second})
	case errors.As(err, new(*dpopSchemeError)):
		desc := describe(err)
		w.Header().Set("WWW-Authenticate", dpop.Challenge("invalid_token", algs)+`, error_description="`+quoteSafe(desc)+`"`)
		WriteError(w, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc})
	default:
		return false
	}
	return true
}

// realm is a.Realm or its default.
func (a *Authenticator) realm() string {
	if a.Realm == "" {
		return "jwtauth"
	}
	return a.Realm
}
