// Package interop proves that verifiers nobody on this project wrote accept
// the tokens of jwtauth and follow its key rotation: coreos/go-oidc (OIDC
// discovery + Verifier) and MicahParks/keyfunc with golang-jwt/jwt. It is a
// separate module so that the library's go.mod does not carry them.
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/jwtauthtest"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

const audience = "https://api.example.com"

// authServer is the reference server's handler (jwtauth.Routes on
// adapters/nethttp) on an httptest.Server whose URL is the issuer.
type authServer struct {
	url string
	mgr *keys.Manager
}

func startAuthServer(t *testing.T) *authServer {
	t.Helper()
	ctx := t.Context()
	quiet := slog.New(slog.DiscardHandler)
	store := memory.New()
	mgr, err := keys.Open(ctx, keys.Config{Store: store, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: mgr, Issuer: srv.URL, Audience: []string{audience}})
	require.NoError(t, err)
	acc, err := account.New(account.Config{Users: store, Issuer: iss, RefreshTokens: store})
	require.NoError(t, err)
	disc, err := jwtauth.NewDiscoveryHandler(srv.URL)
	require.NoError(t, err)
	ver, err := token.NewVerifier(token.VerifierConfig{Keys: mgr, Issuer: srv.URL, Audience: []string{audience}})
	require.NoError(t, err)
	h = nethttp.Handler(jwtauth.Routes(jwtauth.RoutesConfig{
		Accounts: acc, JWKS: jwtauth.NewJWKSHandler(mgr, 5*time.Minute), Discovery: disc,
	}), &authn.Authenticator{Verifier: ver})
	a := &authServer{url: srv.URL, mgr: mgr}
	a.post(t, "/register", http.StatusCreated)
	return a
}

func (a *authServer) post(t *testing.T, path string, want int) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": "alice", "password": "correct horse battery staple"})
	res, err := http.Post(a.url+path, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, want, res.StatusCode, path)
	var out map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	return out
}

// login returns a fresh access token for alice, signed by the active key.
func (a *authServer) login(t *testing.T) string {
	t.Helper()
	return a.post(t, "/login", http.StatusOK)["access_token"].(string)
}

// verifier is one independent verifier under test.
type verifier struct {
	name   string
	verify func(ctx context.Context, raw string) (sub string, err error)
	// unknownKey reports whether err is this verifier's rejection of a
	// token whose kid is in no JWKS it fetched (the revoked key's).
	unknownKey func(err error) bool
}

// rejected verifies raw, a token of a key no longer in the JWKS, expecting
// a refusal. go-oidc's RemoteKeySet (oidc/jwks.go, keysFromRemote) wakes
// the caller of a refetch before it stores the fetched keys in its cache,
// so a verification right after it may still read the old cache, revoked
// key included, for the few instructions until the fetching goroutine
// stores them. rejected therefore lets that goroutine run (runtime.Gosched,
// at most 1000 times; no wall-clock wait) while the token is accepted: a
// verifier that really keeps the revoked key accepts it every time and
// the test fails. It returns the last error.
func (v verifier) rejected(ctx context.Context, raw string) error {
	var err error
	for range 1000 {
		if _, err = v.verify(ctx, raw); err != nil {
			return err
		}
		runtime.Gosched()
	}
	return err
}

func goOIDC(t *testing.T, issuer string) verifier {
	p, err := oidc.NewProvider(t.Context(), issuer) // discovery, issuer equality checked by go-oidc
	require.NoError(t, err)
	v := p.Verifier(&oidc.Config{ClientID: audience})
	return verifier{"go-oidc", func(ctx context.Context, raw string) (string, error) {
		tok, err := v.Verify(ctx, raw)
		if err != nil {
			return "", err
		}
		return tok.Subject, nil
	}, func(err error) bool {
		// go-oidc has no sentinel errors: its message when no key of the
		// refreshed JWKS has the token's kid (oidc/jwks.go).
		return strings.Contains(err.Error(), "failed to verify signature: failed to verify id token signature")
	}}
}

func keyfuncJWT(t *testing.T, issuer string) verifier {
	// keyfunc refreshes every hour and on an unknown kid (rate-limited to
	// one per 5 min by default; unlimited here so that the test needs no
	// clock) and replaces its whole cache on a refresh.
	kf, err := keyfunc.NewDefaultOverrideCtx(t.Context(), []string{issuer + "/.well-known/jwks.json"}, keyfunc.Override{
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
	})
	require.NoError(t, err)
	p := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	return verifier{"keyfunc+golang-jwt", func(ctx context.Context, raw string) (string, error) {
		tok, err := p.Parse(raw, kf.KeyfuncCtx(ctx))
		if err != nil {
			return "", err
		}
		return tok.Claims.GetSubject()
	}, func(err error) bool {
		return errors.Is(err, jwt.ErrTokenUnverifiable) && errors.Is(err, jwkset.ErrKeyNotFound)
	}}
}

func jwtauthRemote(t *testing.T, issuer string) verifier {
	v, ks, err := remote.NewVerifier(t.Context(),
		remote.Config{Issuer: issuer, UnknownKIDInterval: time.Nanosecond, Logger: slog.New(slog.DiscardHandler)},
		token.VerifierConfig{Audience: []string{audience}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ks.Close() })
	return verifier{"remote.KeySet", func(ctx context.Context, raw string) (string, error) {
		c, err := v.Verify(ctx, raw)
		if err != nil {
			return "", err
		}
		return c.Subject, nil
	}, func(err error) bool {
		return errors.Is(err, token.ErrUnknownKey)
	}}
}

// TestIndependentVerifiersFollowRotationAndRevocation: tokens from before
// and after a rotation verify; after the signing key of the first token is
// revoked and each verifier has refreshed (all three refresh on an unknown
// kid, here the kid of the key promoted by a second rotation), that token is
// rejected.
func TestIndependentVerifiersFollowRotationAndRevocation(t *testing.T) {
	a := startAuthServer(t)
	ctx := t.Context()
	verifiers := []verifier{goOIDC(t, a.url), keyfuncJWT(t, a.url), jwtauthRemote(t, a.url)}

	expect := func(raw string, ok bool, when string) {
		t.Helper()
		for _, v := range verifiers {
			if ok {
				sub, err := v.verify(ctx, raw)
				if assert.NoError(t, err, "%s %s", v.name, when) {
					assert.Equal(t, "alice", sub, v.name)
				}
			} else if err := v.rejected(ctx, raw); assert.Error(t, err, "%s %s: a token of a revoked key must be rejected", v.name, when) {
				assert.True(t, v.unknownKey(err), "%s %s: rejected for another reason than its unknown kid: %v", v.name, when, err)
			}
		}
	}

	tokA := a.login(t)
	kidA := a.mgr.Current().Active().KID
	expect(tokA, true, "before rotation")

	_, err := a.mgr.Rotate(ctx, true)
	require.NoError(t, err)
	tokB := a.login(t)
	require.NotEqual(t, kidA, a.mgr.Current().Active().KID)
	expect(tokB, true, "after rotation (pre-published key)")
	expect(tokA, true, "after rotation (retired key still published)")

	require.NoError(t, a.mgr.Revoke(ctx, kidA))
	_, err = a.mgr.Rotate(ctx, true) // promotes a key none of them has fetched yet
	require.NoError(t, err)
	tokC := a.login(t)
	expect(tokC, true, "after a second rotation (unknown kid → refresh)")
	expect(tokA, false, "after revocation and refresh")
	expect(tokB, true, "after revocation of another key")
}

// TestEmergencyRevokeReachesIndependentVerifiers is issue 22 item 1: after
// `keys revoke` of the active key, the first token of the key that signs
// next makes each verifier refetch the JWKS (its kid is one none of them
// has cached), and from then on each rejects the revoked key's tokens. With
// PromoteNext (`keys revoke --promote-next`, the behaviour before), the new
// signing key is one they all cached, none refetches, and each keeps
// accepting the revoked key (go-oidc until a later rotation brings an
// unknown kid; keyfunc until its hourly refresh).
func TestEmergencyRevokeReachesIndependentVerifiers(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opts        keys.RevokeOptions
		stillAccept bool
	}{
		{"fresh key", keys.RevokeOptions{}, false},
		{"promote-next", keys.RevokeOptions{PromoteNext: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startAuthServer(t)
			ctx := t.Context()
			verifiers := []verifier{goOIDC(t, a.url), keyfuncJWT(t, a.url), jwtauthRemote(t, a.url)}
			leaked := a.login(t)
			leakedKID, next := a.mgr.Current().Active().KID, a.mgr.Current().Next().KID
			for _, v := range verifiers {
				_, err := v.verify(ctx, leaked)
				require.NoError(t, err, "%s caches the JWKS with the active and the next key", v.name)
			}

			res, err := a.mgr.RevokeWith(ctx, leakedKID, tc.opts)
			require.NoError(t, err)
			require.Equal(t, tc.opts.PromoteNext, res.Promoted == next, "the key that signs now")
			first := a.login(t)
			for _, v := range verifiers {
				sub, err := v.verify(ctx, first)
				require.NoError(t, err, "%s: the first token after the revoke", v.name)
				assert.Equal(t, "alice", sub)
				if tc.stillAccept {
					_, err = v.verify(ctx, leaked)
					assert.NoError(t, err, "%s: no refetch, the revoked key stays cached", v.name)
					continue
				}
				if err := v.rejected(ctx, leaked); assert.Error(t, err, "%s: the revoked key's token right after the first new token", v.name) {
					assert.True(t, v.unknownKey(err), "%s: rejected for another reason than its unknown kid: %v", v.name, err)
				}
			}
		})
	}
}

// TestIssuerMismatchIsRefused: discovery with another issuer fails in
// go-oidc and in jwtauth alike.
func TestIssuerMismatchIsRefused(t *testing.T) {
	a := startAuthServer(t)
	_, err := oidc.NewProvider(t.Context(), a.url+"/")
	assert.Error(t, err)
	_, err = remote.NewKeySet(t.Context(), remote.Config{Issuer: a.url + "/"})
	assert.ErrorIs(t, err, remote.ErrJWKSFetch)
}

// TestGoOIDCFollowsAServiceUnderAPrefix: a jwtauth.Service mounted under
// /auth of an application's mux (issuer http://host/auth) is an OpenID
// Connect issuer go-oidc discovers and whose tokens it verifies.
func TestGoOIDCFollowsAServiceUnderAPrefix(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	iss := "http://" + srv.Listener.Addr().String() + "/auth"
	svc, err := jwtauth.New(t.Context(), jwtauth.Config{Store: memory.New(), Issuer: iss, Audience: []string{audience},
		GenerateKey: keystest.Generator(t), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	mux := http.NewServeMux()
	nethttp.MountService(mux, svc)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)

	a := &authServer{url: iss, mgr: svc.Keys()}
	a.post(t, "/register", http.StatusCreated)
	raw := a.login(t)
	sub, err := goOIDC(t, iss).verify(t.Context(), raw)
	require.NoError(t, err)
	assert.Equal(t, "alice", sub)
}

// TestJWTAuthTestIssuer: the test issuer of jwtauthtest is an issuer
// go-oidc and keyfunc discover and verify like the real one, so an
// application may test against it whichever verifier it uses; its
// expired, wrong-audience and unpublished-key tokens fail in each.
func TestJWTAuthTestIssuer(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	verifiers := []verifier{goOIDC(t, srv.URL), keyfuncJWT(t, srv.URL), jwtauthRemote(t, srv.URL)}
	for _, tc := range []struct {
		name string
		tok  jwtauthtest.Token
		ok   bool
	}{
		{"valid", jwtauthtest.Token{Subject: "alice", Roles: []string{"admin"}}, true},
		{"expired", jwtauthtest.Token{Subject: "alice", ExpiresAt: srv.Now().Add(-time.Hour)}, false},
		{"wrong audience", jwtauthtest.Token{Subject: "alice", Audience: []string{"https://other.example"}}, false},
		{"unpublished key", jwtauthtest.Token{Subject: "alice", Unpublished: true}, false},
	} {
		if len(tc.tok.Audience) == 0 {
			tc.tok.Audience = []string{audience}
		}
		raw := srv.Mint(tc.tok)
		for _, v := range verifiers {
			sub, err := v.verify(t.Context(), raw)
			if tc.ok {
				if assert.NoError(t, err, "%s: %s", tc.name, v.name) {
					assert.Equal(t, "alice", sub)
				}
			} else {
				assert.Error(t, err, "%s: %s", tc.name, v.name)
			}
		}
	}
}
