package jwtauth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

// DPoPMode is a Service's DPoP policy (RFC 9449, docs/dpop.md), Config.DPoP;
// `jwtauth serve --dpop off|allowed|required` (JWTAUTH_DPOP).
type DPoPMode int

const (
	// DPoPAllowed, the default: /login and /refresh bind the tokens of a
	// request with a valid DPoP proof (token_type "DPoP", cnf.jkt, the
	// refresh family bound to the key) and issue bearer tokens to one
	// without; the Service's Authenticator accepts both, a bound token only
	// with a proof by its key.
	DPoPAllowed DPoPMode = iota
	// DPoPOff: the DPoP header is not read, every token is a bearer token,
	// and the Authenticator refuses bound tokens (RFC 9449 §7.2).
	DPoPOff
	// DPoPRequired: /login and /refresh without a proof answer 400
	// invalid_dpop_proof, and the Authenticator refuses bearer tokens.
	DPoPRequired
)

// String returns "allowed", "off" or "required".
func (m DPoPMode) String() string {
	switch m {
	case DPoPAllowed:
		return "allowed"
	case DPoPOff:
		return "off"
	case DPoPRequired:
		return "required"
	}
	return fmt.Sprintf("DPoPMode(%d)", int(m))
}

// ParseDPoPMode reads "off", "allowed" or "required" (the values of
// `serve --dpop`); anything else is an error.
func ParseDPoPMode(s string) (DPoPMode, error) {
	for _, m := range []DPoPMode{DPoPOff, DPoPAllowed, DPoPRequired} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("jwtauth: DPoP mode %q: want off, allowed or required", s)
}

// DPoPIssuing is how Routes checks the DPoP proofs (RFC 9449 §5) of POST
// /login and POST /refresh (RoutesConfig.DPoP); New sets it from
// Config.DPoP. A valid proof binds the tokens to its key (docs/dpop.md,
// "Issuing"); an invalid one is answered 400 invalid_dpop_proof before
// anything is spent.
type DPoPIssuing struct {
	// Verifier checks the proofs (its dpop.Config.ReplayTimeout bounds
	// the replay cache, a store's table in New). Required: Routes panics
	// without it. It may be the routes' Authenticator's or its own (New
	// gives /login and /refresh the store's shared replay cache and the
	// Authenticator a per-process one: a proof names its htu, so the two
	// never see the same proof).
	Verifier *dpop.Verifier
	// Issuer is the issuer URL, the base of the htu: a proof's htu must be
	// Issuer + "/login" or Issuer + "/refresh", whatever Host the request
	// came with (the URL the browser sees, behind a proxy). Required: an
	// absolute http or https URL, else Routes panics.
	Issuer string
	// Required refuses /login and /refresh without a proof (400
	// invalid_dpop_proof), as DPoPRequired.
	Required bool
}

// resolve returns the runtime form of d, nil for nil.
func (d *DPoPIssuing) resolve() *dpopIssuing {
	if d == nil {
		return nil
	}
	if d.Verifier == nil {
		panic("jwtauth: RoutesConfig.DPoP.Verifier is required")
	}
	if u, err := url.Parse(d.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		panic(fmt.Sprintf("jwtauth: RoutesConfig.DPoP.Issuer %q is not an absolute http or https URL such as https://auth.example.com", d.Issuer))
	}
	return &dpopIssuing{v: d.Verifier, required: d.Required, base: strings.TrimSuffix(d.Issuer, "/")}
}

// dpopIssuing checks the DPoP proofs of /login and /refresh (RFC 9449 §5).
type dpopIssuing struct {
	v        *dpop.Verifier
	required bool
	// base is the issuer URL without a trailing slash: a proof's htu is
	// base + the endpoint's path, whatever Host the request came with.
	base string
}

// proof verifies the request's DPoP proof for the endpoint at path (htm
// POST, htu base+path, no ath) and returns r with the proof key's
// thumbprint in its context for the account flow (account.ContextWithDPoP)
// and that thumbprint, or writes the refusal and returns false: 400
// invalid_dpop_proof (or use_dpop_nonce with DPoP-Nonce) with a DPoP
// challenge (RFC 9449 §5, §8),
// or 503 when the replay cache fails. Without a DPoP header it returns r
// unchanged and "", unless proofs are required. A nil d (DPoP off) reads
// no header.
func (d *dpopIssuing) proof(w http.ResponseWriter, r *http.Request, a *account.Accounts, op, path string) (*http.Request, string, bool) {
	if d == nil {
		return r, "", true
	}
	hs := r.Header.Values("DPoP")
	if len(hs) == 0 {
		if !d.required {
			return r, "", true
		}
		d.refuse(w, a, op, "invalid_dpop_proof", "this server requires a DPoP proof (RFC 9449)", "")
		return r, "", false
	}
	p, err := d.v.Verify(r.Context(), dpop.ProofRequest{Header: hs, Method: r.Method, URL: d.base + path})
	if err == nil {
		return r.WithContext(account.ContextWithDPoP(r.Context(), p.JKT)), p.JKT, true
	}
	var de *dpop.Error
	switch code := dpop.ErrorCode(err); {
	case code == "" || !errors.As(err, &de):
		slog.Error("DPoP replay cache failed", "err", err)
		a.Refused(op, "unavailable")
		WriteError(w, &authn.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "the DPoP proof cannot be checked now; try again later", RetryAfter: storeRetryAfter})
	case code == "use_dpop_nonce":
		d.refuse(w, a, op, code, "send a DPoP proof with the server's nonce (the DPoP-Nonce header)", de.Nonce)
	default:
		d.refuse(w, a, op, code, "the DPoP proof is not valid: "+de.Description(), "")
	}
	return r, "", false
}

// refuse answers 400 with code and desc, a DPoP challenge and, when nonce
// is set, the DPoP-Nonce header.
func (d *dpopIssuing) refuse(w http.ResponseWriter, a *account.Accounts, op, code, desc, nonce string) {
	if nonce != "" {
		w.Header().Set("DPoP-Nonce", nonce)
	}
	w.Header().Set("WWW-Authenticate", dpop.Challenge(code, d.v.Algs()))
	a.Refused(op, "invalid_dpop_proof")
	WriteError(w, &authn.Error{Status: http.StatusBadRequest, Code: code, Description: desc})
}

// answer returns whether the refresh token can never work on this
// server, and the error to answer for err, the account flow's. With DPoP off
// (a nil d) a family bound to a key (ErrInvalidDPoPProof) is such a token:
// no proof will ever be read here, so the answer says to log in again
// rather than to send a proof, and cookie mode clears the cookie.
func (d *dpopIssuing) answer(err error) (bool, error) {
	if d != nil || !errors.Is(err, account.ErrInvalidDPoPProof) {
		return false, err
	}
	return true, &authn.Error{Status: http.StatusBadRequest, Code: "invalid_dpop_proof",
		Description: "this refresh token is bound to a DPoP key, and this server does not accept DPoP proofs: log in again"}
}

// challenge adds the DPoP challenge to the answer of err, the account
// flow's, when it is ErrInvalidDPoPProof (a bound refresh token without a
// proof by its key, or account.ErrUnboundFamily).
func (d *dpopIssuing) challenge(w http.ResponseWriter, err error) {
	if d != nil && errors.Is(err, account.ErrInvalidDPoPProof) {
		w.Header().Set("WWW-Authenticate", dpop.Challenge("invalid_dpop_proof", d.v.Algs()))
	}
}
