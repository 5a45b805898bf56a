// Package tokentest is the token core's test fixture, shared by the tests
// of jwtauth/token, jwtauth/remote, jwtauth/authn and the face: a key
// manager over an in-memory store, an issuer and a verifier on one fixed,
// settable clock, and helpers to forge tokens byte by byte. It lives
// outside the domain packages because it imports adapters/memory.
package tokentest

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

	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// The fixture's issuer and audience.
const (
	Issuer   = "https://auth.example.com"
	Audience = "https://api.example.com"
)

// Fixture is a key manager, an issuer and a verifier sharing a clock that
// reads Now: set Now to move time.
type Fixture struct {
	Now      time.Time
	Mgr      *keys.Manager
	Issuer   *token.Issuer
	Verifier *token.Verifier
	KID      string          // the active key's kid
	Priv     *rsa.PrivateKey // the active key
}

// New returns a fixture at Unix time 1,800,000,000 with one active key (a
// fixed test key of keystest).
func New(tb testing.TB) *Fixture {
	tb.Helper()
	f := &Fixture{Now: time.Unix(1_800_000_000, 0)}
	clock := func() time.Time { return f.Now }
	quiet := slog.New(slog.DiscardHandler)
	var err error
	f.Mgr, err = keys.Open(context.Background(), keys.Config{Store: memory.New(), Now: clock, Generate: keystest.Generator(tb), Logger: quiet})
	require.NoError(tb, err)
	f.Issuer, err = token.NewIssuer(token.IssuerConfig{Keys: f.Mgr, Issuer: Issuer, Audience: []string{Audience}, Now: clock})
	require.NoError(tb, err)
	f.Verifier, err = token.NewVerifier(token.VerifierConfig{Keys: f.Mgr, Issuer: Issuer, Audience: []string{Audience}, Now: clock})
	require.NoError(tb, err)
	f.KID, f.Priv = f.Mgr.Current().Active().KID, f.Mgr.Current().Active().Private
	return f
}

// Outsider returns a fixed test key that is not in the fixture's key set.
func (f *Fixture) Outsider(tb testing.TB) *rsa.PrivateKey {
	for _, k := range keystest.Keys(tb) {
		in := false
		for _, sk := range f.Mgr.Current().Keys() {
			in = in || sk.Private.N.Cmp(k.N) == 0
		}
		if !in {
			return k
		}
	}
	tb.Fatal("no outsider key")
	return nil
}

// B64 is base64url without padding of s.
func B64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// Forge signs header.payload (raw JSON strings) with RS256 and priv.
func Forge(tb testing.TB, priv *rsa.PrivateKey, header, payload string) string {
	tb.Helper()
	input := B64(header) + "." + B64(payload)
	sig, err := jwsbb.SignRSA(priv, []byte(input), crypto.SHA256, false, rand.Reader)
	require.NoError(tb, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// Header is the JWS header of the fixture's tokens: RS256, typ JWT, the
// active kid.
func (f *Fixture) Header() string {
	return fmt.Sprintf(`{"alg":"RS256","typ":"JWT","kid":%q}`, f.KID)
}

// Claims is a valid claims set for the fixture's verifier (sub alice, 15
// minutes left, jti j1), changed by mod when it is not nil.
func (f *Fixture) Claims(mod func(m map[string]any)) string {
	m := map[string]any{"iss": Issuer, "sub": "alice", "aud": Audience,
		"exp": f.Now.Add(15 * time.Minute).Unix(), "nbf": f.Now.Unix(), "iat": f.Now.Unix(), "jti": "j1"}
	if mod != nil {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}
