package adaptertest

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

// proofTarget is the request a row of dpopBadInputs spoils: at a resource
// a GET of dpopURL with a bound access token, at a token endpoint a POST
// of the issuer's /login or /refresh without one.
type proofTarget struct {
	key, other dpopKey // the client's key (the token's or the family's) and another
	method     string
	url        string
	token      string    // the bound access token at a resource; "" at a token endpoint
	plain      string    // an unbound access token (resource rows only)
	now        time.Time // the proof verifier's clock
	usedJTI    string    // the jti of a proof by key the server accepted already
}

// proof returns a proof by k for x's request, iat at x.now, ath of x.token,
// as edit changes the options.
func (x *proofTarget) proof(t *testing.T, k dpopKey, edit func(*dpop.ProofOptions)) string {
	t.Helper()
	opts := dpop.ProofOptions{AccessToken: x.token, Now: x.now}
	if edit != nil {
		edit(&opts)
	}
	p, err := dpop.NewProof(k.key, x.method, x.url, opts)
	require.NoError(t, err)
	return p
}

// forge returns a proof by x.key for x's request whose header and claims
// edit changes, signed as alg says: "ES256" by the key (R‖S), "HS256" with
// HMAC-SHA256 over a secret, "none" not at all (an empty signature).
func (x *proofTarget) forge(t *testing.T, alg string, edit func(header, claims map[string]any)) string {
	t.Helper()
	priv := x.key.key.(*ecdsa.PrivateKey)
	pub, err := priv.PublicKey.Bytes() // 0x04 ‖ X ‖ Y
	require.NoError(t, err)
	b64 := base64.RawURLEncoding.EncodeToString
	jwk := map[string]any{"kty": "EC", "crv": "P-256", "x": b64(pub[1:33]), "y": b64(pub[33:])}
	header := map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": jwk}
	claims := map[string]any{"jti": rand.Text(), "htm": x.method, "htu": x.url, "iat": x.now.Unix()}
	if x.token != "" {
		claims["ath"] = dpop.ATH(x.token)
	}
	if edit != nil {
		edit(header, claims)
	}
	hb, err := json.Marshal(header)
	require.NoError(t, err)
	cb, err := json.Marshal(claims)
	require.NoError(t, err)
	input := b64(hb) + "." + b64(cb)
	var sig []byte
	switch alg {
	case "ES256":
		digest := sha256.Sum256([]byte(input))
		der, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
		require.NoError(t, err)
		var rs struct{ R, S *big.Int }
		_, err = asn1.Unmarshal(der, &rs)
		require.NoError(t, err)
		sig = make([]byte, 64)
		rs.R.FillBytes(sig[:32])
		rs.S.FillBytes(sig[32:])
	case "HS256":
		mac := hmac.New(sha256.New, []byte("a secret the client and the server would share"))
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	}
	return input + "." + b64(sig)
}

// proofCase is one row of dpopBadInputs.
type proofCase struct {
	name string
	// proofs returns the values of the request's DPoP header (none, one or two).
	proofs func(t *testing.T, x *proofTarget) []string
	// authorization is the Authorization header at a resource; nil means
	// "DPoP " + x.token.
	authorization func(x *proofTarget) string
	// resource is the error of the 401 at a resource route, under the
	// DPoP challenge: invalid_dpop_proof or invalid_token; "" when the row
	// is not one for a resource.
	resource string
	// login and refresh: the row is one for /login, for /refresh (a
	// refresh token bound to x.key), answered 400 invalid_dpop_proof.
	login, refresh bool
	// reason is what the answer's error_description says, the refused
	// proof's dpop.Error.Reason or the middleware's; refreshReason, when
	// set, what /refresh says instead (the account flow's answer for a
	// bound refresh token without a proof by its key).
	reason, refreshReason string
}

func one(p string) []string { return []string{p} }

// dpopBadInputs is the DPoP bad-input table of issue 24, run by both
// adapters at a resource route behind the middleware (testDPoPBadInput:
// 401 with the RFC 9449 §7.1 challenge, the handler not reached) and at
// /login and /refresh of a mounted Service (testServiceDPoPBadInput: 400
// invalid_dpop_proof, RFC 9449 §5, with nothing spent).
var dpopBadInputs = []proofCase{
	{name: "no proof", reason: "no DPoP header", refreshReason: "this refresh token is bound to a DPoP key", resource: "invalid_dpop_proof", refresh: true,
		proofs: func(*testing.T, *proofTarget) []string { return nil }},
	{name: "wrong htm", reason: "htm does not match the request method", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.forge(t, "ES256", func(_, c map[string]any) { c["htm"] = map[string]string{"GET": "POST", "POST": "PUT"}[x.method] }))
		}},
	{name: "htm in lower case", reason: "htm does not match the request method", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.forge(t, "ES256", func(_, c map[string]any) { c["htm"] = strings.ToLower(x.method) }))
		}},
	{name: "wrong htu path", reason: "htu does not match the request URL", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.forge(t, "ES256", func(_, c map[string]any) { c["htu"] = x.url + "/other" }))
		}},
	{name: "wrong htu scheme", reason: "htu does not match the request URL", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			scheme, rest, _ := strings.Cut(x.url, ":")
			return one(x.forge(t, "ES256", func(_, c map[string]any) {
				c["htu"] = map[string]string{"http": "https", "https": "http"}[scheme] + ":" + rest
			}))
		}},
	{name: "iat too old", reason: "iat too old", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.proof(t, x.key, func(o *dpop.ProofOptions) { o.Now = x.now.Add(-dpop.DefaultIATWindow - time.Second) }))
		}},
	{name: "iat in the future", reason: "iat in the future", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.proof(t, x.key, func(o *dpop.ProofOptions) { o.Now = x.now.Add(dpop.DefaultLeeway + time.Second) }))
		}},
	{name: "jti reused", reason: "jti already used (replay)", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.proof(t, x.key, func(o *dpop.ProofOptions) { o.JTI = x.usedJTI }))
		}},
	{name: "wrong ath", reason: "ath does not match the access token", resource: "invalid_dpop_proof",
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.proof(t, x.key, func(o *dpop.ProofOptions) { o.AccessToken = x.plain }))
		}},
	{name: "no ath", reason: "ath missing with an access token", resource: "invalid_dpop_proof",
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.proof(t, x.key, func(o *dpop.ProofOptions) { o.AccessToken = "" }))
		}},
	{name: "another key's jkt", reason: "proof key does not match the bound key (jkt)", refreshReason: "this refresh token is bound to a DPoP key", resource: "invalid_dpop_proof", refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string { return one(x.proof(t, x.other, nil)) }},
	{name: "alg none", reason: "alg not allowed", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string { return one(x.forge(t, "none", nil)) }},
	{name: "alg HS256", reason: "alg not allowed", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string { return one(x.forge(t, "HS256", nil)) }},
	{name: "private key in jwk", reason: "jwk holds a private or symmetric key", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			d, err := x.key.key.(*ecdsa.PrivateKey).Bytes()
			require.NoError(t, err)
			return one(x.forge(t, "ES256", func(h, _ map[string]any) {
				h["jwk"].(map[string]any)["d"] = base64.RawURLEncoding.EncodeToString(d)
			}))
		}},
	{name: "bad signature", reason: "bad signature", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			p := x.proof(t, x.key, nil)
			i := strings.LastIndexByte(p, '.') + 1
			sig, err := base64.RawURLEncoding.DecodeString(p[i:])
			require.NoError(t, err)
			sig[len(sig)/2] ^= 1
			return one(p[:i] + base64.RawURLEncoding.EncodeToString(sig))
		}},
	{name: "typ JWT", reason: "typ is not", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.forge(t, "ES256", func(h, _ map[string]any) { h["typ"] = "JWT" }))
		}},
	{name: "oversized", reason: "proof larger than 8192 bytes", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.forge(t, "ES256", func(_, c map[string]any) { c["pad"] = strings.Repeat("a", dpop.DefaultMaxProofSize) }))
		}},
	{name: "two DPoP headers", reason: "more than one DPoP header", resource: "invalid_dpop_proof", login: true, refresh: true,
		proofs: func(t *testing.T, x *proofTarget) []string {
			return []string{x.proof(t, x.key, nil), x.proof(t, x.key, nil)}
		}},
	{name: "bound token as Bearer", reason: "a DPoP-bound token needs Authorization: DPoP and a proof", resource: "invalid_token",
		proofs:        func(*testing.T, *proofTarget) []string { return nil },
		authorization: func(x *proofTarget) string { return "Bearer " + x.token }},
	{name: "bound token as Bearer with its proof", reason: "a DPoP-bound token needs Authorization: DPoP and a proof", resource: "invalid_token",
		proofs:        func(t *testing.T, x *proofTarget) []string { return one(x.proof(t, x.key, nil)) },
		authorization: func(x *proofTarget) string { return "Bearer " + x.token }},
	{name: "proof on a Bearer token", reason: "a DPoP proof needs Authorization: DPoP", resource: "invalid_token",
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.proof(t, x.key, func(o *dpop.ProofOptions) { o.AccessToken = x.plain }))
		},
		authorization: func(x *proofTarget) string { return "Bearer " + x.plain }},
	{name: "unbound token with the DPoP scheme", reason: "the DPoP scheme needs a DPoP-bound token", resource: "invalid_token",
		proofs: func(t *testing.T, x *proofTarget) []string {
			return one(x.proof(t, x.key, func(o *dpop.ProofOptions) { o.AccessToken = x.plain }))
		},
		authorization: func(x *proofTarget) string { return "DPoP " + x.plain }},
}

// fixedClock is a clock that stands still at a whole second.
func fixedClock() (time.Time, func() time.Time) {
	now := time.Now().Truncate(time.Second)
	return now, func() time.Time { return now }
}

// testDPoPBadInput runs dpopBadInputs at a resource route: each row is
// answered 401 with `DPoP error="<code>", algs="ES256 EdDSA"` (and the
// error_description for invalid_token), the body's error the same code,
// and the handler is not reached. A good request passes after them all.
func testDPoPBadInput(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	now, clock := fixedClock()
	pv, err := dpop.NewVerifier(dpop.Config{Now: clock})
	require.NoError(t, err)
	c := serve(func(a *authn.Authenticator) { a.DPoP = &authn.DPoPConfig{Verifier: pv} })
	x := &proofTarget{key: newDPoPKey(t), other: newDPoPKey(t), method: http.MethodGet, url: dpopURL, now: now, usedJTI: "used-" + rand.Text()}
	x.token, x.plain = f.BoundToken(t, "alice", x.key.jkt), f.Token(t, "bob")
	get := func(c *client, auth string, proofs []string) *response {
		h := []string{"Authorization", auth}
		for _, p := range proofs {
			h = append(h, "DPoP", p)
		}
		return c.do(http.MethodGet, "/me", "", h...)
	}
	good := func(c *client, edit func(*dpop.ProofOptions)) {
		c.t.Helper()
		assertMe(c.t, get(c, "DPoP "+x.token, one(x.proof(c.t, x.key, edit))), "alice")
	}
	good(c, func(o *dpop.ProofOptions) { o.JTI = x.usedJTI })
	// The rows' forger, unspoiled, makes a proof the server accepts.
	assertMe(t, get(c, "DPoP "+x.token, one(x.forge(t, "ES256", nil))), "alice")
	reached := c.reached.Load()
	for _, row := range dpopBadInputs {
		if row.resource == "" {
			continue
		}
		t.Run(row.name, func(t *testing.T) {
			c := c.on(t)
			auth := "DPoP " + x.token
			if row.authorization != nil {
				auth = row.authorization(x)
			}
			r := get(c, auth, row.proofs(t, x))
			assertDPoPRefused(t, r, row.resource)
			assert.Contains(t, jsonBody(t, r)["error_description"], row.reason)
			assert.Equal(t, reached, c.reached.Load(), "the handler ran")
		})
	}
	good(c, nil)
}

// testDPoPNonce: with server nonces (RFC 9449 §9) a proof without one is
// answered 401 use_dpop_nonce with the nonce in DPoP-Nonce, and the retry
// carrying it passes; a stale or made-up nonce is asked for again.
func testDPoPNonce(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	now, clock := fixedClock()
	nonces, err := dpop.NewRotatingNonces([]byte("0123456789abcdef0123456789abcdef"), time.Minute, clock)
	require.NoError(t, err)
	pv, err := dpop.NewVerifier(dpop.Config{Now: clock, Nonce: nonces})
	require.NoError(t, err)
	c := serve(func(a *authn.Authenticator) { a.DPoP = &authn.DPoPConfig{Verifier: pv} })
	x := &proofTarget{key: newDPoPKey(t), method: http.MethodGet, url: dpopURL, now: now}
	x.token = f.BoundToken(t, "alice", x.key.jkt)
	get := func(nonce string) *response {
		return c.do(http.MethodGet, "/me", "", "Authorization", "DPoP "+x.token,
			"DPoP", x.proof(t, x.key, func(o *dpop.ProofOptions) { o.Nonce = nonce }))
	}
	for i, bad := range []string{"", "made-up"} {
		r := get(bad)
		assertDPoPRefused(t, r, "use_dpop_nonce")
		n := r.Header.Get("DPoP-Nonce")
		require.NotEmpty(t, n, "the nonce to retry with")
		assert.Equal(t, int64(i), c.reached.Load(), "the handler ran")
		assertMe(t, get(n), "alice")
	}
}

// testDPoPChallenges: a request authenticated with the DPoP scheme that a
// requirement refuses gets 403 with `DPoP error="insufficient_scope",
// algs="ES256 EdDSA", error_description="…"` (and scope="…" for scope
// requirements: RFC 9449 §7.1 with RFC 6750 §3.1), a bearer request the
// Bearer one; a malformed request with the DPoP scheme (two different
// tokens) the DPoP invalid_token challenge.
func testDPoPChallenges(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	k := newDPoPKey(t)
	bound := f.TokenWith(t, "alice", map[string]any{"cnf": map[string]string{"jkt": k.jkt}, "scope": "orders:read", "roles": []string{"viewer"}})
	plain := f.TokenWith(t, "bob", map[string]any{"scope": "orders:read", "roles": []string{"viewer"}})
	for _, tt := range []struct {
		name  string
		req   authn.Requirement
		scope string
	}{
		{"scopes", authn.RequireScopes("orders:write"), "orders:write"},
		{"any scope", authn.RequireAnyScope("orders:write", "admin"), "orders:write admin"},
		{"roles", authn.RequireRoles("admin"), ""},
		{"any role", authn.RequireAnyRole("admin", "support"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(withDPoP(t, authn.DPoPAllowed), tt.req).on(t)
			r := c.do(http.MethodGet, "/me", "", dpopHeaders(bound, k.proof(t, "GET", dpopURL, bound))...)
			desc := assertError(t, r, http.StatusForbidden, "insufficient_scope")
			want := `DPoP error="insufficient_scope", ` + dpopAlgs + `, error_description="` + desc + `"`
			if tt.scope != "" {
				want += `, scope="` + tt.scope + `"`
			}
			assert.Equal(t, []string{want}, r.Header.Values("WWW-Authenticate"))
			assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(plain)...), tt.scope)
			assert.Equal(t, int64(0), c.reached.Load())
		})
	}
	c := serve(withDPoP(t, authn.DPoPAllowed))
	r := c.do(http.MethodGet, "/me", "", append(dpopHeaders(bound, k.proof(t, "GET", dpopURL, bound)), "x-access-token", plain)...)
	assertDPoPRefused(t, r, "invalid_token")
	assert.Equal(t, "the token is malformed", jsonBody(t, r)["error_description"])
	assertInvalidToken(t, c.do(http.MethodGet, "/me", "", append(bearer(bound), "x-access-token", plain)...))
}
