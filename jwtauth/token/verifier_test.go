package token_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/internal/tokentest"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// The fixture (internal/tokentest): a key manager, an issuer and a
// verifier on a settable clock, and token forging.

const (
	testIssuer   = tokentest.Issuer
	testAudience = tokentest.Audience
)

var quiet = slog.New(slog.DiscardHandler)

type fixture = tokentest.Fixture

func newFixture(t testing.TB) *fixture { return tokentest.New(t) }

var (
	b64   = tokentest.B64
	forge = tokentest.Forge
)

func TestIssueThenVerify(t *testing.T) {
	f := newFixture(t)
	tok, err := f.Issuer.Issue(context.Background(), "alice")
	require.NoError(t, err)
	parts := strings.Split(tok.Raw, ".")
	require.Len(t, parts, 3)
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	assert.JSONEq(t, fmt.Sprintf(`{"alg":"RS256","typ":"JWT","kid":%q}`, f.KID), string(hdr))
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(payload, &m))
	assert.Equal(t, testIssuer, m["iss"])
	assert.Equal(t, "alice", m["sub"])
	assert.Equal(t, testAudience, m["aud"])
	assert.Equal(t, float64(f.Now.Unix()), m["iat"])
	assert.Equal(t, float64(f.Now.Unix()), m["nbf"])
	assert.Equal(t, float64(f.Now.Add(15*time.Minute).Unix()), m["exp"])
	assert.Len(t, m["jti"], 22)

	c, err := f.Verifier.Verify(context.Background(), tok.Raw)
	require.NoError(t, err)
	assert.Equal(t, "alice", c.Subject)
	assert.Equal(t, []string{testAudience}, c.Audience)
	assert.Equal(t, tok.Claims.ID, c.ID)
	assert.Equal(t, f.Now.Add(15*time.Minute).Unix(), c.ExpiresAt.Unix())

	tok2, err := f.Issuer.Issue(context.Background(), "alice")
	require.NoError(t, err)
	assert.NotEqual(t, tok.Claims.ID, tok2.Claims.ID, "jti is unique")
}

func TestTokenFromBeforeRestartVerifies(t *testing.T) {
	st := memory.New()
	ctx := context.Background()
	m1, err := keys.Open(ctx, keys.Config{Store: st, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: m1, Issuer: testIssuer, Audience: []string{testAudience}})
	require.NoError(t, err)
	tok, err := iss.Issue(ctx, "bob")
	require.NoError(t, err)
	m2, err := keys.Open(ctx, keys.Config{Store: st, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	v, err := token.NewVerifier(token.VerifierConfig{Keys: m2, Issuer: testIssuer, Audience: []string{testAudience}})
	require.NoError(t, err)
	c, err := v.Verify(ctx, tok.Raw)
	require.NoError(t, err)
	assert.Equal(t, "bob", c.Subject)
}

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	other := f.Outsider(t)
	pubDER, err := x509.MarshalPKIXPublicKey(&f.Priv.PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs256 := func(secret []byte) string {
		in := b64(`{"alg":"HS256","typ":"JWT","kid":"`+f.KID+`"}`) + "." + b64(f.Claims(nil))
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	valid := forge(t, f.Priv, f.Header(), f.Claims(nil))
	vp := strings.Split(valid, ".")
	withClaims := func(mod func(m map[string]any)) string { return forge(t, f.Priv, f.Header(), f.Claims(mod)) }
	withHeader := func(h string) string { return forge(t, f.Priv, h, f.Claims(nil)) }
	rawClaims := func(c string) string { return forge(t, f.Priv, f.Header(), c) }
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", token.ErrTokenMissing},
		{"garbage", "not a token", token.ErrTokenMalformed},
		{"two segments", vp[0] + "." + vp[1], token.ErrTokenMalformed},
		{"four segments", valid + ".x", token.ErrTokenMalformed},
		{"five segments (JWE)", vp[0] + "." + vp[1] + "." + vp[2] + ".a.b", token.ErrTokenMalformed},
		{"JSON serialization", `{"payload":"` + vp[1] + `","signatures":[]}`, token.ErrTokenMalformed},
		{"over 8 KiB", valid + strings.Repeat("A", token.MaxTokenSize), token.ErrTokenTooLarge},
		{"alg none unsigned", b64(`{"alg":"none"}`) + "." + vp[1] + ".", token.ErrUnsupportedAlgorithm},
		{"alg None", b64(`{"alg":"None","kid":"`+f.KID+`"}`) + "." + vp[1] + ".", token.ErrUnsupportedAlgorithm},
		{"alg none with signature", b64(`{"alg":"none","kid":"`+f.KID+`"}`) + "." + vp[1] + "." + vp[2], token.ErrUnsupportedAlgorithm},
		{"HS256 keyed with the public key PEM", hs256(pubPEM), token.ErrUnsupportedAlgorithm},
		{"HS256 keyed with the public key DER", hs256(pubDER), token.ErrUnsupportedAlgorithm},
		{"signature stripped", vp[0] + "." + vp[1] + ".", token.ErrInvalidSignature},
		{"payload tampered", vp[0] + "." + b64(f.Claims(set("sub", "admin"))) + "." + vp[2], token.ErrInvalidSignature},
		{"signed by another key under our kid", forge(t, other, f.Header(), f.Claims(nil)), token.ErrInvalidSignature},
		{"embedded jwk header is not trusted", forge(t, other, `{"alg":"RS256","kid":"attacker","jwk":{"kty":"RSA"}}`, f.Claims(nil)), token.ErrUnknownKey},
		{"jku header is not followed", forge(t, other, `{"alg":"RS256","kid":"`+f.KID+`","jku":"https://evil.example/jwks"}`, f.Claims(nil)), token.ErrInvalidSignature},
		{"unknown kid", withHeader(`{"alg":"RS256","kid":"nope"}`), token.ErrUnknownKey},
		{"no kid", withHeader(`{"alg":"RS256"}`), token.ErrUnknownKey},
		{"kid not a string", withHeader(`{"alg":"RS256","kid":5}`), token.ErrTokenMalformed},
		{"unknown crit", withHeader(`{"alg":"RS256","kid":"` + f.KID + `","crit":["exp"],"exp":1}`), token.ErrUnsupportedCritical},
		{"b64 false", withHeader(`{"alg":"RS256","kid":"` + f.KID + `","b64":false,"crit":["b64"]}`), token.ErrUnsupportedCritical},
		{"duplicate header member", withHeader(`{"alg":"RS256","alg":"RS256","kid":"` + f.KID + `"}`), token.ErrTokenMalformed},
		{"typ not JWT", withHeader(`{"alg":"RS256","typ":"JWE","kid":"` + f.KID + `"}`), token.ErrTokenMalformed},
		{"header not an object", withHeader(`["RS256"]`), token.ErrTokenMalformed},
		{"padding in header", b64(f.Header()) + "=." + vp[1] + "." + vp[2], token.ErrTokenMalformed},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(vp[0]+"."+vp[1]+"."+vp[2]) + "+/", token.ErrTokenMalformed},
		{"non-zero trailing bits", vp[0] + "." + vp[1] + "." + vp[2][:len(vp[2])-1] + "B", token.ErrTokenMalformed},
		{"expired", withClaims(set("exp", f.Now.Add(-31*time.Second).Unix())), token.ErrTokenExpired},
		{"not yet valid", withClaims(set("nbf", f.Now.Add(31*time.Second).Unix())), token.ErrTokenNotYetValid},
		{"issued in the future", withClaims(set("iat", f.Now.Add(time.Hour).Unix())), token.ErrTokenNotYetValid},
		{"missing exp", withClaims(del("exp")), token.ErrMissingClaim},
		{"exp as string", withClaims(set("exp", fmt.Sprint(f.Now.Add(time.Hour).Unix()))), token.ErrTokenMalformed},
		{"exp as RFC 3339 text", withClaims(set("exp", f.Now.Add(time.Hour).Format(time.RFC3339))), token.ErrTokenMalformed},
		{"nbf as string", withClaims(set("nbf", "0")), token.ErrTokenMalformed},
		{"exp negative", withClaims(set("exp", -1)), token.ErrTokenMalformed},
		{"exp huge", withClaims(set("exp", 1e300)), token.ErrTokenMalformed},
		{"wrong issuer", withClaims(set("iss", "https://evil.example")), token.ErrInvalidIssuer},
		{"missing issuer", withClaims(del("iss")), token.ErrInvalidIssuer},
		{"wrong audience", withClaims(set("aud", "https://other.example")), token.ErrInvalidAudience},
		{"audience array without us", withClaims(set("aud", []string{"a", "b"})), token.ErrInvalidAudience},
		{"missing audience", withClaims(del("aud")), token.ErrInvalidAudience},
		{"aud not string", withClaims(set("aud", 7)), token.ErrTokenMalformed},
		{"iss not string", withClaims(set("iss", 7)), token.ErrTokenMalformed},
		{"duplicate claim", rawClaims(strings.Replace(f.Claims(nil), `"sub":"alice"`, `"sub":"alice","sub":"admin"`, 1)), token.ErrTokenMalformed},
		{"claims not an object", rawClaims(`"alice"`), token.ErrTokenMalformed},
		{"trailing data after claims", rawClaims(f.Claims(nil) + `{}`), token.ErrTokenMalformed},
		{"too many header members", withHeader(`{"alg":"RS256","kid":"` + f.KID + `"` + manyMembers(100) + `}`), token.ErrTokenMalformed},
		{"deep nesting", rawClaims(`{"x":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`), token.ErrTokenMalformed},
	}
	// The table runs against a verifier without a cache and against the
	// fixture's, warm with the valid token every case is derived from; each
	// case twice, so that no refusal is remembered as a success.
	uncached, err := token.NewVerifier(token.VerifierConfig{Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience},
		Now: func() time.Time { return f.Now }, CacheSize: -1})
	require.NoError(t, err)
	_, err = f.Verifier.Verify(context.Background(), valid)
	require.NoError(t, err)
	require.True(t, token.IsCached(f.Verifier, valid))
	for mode, v := range map[string]*token.Verifier{"uncached": uncached, "warm cache": f.Verifier} {
		for _, tc := range cases {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				for range 2 {
					c, err := v.Verify(context.Background(), tc.token)
					require.Error(t, err)
					assert.Nil(t, c)
					assert.ErrorIs(t, err, tc.want, "got %v", err)
				}
			})
		}
	}
	assert.Equal(t, 1, token.CachedTokens(f.Verifier), "only the valid token is cached")
}

func TestVerifyLeewayAndAudienceArrays(t *testing.T) {
	f := newFixture(t)
	accept := func(mod func(m map[string]any)) {
		t.Helper()
		tok := forge(t, f.Priv, f.Header(), f.Claims(mod))
		for range 2 { // a first sight, then a cache hit
			_, err := f.Verifier.Verify(context.Background(), tok)
			assert.NoError(t, err)
		}
		assert.True(t, token.IsCached(f.Verifier, tok))
	}
	accept(func(m map[string]any) { m["iat"] = f.Now.Add(2 * time.Second).Unix() })  // clock skew
	accept(func(m map[string]any) { m["nbf"] = f.Now.Add(29 * time.Second).Unix() }) // within leeway
	accept(func(m map[string]any) { m["exp"] = f.Now.Add(-29 * time.Second).Unix() })
	accept(func(m map[string]any) { m["aud"] = []string{"x", testAudience} })
	accept(func(m map[string]any) { m["exp"] = float64(f.Now.Add(time.Minute).Unix()) + 0.5 })
	accept(func(m map[string]any) { m["custom"] = map[string]any{"role": "admin"} })
}

func TestVerifierConfigRefusesInsecureChoices(t *testing.T) {
	f := newFixture(t)
	for name, cfg := range map[string]token.VerifierConfig{
		"no keys":     {Issuer: testIssuer, Audience: []string{testAudience}},
		"no issuer":   {Keys: f.Mgr, Audience: []string{testAudience}},
		"no audience": {Keys: f.Mgr, Issuer: testIssuer},
		"HS256":       {Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience}, Algorithms: []string{"HS256"}},
		"none":        {Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience}, Algorithms: []string{"none"}},
		"odd claim":   {Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience}, RequiredClaims: []string{"role"}},
	} {
		_, err := token.NewVerifier(cfg)
		assert.Error(t, err, name)
	}
}

func TestRevokedKeyIsRejectedAtOnce(t *testing.T) {
	f := newFixture(t)
	tok, err := f.Issuer.Issue(context.Background(), "alice")
	require.NoError(t, err)
	require.NoError(t, f.Mgr.Revoke(context.Background(), tok.KID))
	_, err = f.Verifier.Verify(context.Background(), tok.Raw)
	assert.ErrorIs(t, err, token.ErrUnknownKey)
	tok2, err := f.Issuer.Issue(context.Background(), "alice")
	require.NoError(t, err, "signing goes on with the promoted key")
	assert.NotEqual(t, tok.KID, tok2.KID)
	_, err = f.Verifier.Verify(context.Background(), tok2.Raw)
	assert.NoError(t, err)
}

// manyMembers returns n distinct JSON members, each preceded by a comma.
func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `,"m%d":%d`, i, i)
	}
	return b.String()
}

// TestTimeClaimBoundaries checks exp, nbf and iat at the exact instants the
// leeway puts their limits, and one nanosecond either side, on an injected
// clock: a token is expired from exp + leeway on (RFC 7519 §4.1.4: "on or
// after"), and valid from nbf − leeway on (§4.1.5: "before which … MUST NOT
// be accepted"); iat follows nbf's rule.
func TestTimeClaimBoundaries(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	leeway := f.Verifier.Leeway()
	require.Equal(t, token.DefaultLeeway, leeway)
	base := f.Now
	exp := base.Add(15 * time.Minute)
	later := base.Add(time.Hour)
	expiring := forge(t, f.Priv, f.Header(), f.Claims(func(m map[string]any) { m["exp"] = exp.Unix() }))
	notBefore := forge(t, f.Priv, f.Header(), f.Claims(func(m map[string]any) {
		m["nbf"], m["exp"] = later.Unix(), later.Add(time.Hour).Unix()
	}))
	issuedLater := forge(t, f.Priv, f.Header(), f.Claims(func(m map[string]any) {
		m["iat"], m["exp"] = later.Unix(), later.Add(time.Hour).Unix()
	}))
	for _, tc := range []struct {
		name    string
		token   string
		at      time.Time
		wantErr error
	}{
		{"exp+leeway-1ns", expiring, exp.Add(leeway - time.Nanosecond), nil},
		{"exp+leeway", expiring, exp.Add(leeway), token.ErrTokenExpired},
		{"exp+leeway+1ns", expiring, exp.Add(leeway + time.Nanosecond), token.ErrTokenExpired},
		{"nbf-leeway-1ns", notBefore, later.Add(-leeway - time.Nanosecond), token.ErrTokenNotYetValid},
		{"nbf-leeway", notBefore, later.Add(-leeway), nil},
		{"nbf-leeway+1ns", notBefore, later.Add(-leeway + time.Nanosecond), nil},
		{"iat-leeway-1ns", issuedLater, later.Add(-leeway - time.Nanosecond), token.ErrTokenNotYetValid},
		{"iat-leeway", issuedLater, later.Add(-leeway), nil},
		{"iat-leeway+1ns", issuedLater, later.Add(-leeway + time.Nanosecond), nil},
	} {
		f.Now = tc.at
		c, err := f.Verifier.Verify(ctx, tc.token)
		if tc.wantErr == nil {
			if assert.NoError(t, err, tc.name) {
				assert.Equal(t, "alice", c.Subject, tc.name)
			}
		} else {
			assert.ErrorIs(t, err, tc.wantErr, tc.name)
			assert.Nil(t, c, tc.name)
		}
	}
}

// TestEveryRSAAlgorithmVerifies: a token signed with crypto/rsa under each
// algorithm a Verifier may list (RFC 7518 §3.3 PKCS #1 v1.5, §3.5 PSS with
// a salt as long as the hash) verifies when listed; a PSS signature with
// another salt length, a signature under another hash, and one of another
// algorithm family are refused.
func TestEveryRSAAlgorithmVerifies(t *testing.T) {
	f := newFixture(t)
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	sign := func(alg string, h crypto.Hash, salt int) string {
		input := b64(fmt.Sprintf(`{"alg":%q,"kid":%q}`, alg, f.KID)) + "." + b64(f.Claims(nil))
		d := h.New()
		d.Write([]byte(input))
		var sig []byte
		var err error
		if alg[0] == 'P' {
			sig, err = rsa.SignPSS(rand.Reader, f.Priv, h, d.Sum(nil), &rsa.PSSOptions{SaltLength: salt})
		} else {
			sig, err = rsa.SignPKCS1v15(nil, f.Priv, h, d.Sum(nil))
		}
		require.NoError(t, err)
		return input + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	all := []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	v, err := token.NewVerifier(token.VerifierConfig{Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience},
		Algorithms: all, Now: func() time.Time { return f.Now }, CacheSize: -1})
	require.NoError(t, err)
	for _, alg := range all {
		h := hashes[alg[2:]]
		_, err := v.Verify(t.Context(), sign(alg, h, rsa.PSSSaltLengthEqualsHash))
		assert.NoError(t, err, alg)
		other := crypto.SHA256
		if h == crypto.SHA256 {
			other = crypto.SHA512
		}
		_, err = v.Verify(t.Context(), sign(alg, other, rsa.PSSSaltLengthEqualsHash))
		assert.ErrorIs(t, err, token.ErrInvalidSignature, "%s signed over %v", alg, other)
		if alg[0] == 'P' {
			_, err = v.Verify(t.Context(), sign(alg, h, h.Size()+1))
			assert.ErrorIs(t, err, token.ErrInvalidSignature, "%s with a salt of %d bytes", alg, h.Size()+1)
		}
	}
	rs := strings.Split(sign("RS256", crypto.SHA256, 0), ".")
	ps := strings.Split(sign("PS256", crypto.SHA256, rsa.PSSSaltLengthEqualsHash), ".")
	_, err = v.Verify(t.Context(), ps[0]+"."+ps[1]+"."+rs[2])
	assert.ErrorIs(t, err, token.ErrInvalidSignature, "a PKCS #1 v1.5 signature under a PS256 header")
}

// TestIssuedSignatureIsRS256: the signature of an issued token is the
// RSASSA-PKCS1-v1_5 SHA-256 signature of its signing input (deterministic,
// so it is compared byte for byte).
func TestIssuedSignatureIsRS256(t *testing.T) {
	f := newFixture(t)
	tok, err := f.Issuer.Issue(t.Context(), "alice")
	require.NoError(t, err)
	dot := strings.LastIndexByte(tok.Raw, '.')
	sum := sha256.Sum256([]byte(tok.Raw[:dot]))
	want, err := rsa.SignPKCS1v15(nil, f.Priv, crypto.SHA256, sum[:])
	require.NoError(t, err)
	assert.Equal(t, base64.RawURLEncoding.EncodeToString(want), tok.Raw[dot+1:])
}
