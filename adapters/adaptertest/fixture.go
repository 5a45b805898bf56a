// Package adaptertest is the one HTTP behaviour table every jwtauth adapter
// passes, in the manner of golang.org/x/net/nettest and testing/fstest: an
// adapter's test hands [Run] a function that mounts a []jwtauth.Route and an
// *authn.Authenticator on its framework, and Run drives the result with
// net/http/httptest through every endpoint of SPEC §2, asserting exact
// statuses, headers and JSON bodies, and checking every request and answer
// against openapi.yaml, the module's OpenAPI 3.1 description.
//
// The fixture is real code end to end (keys.Manager, token.Issuer,
// Verifier, Accounts, JWKS and discovery handlers) over adapters/memory,
// with the fixed 2048-bit test keys of keys/keystest so that no test pays for RSA
// key generation.
package adaptertest

import (
	"context"
	"crypto/rsa"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// The fixture's fixed configuration; the behaviour table asserts against it.
const (
	// Issuer is the iss of the fixture's tokens and the issuer of its discovery document.
	Issuer = "https://auth.example.test"
	// Audience is the aud of the fixture's tokens.
	Audience = "https://api.example.test"
	// Realm is the fixture Authenticator's RFC 6750 realm.
	Realm = "adaptertest"
	// AccessTTL is the lifetime of the fixture's access tokens.
	AccessTTL = 15 * time.Minute
	// JWKSMaxAge is the Cache-Control max-age of the fixture's JWKS.
	JWKSMaxAge = 5 * time.Minute
)

// argon2 parameters small enough for -race; never use them in production.
var fastArgon2 = credential.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Fixture is a complete jwtauth server core over an in-memory store: the
// routes and authenticator an adapter mounts, plus the pieces a test needs to
// mint valid and forged tokens.
type Fixture struct {
	// Routes is jwtauth.Routes over the fixture's accounts, JWKS and discovery handlers.
	Routes []jwtauth.Route
	// Auth verifies the fixture's tokens (Issuer, Audience, RS256) with realm Realm.
	Auth *authn.Authenticator
	// Keys is the key set: one active and one next key after NewFixture.
	Keys *keys.Manager
	// Issuer signs valid access tokens with the active key.
	Issuer *token.Issuer
	// Outsider is an RSA key that is not, and never becomes, part of Keys.
	Outsider *rsa.PrivateKey

	store *memory.Store // closed by a row to take the store down

	mu        sync.Mutex
	generated []*rsa.PrivateKey // the keys handed to Keys, in order
}

// NewFixture builds a fresh fixture. Every fixture has its own store, key set
// and accounts, so tests using separate fixtures may run in parallel.
func NewFixture(tb testing.TB) *Fixture {
	tb.Helper()
	return newFixture(tb, jwtauth.CookieMode{}, false)
}

// newFixture is NewFixture with the account routes in cookie mode (see
// RunCookies); with cookies.AccessCookie, the authenticator reads the
// access token from that cookie too. With withDPoP, /login and /refresh
// check DPoP proofs (htu Issuer + the endpoint) and the authenticator
// accepts bound tokens, over one proof verifier.
func newFixture(tb testing.TB, cookies jwtauth.CookieMode, withDPoP bool) *Fixture {
	tb.Helper()
	pool := keystest.Keys(tb)[:5]
	// The last key is the outsider; the others feed the key manager in order,
	// so that a fixture can create up to len(pool)-1 keys (open, then a revoke).
	f := &Fixture{Outsider: pool[len(pool)-1]}
	gen := func(bits int) (*rsa.PrivateKey, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		n := len(f.generated)
		if bits != 2048 || n >= len(pool)-1 {
			return nil, errors.New("adaptertest: out of fixed 2048-bit test keys")
		}
		f.generated = append(f.generated, pool[n])
		return pool[n], nil
	}
	quiet := slog.New(slog.DiscardHandler)
	store := memory.New()
	ctx := context.Background()
	m, err := keys.Open(ctx, keys.Config{Store: store, Generate: gen, Logger: quiet})
	if err != nil {
		tb.Fatalf("adaptertest: keys.Open: %v", err)
	}
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: m, Issuer: Issuer, Audience: []string{Audience}, TTL: AccessTTL})
	if err != nil {
		tb.Fatalf("adaptertest: NewIssuer: %v", err)
	}
	ver, err := token.NewVerifier(token.VerifierConfig{Keys: m, Issuer: Issuer, Audience: []string{Audience}})
	if err != nil {
		tb.Fatalf("adaptertest: NewVerifier: %v", err)
	}
	// An address's login budget comes back one attempt an hour, not every
	// 6 s: rows that spend the whole budget (account.DefaultIPFailures
	// requests) take seconds under -race, and must not see it refill.
	acc, err := account.New(account.Config{Users: store, RefreshTokens: store, Issuer: iss, Argon2: fastArgon2, Logger: quiet,
		Throttle: account.LoginThrottle{IPInterval: time.Hour}})
	if err != nil {
		tb.Fatalf("adaptertest: account.New: %v", err)
	}
	disc, err := jwtauth.NewDiscoveryHandler(Issuer)
	if err != nil {
		tb.Fatalf("adaptertest: NewDiscoveryHandler: %v", err)
	}
	var issuing *jwtauth.DPoPIssuing
	var proofs *authn.DPoPConfig
	if withDPoP {
		pv, err := dpop.NewVerifier(dpop.Config{})
		if err != nil {
			tb.Fatalf("adaptertest: dpop.NewVerifier: %v", err)
		}
		issuing = &jwtauth.DPoPIssuing{Verifier: pv, Issuer: Issuer}
		proofs = &authn.DPoPConfig{Verifier: pv}
	}
	f.Routes = jwtauth.Routes(jwtauth.RoutesConfig{
		Accounts:  acc,
		JWKS:      jwtauth.NewJWKSHandler(m, JWKSMaxAge),
		Discovery: disc,
		Health:    store.Ping,
		Cookies:   cookies,
		DPoP:      issuing,
	})
	f.Auth = &authn.Authenticator{Verifier: ver, Realm: Realm, DPoP: proofs}
	if cookies.AccessCookie != "" {
		f.Auth.Sources = []authn.TokenSource{authn.HeaderSource("Authorization"), authn.CookieSource(cookies.AccessCookie)}
		f.Auth.CSRFOrigin = cookies.Origin
	}
	f.Keys, f.Issuer, f.store = m, iss, store
	return f
}

// generatedKeys returns the private keys the key manager has created, in
// order: the first is the first active key, the second the first next key.
func (f *Fixture) generatedKeys() []*rsa.PrivateKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*rsa.PrivateKey(nil), f.generated...)
}

// Token returns a valid access token for subject, signed by the active key.
func (f *Fixture) Token(tb testing.TB, subject string) string {
	tb.Helper()
	t, err := f.Issuer.Issue(context.Background(), subject)
	if err != nil {
		tb.Fatalf("adaptertest: issue: %v", err)
	}
	return t.Raw
}

// TokenWith returns a valid access token for subject carrying the extra
// claims (Issuer.IssueWith), e.g. {"roles": []string{"admin"}}.
func (f *Fixture) TokenWith(tb testing.TB, subject string, extra map[string]any) string {
	tb.Helper()
	t, err := f.Issuer.IssueWith(context.Background(), subject, extra)
	if err != nil {
		tb.Fatalf("adaptertest: issue: %v", err)
	}
	return t.Raw
}

// ActiveKey returns the key that signs the fixture's tokens.
func (f *Fixture) ActiveKey(tb testing.TB) *keys.Key {
	tb.Helper()
	k, err := f.Keys.SigningKey()
	if err != nil {
		tb.Fatalf("adaptertest: signing key: %v", err)
	}
	return k
}

// issuerWith returns an Issuer over the fixture's keys with cfg changed by
// edit: a fake clock, another iss or aud.
func (f *Fixture) issuerWith(tb testing.TB, edit func(*token.IssuerConfig)) *token.Issuer {
	tb.Helper()
	cfg := token.IssuerConfig{Keys: f.Keys, Issuer: Issuer, Audience: []string{Audience}, TTL: AccessTTL}
	edit(&cfg)
	iss, err := token.NewIssuer(cfg)
	if err != nil {
		tb.Fatalf("adaptertest: NewIssuer: %v", err)
	}
	return iss
}
