package adaptertest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

// dpopURL is the URL httptest.NewRequest gives GET /me: the proofs' htu.
const dpopURL = "http://example.com/me"

// dpopAlgs is the algs attribute of the fixture's DPoP challenges.
const dpopAlgs = `algs="ES256 EdDSA"`

// BoundToken returns a valid access token for subject bound to the DPoP
// key whose RFC 7638 thumbprint is jkt (claim cnf.jkt, RFC 9449 §6.1).
func (f *Fixture) BoundToken(tb testing.TB, subject, jkt string) string {
	tb.Helper()
	return f.TokenWith(tb, subject, map[string]any{"cnf": map[string]string{"jkt": jkt}})
}

// dpopKey is a client's DPoP key and its thumbprint.
type dpopKey struct {
	key crypto.Signer
	jkt string
}

func newDPoPKey(t *testing.T) dpopKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	jkt, err := dpop.Thumbprint(k.Public())
	require.NoError(t, err)
	return dpopKey{k, jkt}
}

// proof returns a proof by k for method and htu, bound to tok.
func (k dpopKey) proof(t *testing.T, method, htu, tok string) string {
	t.Helper()
	p, err := dpop.NewProof(k.key, method, htu, dpop.ProofOptions{AccessToken: tok})
	require.NoError(t, err)
	return p
}

// withDPoP turns DPoP on with mode, over a fresh proof verifier.
func withDPoP(t *testing.T, mode authn.DPoPMode) func(*authn.Authenticator) {
	v, err := dpop.NewVerifier(dpop.Config{})
	require.NoError(t, err)
	return func(a *authn.Authenticator) { a.DPoP = &authn.DPoPConfig{Verifier: v, Mode: mode} }
}

// assertDPoPRefused checks a 401 with the RFC 9449 §7.1 challenge
// `DPoP error="<code>", algs="ES256 EdDSA"` (plus the error_description for
// invalid_token) and the body error code.
func assertDPoPRefused(t *testing.T, r *response, code string) {
	t.Helper()
	desc := assertError(t, r, http.StatusUnauthorized, code)
	want := `DPoP error="` + code + `", ` + dpopAlgs
	if code == "invalid_token" {
		want += `, error_description="` + desc + `"`
	}
	assert.Equal(t, []string{want}, r.Header.Values("WWW-Authenticate"), "body %s", r.Body)
}

func dpopHeaders(tok, proof string) []string {
	return []string{"Authorization", "DPoP " + tok, "DPoP", proof}
}

// testDPoPAllowed: DPoPAllowed, the default mode (RFC 9449 §7).
func testDPoPAllowed(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	c := serve(withDPoP(t, authn.DPoPAllowed))
	k, other := newDPoPKey(t), newDPoPKey(t)
	bound := f.BoundToken(t, "alice", k.jkt)
	get := func(h ...string) *response { return c.do(http.MethodGet, "/me", "", h...) }

	// A valid request, twice with fresh proofs (the second finds the token
	// in the verifier's cache), with the scheme in any case.
	p := k.proof(t, "GET", dpopURL, bound)
	assertMe(t, get(dpopHeaders(bound, p)...), "alice")
	assertMe(t, get("Authorization", "dpop "+bound, "DPoP", k.proof(t, "GET", dpopURL, bound)), "alice")

	// The cached token still needs a valid proof on every request.
	assertDPoPRefused(t, get(dpopHeaders(bound, p)...), "invalid_dpop_proof") // replayed
	assertDPoPRefused(t, get("Authorization", "DPoP "+bound), "invalid_dpop_proof")
	assertDPoPRefused(t, get(dpopHeaders(bound, other.proof(t, "GET", dpopURL, bound))...), "invalid_dpop_proof")
	assertDPoPRefused(t, get(dpopHeaders(bound, k.proof(t, "POST", dpopURL, bound))...), "invalid_dpop_proof")
	assertDPoPRefused(t, get(dpopHeaders(bound, k.proof(t, "GET", "https://example.com/me", bound))...), "invalid_dpop_proof")
	assertDPoPRefused(t, get(dpopHeaders(bound, k.proof(t, "GET", "http://example.com/other", bound))...), "invalid_dpop_proof")
	assertDPoPRefused(t, get(dpopHeaders(bound, k.proof(t, "GET", dpopURL, ""))...), "invalid_dpop_proof") // no ath
	two := k.proof(t, "GET", dpopURL, bound)
	assertDPoPRefused(t, get("Authorization", "DPoP "+bound, "DPoP", two, "DPoP", two), "invalid_dpop_proof")

	// A bound token as Bearer, with or without a proof (RFC 9449 §7.2).
	assertDPoPRefused(t, get(bearer(bound)...), "invalid_token")
	assertDPoPRefused(t, get("Authorization", "Bearer "+bound, "DPoP", k.proof(t, "GET", dpopURL, bound)), "invalid_token")
	assertDPoPRefused(t, get("x-access-token", bound), "invalid_token")

	// Unbound tokens pass as Bearer, not with the DPoP scheme nor a proof.
	plain := f.Token(t, "bob")
	assertMe(t, get(bearer(plain)...), "bob")
	assertDPoPRefused(t, get(dpopHeaders(plain, k.proof(t, "GET", dpopURL, plain))...), "invalid_token")
	assertDPoPRefused(t, get("Authorization", "Bearer "+plain, "DPoP", k.proof(t, "GET", dpopURL, plain)), "invalid_token")

	// A bad token with the DPoP scheme: invalid_token, DPoP challenge.
	assertDPoPRefused(t, get(dpopHeaders(bound+"x", k.proof(t, "GET", dpopURL, bound+"x"))...), "invalid_token")

	// No token: both challenges.
	r := get()
	assertError(t, r, http.StatusUnauthorized, "unauthorized")
	assert.Equal(t, []string{`Bearer realm="` + Realm + `"`, `DPoP ` + dpopAlgs}, r.Header.Values("WWW-Authenticate"))
}

// testDPoPRequired: DPoPRequired refuses bearer tokens; RequireDPoP does on one route.
func testDPoPRequired(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	k := newDPoPKey(t)
	bound, plain := f.BoundToken(t, "alice", k.jkt), f.Token(t, "bob")
	for name, c := range map[string]*client{
		"mode":  serve(withDPoP(t, authn.DPoPRequired)),
		"route": serve(withDPoP(t, authn.DPoPAllowed), authn.RequireDPoP()),
	} {
		t.Run(name, func(t *testing.T) {
			get := func(h ...string) *response { return c.do(http.MethodGet, "/me", "", h...) }
			assertMe(t, get(dpopHeaders(bound, k.proof(t, "GET", dpopURL, bound))...), "alice")
			assertDPoPRefused(t, get(bearer(plain)...), "invalid_token")
			assertDPoPRefused(t, get(bearer(bound)...), "invalid_token")
		})
	}
	r := serve(withDPoP(t, authn.DPoPRequired)).do(http.MethodGet, "/me", "")
	assertError(t, r, http.StatusUnauthorized, "unauthorized")
	assert.Equal(t, []string{`DPoP ` + dpopAlgs}, r.Header.Values("WWW-Authenticate"))
}

// testDPoPOff: without DPoP, a bound token is refused (it cannot be
// checked), the DPoP scheme is not read, unbound tokens work as before.
func testDPoPOff(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	c := serve(nil)
	k := newDPoPKey(t)
	bound := f.BoundToken(t, "alice", k.jkt)
	get := func(h ...string) *response { return c.do(http.MethodGet, "/me", "", h...) }
	assertInvalidToken(t, get(bearer(bound)...))
	assertNoToken(t, get(dpopHeaders(bound, k.proof(t, "GET", dpopURL, bound))...), defaultSources)
	assertMe(t, get(bearer(f.Token(t, "bob"))...), "bob")
	assertInvalidToken(t, serve(nil, authn.RequireDPoP()).do(http.MethodGet, "/me", "", bearer(f.Token(t, "bob"))...))
}
