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
	assert.Equal(t, []string{"POST /register", "POST /login", "POST /refresh", "POST /logout",
		"DELETE /account",
		"GET /.well-known/jwks.json", "GET /.well-known/openid-configuration"}, paths, "no /protected nor /healthz by default")
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
