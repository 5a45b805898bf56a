package jwtauth_test

// The fixture of the token core's tests (jwtauth/token/verifier_test.go),
// for the face's tests that need a key set, an issuer and a verifier.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
	"github.com/stretchr/testify/require"
)

const (
	testIssuer   = "https://auth.example.com"
	testAudience = "https://api.example.com"
)

var quiet = slog.New(slog.DiscardHandler)

// fixture is a key manager, an issuer and a verifier sharing a fixed clock.
type fixture struct {
	now      time.Time
	mgr      *keys.Manager
	issuer   *token.Issuer
	verifier *token.Verifier
	kid      string
	priv     *rsa.PrivateKey
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{now: time.Unix(1_800_000_000, 0)}
	clock := func() time.Time { return f.now }
	var err error
	f.mgr, err = keys.Open(context.Background(), keys.Config{Store: memory.New(), Now: clock, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	f.issuer, err = token.NewIssuer(token.IssuerConfig{Keys: f.mgr, Issuer: testIssuer, Audience: []string{testAudience}, Now: clock})
	require.NoError(t, err)
	f.verifier, err = token.NewVerifier(token.VerifierConfig{Keys: f.mgr, Issuer: testIssuer, Audience: []string{testAudience}, Now: clock})
	require.NoError(t, err)
	f.kid, f.priv = f.mgr.Current().Active().KID, f.mgr.Current().Active().Private
	return f
}

// outsider returns a fixed test key that is not in the fixture's key set.
func (f *fixture) outsider(t testing.TB) *rsa.PrivateKey {
	for _, k := range keystest.Keys(t) {
		in := false
		for _, sk := range f.mgr.Current().Keys() {
			in = in || sk.Private.N.Cmp(k.N) == 0
		}
		if !in {
			return k
		}
	}
	t.Fatal("no outsider key")
	return nil
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// forge signs header.payload (raw JSON strings) with RS256 and priv.
func forge(t testing.TB, priv *rsa.PrivateKey, header, payload string) string {
	t.Helper()
	input := b64(header) + "." + b64(payload)
	sig, err := jwsbb.SignRSA(priv, []byte(input), crypto.SHA256, false, rand.Reader)
	require.NoError(t, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (f *fixture) header() string {
	return fmt.Sprintf(`{"alg":"RS256","typ":"JWT","kid":%q}`, f.kid)
}

func (f *fixture) claims(mod func(m map[string]any)) string {
	m := map[string]any{"iss": testIssuer, "sub": "alice", "aud": testAudience,
		"exp": f.now.Add(15 * time.Minute).Unix(), "nbf": f.now.Unix(), "iat": f.now.Unix(), "jti": "j1"}
	if mod != nil {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// fastArgon are argon2id parameters cheap enough for tests.
var fastArgon = credential.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
