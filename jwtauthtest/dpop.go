package jwtauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

// A DPoPKey is the key pair of a DPoP client (RFC 9449), for tests: a
// fresh ECDSA P-256 key (proofs signed ES256, RFC 7518 §3.4) that makes
// the proofs of the requests of one client. Tokens bound to it carry its
// thumbprint as cnf.jkt (Server.MintBound, or Token.JKT set to JKT()).
//
// A proof's iat comes from the key's clock: the Server's (Server.NewDPoPKey),
// for a dpop.Verifier on the same clock (Server.DPoPVerifier), so that
// proofs stay fresh when Advance moves the clock; or the real one
// (NewDPoPKey), for the application's own dpop.Verifier on time.Now. Its
// methods are safe for concurrent use.
type DPoPKey struct {
	tb  testing.TB
	key *ecdsa.PrivateKey
	jkt string
	now func() time.Time
}

// NewDPoPKey returns a fresh P-256 DPoPKey whose proofs carry iat
// time.Now(): use it with a dpop.Verifier on the real clock. An error fails
// the test through tb.Fatalf; tb may be nil in an Example, errors then
// panic.
func NewDPoPKey(tb testing.TB) *DPoPKey {
	if tb != nil {
		tb.Helper()
	}
	return newDPoPKey(tb, time.Now)
}

// NewDPoPKey returns a fresh P-256 DPoPKey whose proofs carry iat
// s.Now(), for a dpop.Verifier on the server's clock (DPoPVerifier, or
// dpop.Config.Now set to s.Now).
func (s *Server) NewDPoPKey() *DPoPKey {
	if s.tb != nil {
		s.tb.Helper()
	}
	return newDPoPKey(s.tb, s.Now)
}

func newDPoPKey(tb testing.TB, now func() time.Time) *DPoPKey {
	k := &DPoPKey{tb: tb, now: now}
	var err error
	if k.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err == nil {
		k.jkt, err = dpop.Thumbprint(k.key.Public())
	}
	if err != nil {
		k.fatalf("DPoP key: %v", err)
	}
	return k
}

// JKT returns the key's RFC 7638 SHA-256 thumbprint, base64url without
// padding (43 characters): the cnf.jkt of the tokens bound to it (RFC 9449
// §6.1).
func (k *DPoPKey) JKT() string { return k.jkt }

// Signer returns the private key, for dpop.NewProof with options ProofWith
// does not cover, or for a client under test that makes its own proofs.
func (k *DPoPKey) Signer() crypto.Signer { return k.key }

// Proof returns a fresh DPoP proof (RFC 9449 §4.2), the value of the DPoP
// header of one request: htm method, htu url (its query and fragment left
// out; an absolute URL), a new random jti, iat from the key's clock in
// whole seconds, and, when accessToken is not empty, ath its SHA-256 hash
// (requests to a resource with a bound token; "" at /login and /refresh).
// A url that is not absolute fails the test.
func (k *DPoPKey) Proof(method, url, accessToken string) string {
	if k.tb != nil {
		k.tb.Helper()
	}
	return k.ProofWith(method, url, dpop.ProofOptions{AccessToken: accessToken})
}

// ProofWith is Proof with every option of dpop.NewProof: the server's
// nonce after a use_dpop_nonce answer (RFC 9449 §8), a chosen jti, a
// chosen iat (opts.Now; default the key's clock). opts.Alg must be empty
// or ES256.
func (k *DPoPKey) ProofWith(method, url string, opts dpop.ProofOptions) string {
	if k.tb != nil {
		k.tb.Helper()
	}
	if opts.Now.IsZero() {
		opts.Now = k.now()
	}
	p, err := dpop.NewProof(k.key, method, url, opts)
	if err != nil {
		k.fatalf("DPoP proof: %v", err)
	}
	return p
}

// Authorize makes req a DPoP request with accessToken (RFC 9449 §7.1): it
// sets Authorization: DPoP <accessToken> and DPoP: a fresh proof for req's
// method and URL, bound to the token (ath). With accessToken "" it sets
// the DPoP header only, the request of a token endpoint (/login, /refresh,
// RFC 9449 §5). The URL is req.URL when absolute (http.NewRequest with
// srv.URL + path); otherwise, as httptest.NewRequest leaves it, http (https
// when req.TLS is set) :// req.Host and req.URL's escaped path, which is
// what an authn.DPoPConfig without PublicURL expects. Call it again for
// every request: a proof is good once.
func (k *DPoPKey) Authorize(req *http.Request, accessToken string) {
	if k.tb != nil {
		k.tb.Helper()
	}
	if accessToken != "" {
		req.Header.Set("Authorization", "DPoP "+accessToken)
	}
	req.Header.Set("DPoP", k.Proof(req.Method, requestURL(req), accessToken))
}

// requestURL is the htu of req as Authorize names it.
func requestURL(req *http.Request) string {
	if req.URL.IsAbs() {
		return req.URL.String()
	}
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.Host + req.URL.EscapedPath()
}

func (k *DPoPKey) fatalf(format string, args ...any) {
	if k.tb == nil {
		panic(fmt.Sprintf("jwtauthtest: "+format, args...))
	}
	k.tb.Helper()
	k.tb.Fatalf("jwtauthtest: "+format, args...)
}

// MintBound is Mint of tok bound to key: tok.JKT set to key.JKT(), the
// claim cnf {"jkt": …} (RFC 9449 §6.1). Send it with key.Authorize.
func (s *Server) MintBound(tok Token, key *DPoPKey) string {
	if s.tb != nil {
		s.tb.Helper()
	}
	tok.JKT = key.JKT()
	return s.Mint(tok)
}

// DPoPVerifier returns the server's DPoP proof verifier, made on the
// first call and the same afterwards: dpop.NewVerifier's defaults (ES256
// and EdDSA, iat at most 60 s old and 5 s ahead, no nonces) on the
// server's clock, with one replay cache of 10,000 proofs for the server's
// life. Put it in an authn.DPoPConfig beside Verifier, with keys from
// NewDPoPKey (the method), so that proofs and tokens follow Advance alike:
//
//	auth := &authn.Authenticator{Verifier: srv.Verifier(),
//		DPoP: &authn.DPoPConfig{Verifier: srv.DPoPVerifier()}}
//
// For nonces or other algorithms, build your own with dpop.Config{Now: srv.Now, …}.
func (s *Server) DPoPVerifier() *dpop.Verifier {
	if s.tb != nil {
		s.tb.Helper()
	}
	v, err := s.dpop()
	if err != nil {
		s.fatalf("DPoP verifier: %v", err)
	}
	return v
}
