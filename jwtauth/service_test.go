package jwtauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncLog is a log destination safe for the service's background goroutines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTestService(t *testing.T, cfg jwtauth.Config) (*jwtauth.Service, *syncLog) {
	t.Helper()
	var logs syncLog
	if cfg.Store == nil {
		cfg.Store = memory.New()
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "https://app.example.test/auth"
	}
	cfg.GenerateKey = keystest.Generator(t)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	svc, err := jwtauth.New(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	return svc, &logs
}

// TestServiceCloseLeavesNoGoroutine: inside a synctest bubble, Test fails
// when a goroutine the bubble started is still blocked after the test
// function returns; the key schedule and the purge loop both block on
// tickers, so this passes only if Close ends both.
func TestServiceCloseLeavesNoGoroutine(t *testing.T) {
	gen := keystest.Generator(t)
	synctest.Test(t, func(t *testing.T) {
		svc, err := jwtauth.New(t.Context(), jwtauth.Config{
			Store: memory.New(), Issuer: "https://app.example.test/auth",
			GenerateKey: gen, Logger: slog.New(slog.DiscardHandler),
		})
		require.NoError(t, err)
		time.Sleep(10 * time.Minute) // the schedule and two purges run
		svc.Close()
		svc.Close() // idempotent
	})
}

// TestServiceDefaults: zero values give the defaults of `jwtauth serve`.
func TestServiceDefaults(t *testing.T) {
	svc, logs := newTestService(t, jwtauth.Config{})
	assert.Equal(t, keys.Policy{Bits: 2048, RotateEvery: 24 * time.Hour, Prepublish: time.Hour,
		Retain: 15*time.Minute + 30*time.Second + 5*time.Minute}, svc.Keys().Policy())
	assert.Equal(t, "/auth", svc.MountPath())
	var paths []string
	for _, rt := range svc.Routes() {
		paths = append(paths, rt.Method+" "+rt.Path)
	}
	assert.Equal(t, []string{"POST /register", "POST /login", "POST /refresh", "POST /password", "POST /logout",
		"DELETE /account",
		"GET /.well-known/jwks.json", "GET /.well-known/openid-configuration", "GET /.well-known/oauth-authorization-server"},
		paths, "no /protected nor /healthz by default")
	assert.Contains(t, logs.String(), `level=WARN msg="no key-encryption key: private signing keys are stored in clear`)
	assert.Contains(t, logs.String(), `level=INFO msg="key transition"`, "key transitions go to Config.Logger")

	ctx := t.Context()
	require.NoError(t, svc.Accounts().Register(ctx, "alice", "correct horse battery staple"))
	tok, err := svc.Accounts().Login(ctx, "alice", "correct horse battery staple")
	require.NoError(t, err)
	assert.Equal(t, int64(900), tok.ExpiresIn)
	c, err := svc.Verifier().Verify(ctx, tok.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, "https://app.example.test/auth", c.Issuer)
	assert.Equal(t, []string{"https://app.example.test/auth"}, c.Audience, "audience defaults to the issuer")
	assert.Equal(t, 15*time.Minute, c.ExpiresAt.Sub(c.IssuedAt))

	w := httptest.NewRecorder()
	route(t, svc, "/.well-known/jwks.json").ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/auth/.well-known/jwks.json", nil))
	assert.Equal(t, "public, max-age=300", w.Header().Get("Cache-Control"))

	w = httptest.NewRecorder()
	route(t, svc, "/.well-known/openid-configuration").ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/auth/.well-known/openid-configuration", nil))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
	assert.Equal(t, "https://app.example.test/auth", doc["issuer"])
	assert.Equal(t, "https://app.example.test/auth/.well-known/jwks.json", doc["jwks_uri"])
}

// TestServiceMetadataPaths: the RFC 8414 metadata is served at the issuer +
// /.well-known/oauth-authorization-server (a route of Routes, under
// MountPath) and, for an issuer with a path, also where RFC 8414 §3.1 puts
// it, /.well-known/oauth-authorization-server + the issuer's path at the
// host's root (RootRoutes); both answer the discovery document's bytes.
// An issuer at the root of its host has one location for both forms and
// no RootRoutes.
func TestServiceMetadataPaths(t *testing.T) {
	for _, tc := range []struct{ issuer, root string }{
		{"https://app.example.test/auth", "/.well-known/oauth-authorization-server/auth"},
		{"https://app.example.test/a/b", "/.well-known/oauth-authorization-server/a/b"},
		{"https://app.example.test", ""},
	} {
		svc, _ := newTestService(t, jwtauth.Config{Issuer: tc.issuer})
		get := func(h http.Handler, path string) *httptest.ResponseRecorder {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			require.Equal(t, http.StatusOK, w.Code, "%s %s", tc.issuer, path)
			return w
		}
		oidc := get(route(t, svc, "/.well-known/openid-configuration"), svc.MountPath()+"/.well-known/openid-configuration")
		var doc map[string]any
		require.NoError(t, json.Unmarshal(oidc.Body.Bytes(), &doc))
		assert.Equal(t, tc.issuer, doc["issuer"])

		meta := get(route(t, svc, "/.well-known/oauth-authorization-server"), svc.MountPath()+"/.well-known/oauth-authorization-server")
		assert.Equal(t, oidc.Body.String(), meta.Body.String(), tc.issuer)
		assert.Equal(t, "application/json", meta.Header().Get("Content-Type"))
		assert.Equal(t, oidc.Header().Get("ETag"), meta.Header().Get("ETag"))

		root := svc.RootRoutes()
		if tc.root == "" {
			assert.Empty(t, root, tc.issuer)
			continue
		}
		require.Len(t, root, 1, tc.issuer)
		assert.Equal(t, http.MethodGet, root[0].Method)
		assert.Equal(t, tc.root, root[0].Path)
		assert.False(t, root[0].Protected)
		assert.Equal(t, oidc.Body.String(), get(root[0].Handler, tc.root).Body.String(), tc.issuer)
	}
}

// TestServiceClaimNames: Config.ClaimNames, the names the claims hook adds,
// are listed in claims_supported beside the registered claims; without
// them "roles" is not, even though a hook grants it; names without a hook,
// or naming a registered claim, are refused.
func TestServiceClaimNames(t *testing.T) {
	hook := func(context.Context, string) (map[string]any, error) {
		return map[string]any{"roles": []string{"user"}}, nil
	}
	claims := func(svc *jwtauth.Service) []any {
		var doc struct {
			Claims []any `json:"claims_supported"`
		}
		for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
			w := httptest.NewRecorder()
			route(t, svc, p).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/auth"+p, nil))
			require.Equal(t, http.StatusOK, w.Code)
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
		}
		return doc.Claims
	}
	registered := []any{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}
	svc, _ := newTestService(t, jwtauth.Config{Claims: hook})
	assert.Equal(t, registered, claims(svc), "nothing declared: roles is not claimed")
	svc, _ = newTestService(t, jwtauth.Config{Claims: hook, ClaimNames: []string{"roles", "tenant"}})
	assert.Equal(t, append(registered, "roles", "tenant"), claims(svc))

	for _, tc := range []struct {
		cfg  jwtauth.Config
		want string
	}{
		{jwtauth.Config{ClaimNames: []string{"roles"}}, "Config.ClaimNames without Config.Claims"},
		{jwtauth.Config{Claims: hook, ClaimNames: []string{"sub"}}, `claim name "sub"`},
		{jwtauth.Config{Claims: hook, ClaimNames: []string{""}}, `claim name ""`},
	} {
		tc.cfg.Store, tc.cfg.Issuer, tc.cfg.GenerateKey = memory.New(), "https://app.example.test/auth", keystest.Generator(t)
		tc.cfg.Logger = slog.New(slog.DiscardHandler)
		_, err := jwtauth.New(t.Context(), tc.cfg)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func route(t *testing.T, svc *jwtauth.Service, path string) http.Handler {
	t.Helper()
	for _, rt := range svc.Routes() {
		if rt.Path == path {
			return rt.Handler
		}
	}
	t.Fatalf("no route %s", path)
	return nil
}

// TestServiceOptInRoutes: /healthz and /protected come only when asked for,
// and /healthz checks the store.
func TestServiceOptInRoutes(t *testing.T) {
	svc, logs := newTestService(t, jwtauth.Config{ServeHealthz: true, ServeProtected: true, KeyEncryptionKey: bytes.Repeat([]byte{7}, 32)})
	assert.NotContains(t, logs.String(), "stored in clear", "a key-encryption key is set")
	var protected bool
	for _, rt := range svc.Routes() {
		protected = protected || rt.Path == "/protected" && rt.Protected
	}
	assert.True(t, protected)
	w := httptest.NewRecorder()
	route(t, svc, "/healthz").ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"status":"ok"}`, w.Body.String())
}

// TestServicePurgesEveryFiveMinutes: the account maintenance runs on serve's
// cadence, at start and then every 5 min, and logs through Config.Logger.
func TestServicePurgesEveryFiveMinutes(t *testing.T) {
	gen := keystest.Generator(t)
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		store := memory.New()
		require.NoError(t, store.CreateUser(ctx, account.User{Username: "alice", PasswordHash: "x", CreatedAt: time.Now()}))
		require.NoError(t, store.CreateRefreshToken(ctx, account.RefreshToken{
			Hash: bytes.Repeat([]byte{1}, 32), FamilyID: "f1", Username: "alice",
			IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute),
		}))
		var logs syncLog
		svc, err := jwtauth.New(ctx, jwtauth.Config{Store: store, Issuer: "https://app.example.test",
			GenerateKey: gen, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		require.NoError(t, err)
		defer svc.Close()
		assert.Equal(t, "", svc.MountPath())
		synctest.Wait()
		assert.NotContains(t, logs.String(), "purged", "the token is not expired at start")
		time.Sleep(5*time.Minute - time.Nanosecond)
		synctest.Wait()
		assert.NotContains(t, logs.String(), "purged", "no purge before 5 min")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Contains(t, logs.String(), `msg="purged expired refresh tokens" count=1`)
	})
}

// TestNewRefusesBadConfig: each mistake is a clear error and starts nothing.
func TestNewRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  jwtauth.Config
		want string
	}{
		{"no store", jwtauth.Config{Issuer: "https://a.example"}, "Config.Store is required"},
		{"no issuer", jwtauth.Config{Store: memory.New()}, "is not an absolute http(s) URL"},
		{"relative issuer", jwtauth.Config{Store: memory.New(), Issuer: "/auth"}, "is not an absolute http(s) URL"},
		{"issuer with query", jwtauth.Config{Store: memory.New(), Issuer: "https://a.example/auth?x=1"}, "query"},
		{"issuer with dot segment", jwtauth.Config{Store: memory.New(), Issuer: "https://a.example/a/../auth"}, "plain segments"},
		{"issuer with escape", jwtauth.Config{Store: memory.New(), Issuer: "https://a.example/a%2Fb"}, "plain segments"},
		{"issuer with a router wildcard", jwtauth.Config{Store: memory.New(), Issuer: "https://a.example/a:b"}, "no : or *"},
		{"issuer with a catch-all", jwtauth.Config{Store: memory.New(), Issuer: "https://a.example/auth/*rest"}, "no : or *"},
		{"prepublish under max-age", jwtauth.Config{Store: memory.New(), Issuer: "https://a.example", JWKSMaxAge: 2 * time.Hour}, "Prepublish 1h0m0s is shorter than JWKSMaxAge 2h0m0s"},
		{"bad key size", jwtauth.Config{Store: memory.New(), Issuer: "https://a.example", KeyBits: 1024}, "open key set"},
		{"retention under the token lifetime", jwtauth.Config{Store: memory.New(), Issuer: "https://a.example", KeyRetention: 20 * time.Minute},
			"Config.KeyRetention 20m0s is shorter than AccessTTL 15m0s + leeway 30s + JWKSMaxAge 5m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = slog.New(slog.DiscardHandler)
			svc, err := jwtauth.New(context.Background(), tc.cfg)
			require.Error(t, err)
			assert.Nil(t, svc)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestNewKeyRetention: a KeyRetention longer than the tokens need (serve
// adopting the key set's stored policy) is the key manager's retention,
// and is stored with the key set; none gives AccessTTL + leeway + max-age.
func TestNewKeyRetention(t *testing.T) {
	for _, tc := range []struct {
		retain, want time.Duration
	}{
		{0, 15*time.Minute + 30*time.Second + 5*time.Minute},
		{30 * time.Minute, 30 * time.Minute},
	} {
		st := memory.New()
		svc, err := jwtauth.New(t.Context(), jwtauth.Config{Store: st, Issuer: "https://a.example", KeyRetention: tc.retain,
			GenerateKey: keystest.Generator(t), Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		assert.Equal(t, tc.want, svc.Keys().Policy().Retain)
		stored, err := st.LoadSchedule(t.Context())
		require.NoError(t, err)
		assert.Equal(t, tc.want, stored.Retain)
		svc.Close()
	}
}

// TestServiceTakesPortsSeparately: Config.Users and Config.RefreshTokens
// put the accounts and the refresh tokens in stores other than Store. Users
// alone (an application's own users table) leaves refresh tokens off, as
// jwtauth's stores keep them only for their own users; both set, each
// store gets its part; neither, Store keeps all.
func TestServiceTakesPortsSeparately(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name           string
		users, refresh *memory.Store // nil: not set in Config
		wantRefresh    bool
	}{
		{"Store alone", nil, nil, true},
		{"own users", memory.New(), nil, false},
		{"own users and refresh tokens", memory.New(), memory.New(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := jwtauth.Config{Store: memory.New()}
			if tc.users != nil {
				cfg.Users = tc.users
			}
			if tc.refresh != nil {
				cfg.RefreshTokens = tc.refresh
			}
			svc, _ := newTestService(t, cfg)
			require.NoError(t, svc.Accounts().Register(ctx, "alice", "correct horse battery"))
			usersIn := cfg.Store.(*memory.Store)
			if tc.users != nil {
				usersIn = tc.users
			}
			_, err := usersIn.UserByName(ctx, "alice")
			require.NoError(t, err, "the account is in the users store")
			if tc.users != nil {
				_, err := cfg.Store.UserByName(ctx, "alice")
				assert.ErrorIs(t, err, account.ErrUserNotFound, "and not in Store")
			}
			if tc.refresh != nil { // its family references the user
				require.NoError(t, tc.refresh.CreateUser(ctx, account.User{Username: "alice", PasswordHash: "x"}))
			}
			tok, err := svc.Accounts().Login(ctx, "alice", "correct horse battery")
			require.NoError(t, err)
			assert.Equal(t, tc.wantRefresh, tok.RefreshToken != "", "a refresh token")
			_, err = svc.Accounts().Refresh(ctx, tok.RefreshToken)
			if !tc.wantRefresh {
				assert.ErrorIs(t, err, account.ErrRefreshDisabled)
				return
			}
			require.NoError(t, err)
			if tc.refresh != nil {
				n, err := tc.refresh.RevokeUserRefreshFamilies(ctx, "alice", time.Now())
				require.NoError(t, err)
				assert.Equal(t, int64(1), n, "the family is in the refresh-token store")
			}
		})
	}
}
