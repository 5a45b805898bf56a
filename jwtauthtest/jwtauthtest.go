// Package jwtauthtest runs a jwtauth issuer inside your tests, so that an
// application can test its own protected handlers without the account flow.
//
// FOR TESTS ONLY. Its private keys are fixed and public (they ship in this
// package's testdata), it signs whatever it is asked to — expired tokens,
// tokens for any issuer and audience, tokens signed by keys it does not
// publish — and it serves plain http on a loopback address. Never import it
// from production code, and never point a production verifier at it:
// NewServer panics (ErrNotATest) in a binary not built by go test.
//
// A Server is an httptest.Server publishing the issuer's OpenID Connect
// discovery document (at URL + "/.well-known/openid-configuration") and
// its JWKS (URL + "/.well-known/jwks.json") with the handlers of `jwtauth
// serve` itself, over a real keys.Manager: one active and one published
// next key, rotated (next → active) and revoked as the product does it.
// Point the application's verifier at it as at the real server:
//
//	srv := jwtauthtest.NewServer(t)
//	v, ks, err := remote.NewVerifier(ctx,
//		remote.Config{Issuer: srv.URL},
//		token.VerifierConfig{Audience: []string{srv.URL}, Now: srv.Now})
//
// then Mint tokens for the requests. The server's clock is a fake that
// stands still until Advance or SetNow moves it; pass srv.Now as
// VerifierConfig.Now so that expiry follows it. Leave remote.Config.Now
// unset (its background refresh waits on real timers) and call the
// remote.KeySet's Refresh to make it see a Revoke at once.
//
// For DPoP (RFC 9449), a DPoPKey is the client's key: MintBound mints a
// token bound to it and its Authorize sets the Authorization: DPoP and
// DPoP headers of a request; DPoPVerifier checks proofs on the server's
// clock for an authn.DPoPConfig (see docs/dpop.md, "Testing with DPoP").
package jwtauthtest

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// ErrNotATest is the value NewServer panics with outside a test binary
// (testing.Testing() false): the test issuer's private keys are public, so
// it must never serve a real program.
var ErrNotATest = errors.New("jwtauthtest: NewServer outside a test binary: the test issuer signs with keys published in its source; use it only under go test")

// jwksMaxAge is the Cache-Control max-age of the JWKS: `jwtauth serve`'s
// default (--jwks-max-age).
const jwksMaxAge = 5 * time.Minute

// dpopReplayCacheSize bounds the replay cache of DPoPVerifier: proofs
// (jti) remembered within the 60 s window, about 150 bytes each as it fills.
const dpopReplayCacheSize = 10_000

// A Server is a test issuer on httptest: see the package documentation.
// Its methods are safe for concurrent use.
type Server struct {
	// URL is the issuer, "http://127.0.0.1:port" with no trailing slash:
	// the default iss and aud of minted tokens, and the base of the
	// discovery document and the JWKS.
	URL string

	tb       testing.TB
	ts       *httptest.Server
	keys     *keys.Manager
	pool     *keyPool
	verifier *token.Verifier                // Issuer URL, Audience URL, clock Now
	dpop     func() (*dpop.Verifier, error) // DPoPVerifier's, made on first use
	anyIss   *token.Verifier                // any iss and aud, no cache: for Claims
	close    sync.Once

	mu  sync.Mutex
	now time.Time

	jwksRequests countingHandler // for this package's tests
}

// NewServer starts a test issuer with one active and one published next
// key. Its clock starts at the current time, truncated to the second.
//
// The server is closed by tb.Cleanup, and every error of NewServer and of
// the Server's methods fails the test through tb.Fatalf: there is no error
// to check. tb may be nil in an Example (which runs under go test too):
// errors then panic, and the caller must Close the server.
//
// NewServer refuses to run outside a test binary: when testing.Testing()
// reports false (a program built with go build or go run, not go test) it
// panics with a message naming ErrNotATest, before any key is loaded or
// any port opened. Its keys are published in this module's source, so a
// verifier pointed at it would accept tokens anyone can sign.
func NewServer(tb testing.TB) *Server {
	if !testing.Testing() {
		panic(ErrNotATest)
	}
	if tb != nil {
		tb.Helper()
	}
	s := &Server{tb: tb, now: time.Now().Truncate(time.Second)}
	pool, err := newKeyPool()
	if err != nil {
		s.fatalf("fixed keys: %v", err)
	}
	s.pool = pool
	quiet := slog.New(slog.DiscardHandler)
	s.keys, err = keys.Open(context.Background(), keys.Config{Store: memory.New(), Now: s.Now, Generate: pool.next, Logger: quiet})
	if err != nil {
		s.fatalf("keys.Open: %v", err)
	}

	s.ts = httptest.NewUnstartedServer(nil)
	s.URL = "http://" + s.ts.Listener.Addr().String()
	disc, err := jwtauth.NewDiscoveryHandler(s.URL)
	if err != nil {
		s.fatalf("discovery: %v", err)
	}
	s.jwksRequests.h = jwtauth.NewJWKSHandler(s.keys, jwksMaxAge)
	// The product's routing: JSON 404 and 405 answers for anything else.
	s.ts.Config.Handler = nethttp.Handler([]jwtauth.Route{
		{Method: http.MethodGet, Path: "/.well-known/jwks.json", Handler: &s.jwksRequests},
		{Method: http.MethodGet, Path: "/.well-known/openid-configuration", Handler: disc},
	}, nil)
	s.ts.Start()
	if tb != nil {
		tb.Cleanup(s.Close)
	}

	s.verifier, err = token.NewVerifier(token.VerifierConfig{Keys: s.keys, Issuer: s.URL, Audience: []string{s.URL}, Now: s.Now})
	if err != nil {
		s.fatalf("verifier: %v", err)
	}
	s.anyIss, err = token.NewVerifier(token.VerifierConfig{Keys: s.keys, Now: s.Now, CacheSize: -1,
		InsecureSkipIssuerCheck: true, InsecureSkipAudienceCheck: true})
	if err != nil {
		s.fatalf("verifier: %v", err)
	}
	s.dpop = sync.OnceValues(func() (*dpop.Verifier, error) {
		return dpop.NewVerifier(dpop.Config{Now: s.Now, ReplayCacheSize: dpopReplayCacheSize})
	})
	return s
}

// Close shuts the server down (httptest.Server.Close): from then on the
// issuer is unreachable, as when the real one is down. It is idempotent;
// tb.Cleanup calls it.
func (s *Server) Close() { s.close.Do(s.ts.Close) }

// Now returns the server's clock: the time minted tokens are issued at
// unless Token.IssuedAt says otherwise, and the time of key rotations and
// revocations. Pass it as token.VerifierConfig.Now.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Advance moves the clock by d (back when d is negative).
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d)
}

// SetNow sets the clock to t.
func (s *Server) SetNow(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = t
}

// Verifier returns a token.Verifier for the server's tokens that needs
// no network: the server's key set, iss and aud URL, and its clock. Put it
// in a authn.Authenticator to test handlers behind the middleware
// without a remote.KeySet.
func (s *Server) Verifier() *token.Verifier { return s.verifier }

// KID returns the kid of the active key, the one Mint signs with.
func (s *Server) KID() string {
	if s.tb != nil {
		s.tb.Helper()
	}
	k, err := s.keys.SigningKey()
	if err != nil {
		s.fatalf("signing key: %v", err)
	}
	return k.KID
}

// Rotate promotes the published next key to active, as `jwtauth keys
// rotate --now` does, and returns its kid. The previous active key is
// retired but stays in the JWKS, so tokens it signed keep verifying; a new
// next key is published. A verifier that fetched the JWKS before Rotate
// already knows the new active key.
//
// Each new key is one of the package's fixed keys for the first 13
// rotations (and revocations of the active key) of a server; later ones are
// generated, which takes a second or more under -race.
func (s *Server) Rotate() string {
	if s.tb != nil {
		s.tb.Helper()
	}
	res, err := s.keys.Rotate(context.Background(), true)
	if err != nil {
		s.fatalf("rotate: %v", err)
	}
	return res.Promoted
}

// Revoke revokes the key kid, as `jwtauth keys revoke` does: it leaves the
// JWKS at once, and tokens it signed fail with token.ErrUnknownKey in
// Verifier at once and in a remote.KeySet after its next fetch. Revoking
// the active key makes a freshly generated key sign (the next key stays
// next), whose first token a remote.KeySet meets makes it fetch (at most
// once per UnknownKIDInterval). A kid the server does not hold, or holds
// revoked already, fails the test.
func (s *Server) Revoke(kid string) {
	if s.tb != nil {
		s.tb.Helper()
	}
	if err := s.keys.Revoke(context.Background(), kid); err != nil {
		s.fatalf("revoke: %v", err)
	}
}

// Token describes a token for Mint. Every field is optional: the zero
// Token is a valid access token for subject "user", in the shape
// `jwtauth serve` issues (RFC 9068 claim names). Times are truncated to
// whole seconds (NumericDate).
type Token struct {
	Subject  string   // sub; default "user"
	Issuer   string   // iss; default the server's URL. Another gives token.ErrInvalidIssuer
	Audience []string // aud; default the server's URL. Another gives token.ErrInvalidAudience
	Roles    []string // roles, when not nil (RFC 9068 §2.2.3.1)
	Groups   []string // groups, when not nil
	Scopes   []string // scope, space-separated, when not empty (RFC 8693 §4.2)
	// JKT binds the token to a DPoP key, when not empty: the claim
	// cnf {"jkt": JKT} (RFC 9449 §6.1). Use a DPoPKey's JKT (or
	// MintBound), or dpop.Thumbprint of your client key's public half; an
	// authn.Authenticator with DPoP then needs Authorization: DPoP and a
	// proof by that key (DPoPKey.Authorize, see docs/dpop.md).
	JKT string

	// IssuedAt is iat; default the server's Now.
	IssuedAt time.Time
	// NotBefore is nbf; default IssuedAt. A time after the verifier's now
	// plus its leeway gives token.ErrTokenNotYetValid.
	NotBefore time.Time
	// ExpiresAt is exp; default IssuedAt + token.DefaultAccessTTL
	// (15 min). A time at or before the verifier's now minus its leeway
	// (30 s by default) gives token.ErrTokenExpired.
	ExpiresAt time.Time

	// Claims sets any other claim, private or registered, as encoding/json
	// encodes it, and wins over every field above: {"tenant": 7},
	// {"roles": "admin"} (ill-typed), {"exp": "soon"}. A nil value leaves
	// the claim out: {"exp": nil} gives token.ErrMissingClaim.
	Claims map[string]any

	// Unpublished signs the token with a key the server never publishes:
	// the verifier fails with token.ErrUnknownKey, or with
	// token.ErrInvalidSignature when KID names a published key.
	Unpublished bool
	// KID is the kid of the JWS header; default the signing key's. A kid
	// the server does not publish gives token.ErrUnknownKey.
	KID string
}

// registered are the claims the Issuer of jwtauth writes, in its order.
var registered = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// Mint returns a compact JWS (RFC 7515 §7.1) of tok's claims, RS256,
// header {"alg":"RS256","typ":"JWT","kid":…}, claims in the order and
// encoding of token.Issuer. It signs with the active key unless
// tok.Unpublished is set. A claim encoding/json cannot encode fails the
// test; nothing else is refused, not even a token over
// token.MaxTokenSize.
func (s *Server) Mint(tok Token) string {
	if s.tb != nil {
		s.tb.Helper()
	}
	raw, err := s.mint(tok)
	if err != nil {
		s.fatalf("mint: %v", err)
	}
	return raw
}

func (s *Server) mint(tok Token) (string, error) {
	var priv *rsa.PrivateKey
	var kid string
	if tok.Unpublished {
		priv, kid = s.pool.outsider, s.pool.outsiderKID
	} else {
		k, err := s.keys.SigningKey()
		if err != nil {
			return "", err
		}
		priv, kid = k.Private, k.KID
	}
	if tok.KID != "" {
		kid = tok.KID
	}

	iat := tok.IssuedAt
	if iat.IsZero() {
		iat = s.Now()
	}
	nbf, exp := tok.NotBefore, tok.ExpiresAt
	if nbf.IsZero() {
		nbf = iat
	}
	if exp.IsZero() {
		exp = iat.Add(token.DefaultAccessTTL)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	claims := map[string]any{
		"iss": cmp.Or(tok.Issuer, s.URL), "sub": cmp.Or(tok.Subject, "user"), "aud": s.URL,
		"exp": exp.Unix(), "nbf": nbf.Unix(), "iat": iat.Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	switch len(tok.Audience) {
	case 0:
	case 1:
		claims["aud"] = tok.Audience[0] // a string, as token.Issuer writes one audience
	default:
		claims["aud"] = tok.Audience
	}
	if tok.Roles != nil {
		claims["roles"] = tok.Roles
	}
	if tok.Groups != nil {
		claims["groups"] = tok.Groups
	}
	if len(tok.Scopes) > 0 {
		claims["scope"] = strings.Join(tok.Scopes, " ")
	}
	if tok.JKT != "" {
		claims["cnf"] = map[string]string{"jkt": tok.JKT}
	}
	for name, v := range tok.Claims {
		claims[name] = v
	}

	// Registered claims first, in the Issuer's order, then the others by name.
	names := make([]string, 0, len(claims))
	for name := range claims {
		if !slices.Contains(registered, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names = append(slices.Clone(registered), names...)
	payload := []byte{'{'}
	for _, name := range names {
		v, ok := claims[name]
		if !ok || v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("claim %q: %w", name, err)
		}
		n, _ := json.Marshal(name)
		if len(payload) > 1 {
			payload = append(payload, ',')
		}
		payload = append(append(append(payload, n...), ':'), b...)
	}
	payload = append(payload, '}')

	hdr, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{keys.Algorithm, "JWT", kid})
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signed + "." + enc.EncodeToString(sig), nil
}

// Claims returns the token.Claims the middleware would hand a handler
// for Mint(tok), private claims included (Roles, Scopes, Decode…), for
// unit tests that call a handler directly with
// token.ContextWithClaims. The token is verified with the server's keys
// at its clock, accepting any iss and aud; a token no verifier accepts
// at that time (expired, not yet valid, an unpublished key, no exp) fails
// the test.
func (s *Server) Claims(tok Token) *token.Claims {
	if s.tb != nil {
		s.tb.Helper()
	}
	raw, err := s.mint(tok)
	if err != nil {
		s.fatalf("mint: %v", err)
	}
	c, err := s.anyIss.Verify(context.Background(), raw)
	if err != nil {
		s.fatalf("Claims: the token does not verify, so no handler sees its claims: %v", err)
	}
	return c
}

func (s *Server) fatalf(format string, args ...any) {
	if s.tb == nil {
		panic(fmt.Sprintf("jwtauthtest: "+format, args...))
	}
	s.tb.Helper()
	s.tb.Fatalf("jwtauthtest: "+format, args...)
}

// countingHandler counts the requests it passes to h.
type countingHandler struct {
	h  http.Handler
	mu sync.Mutex
	n  int
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func (c *countingHandler) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
