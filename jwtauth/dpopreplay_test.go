package jwtauth_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/adapters/postgres"
	"github.com/jwtauth/jwtauth/adapters/postgres/pgtest"
	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

// postgresSchemaDSN returns a DSN for a fresh schema of the test database
// (pgtest.SchemaDSN).
func postgresSchemaDSN(t *testing.T) string { return pgtest.SchemaDSN(t, "jwtauth_face_") }

// dpopInstance is dpopService's handler, for one of several instances on
// one store.
func dpopInstance(t *testing.T, cfg jwtauth.Config) http.Handler {
	t.Helper()
	_, h := dpopService(t, cfg)
	return h
}

// twoStores opens two handles of one database, as two instances hold them.
var twoStores = map[string]func(t *testing.T) (account.Store, account.Store){
	"sqlite": func(t *testing.T) (account.Store, account.Store) {
		path := filepath.Join(t.TempDir(), "jwtauth.db")
		open := func() account.Store {
			s, err := sqlite.Open(t.Context(), path)
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		return open(), open()
	},
	"postgres": func(t *testing.T) (account.Store, account.Store) {
		dsn := postgresSchemaDSN(t)
		open := func() account.Store {
			s, err := postgres.Open(t.Context(), dsn)
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		return open(), open()
	},
}

// TestDPoPReplayAcrossInstances runs two Services on one SQLite file (and
// one PostgreSQL schema): a proof /login or /refresh accepted at instance A
// is refused at B with 400 invalid_dpop_proof, before anything is spent
// (the password is not checked, the refresh token still works at B with a
// fresh proof). The Authenticator's cache stays per process unless
// DPoPProofs.Replay names the store: then a resource proof replayed at B
// is refused too.
func TestDPoPReplayAcrossInstances(t *testing.T) {
	for name, stores := range twoStores {
		t.Run(name, func(t *testing.T) {
			sa, sb := stores(t)
			a, b := dpopInstance(t, jwtauth.Config{Store: sa}), dpopInstance(t, jwtauth.Config{Store: sb})
			key := newP256(t)

			proof := proofFor(t, key, http.MethodPost, loginURL, dpop.ProofOptions{})
			w := postJSON(t, a, "/auth/login", aliceCreds, proof)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			login := decodeBody(t, w)
			require.Equal(t, "DPoP", login.TokenType)
			w = postJSON(t, b, "/auth/login", aliceCreds, proof)
			assert.Equal(t, http.StatusBadRequest, w.Code, "a login proof replayed at B: %s", w.Body.String())
			assert.Equal(t, "invalid_dpop_proof", decodeBody(t, w).Error)
			assert.Contains(t, w.Body.String(), "jti already used (replay)")
			assert.Equal(t, `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"`, w.Header().Get("WWW-Authenticate"))
			w = postJSON(t, b, "/auth/login", map[string]string{"username": "alice", "password": "wrong horse battery"}, proof)
			assert.Equal(t, "invalid_dpop_proof", decodeBody(t, w).Error, "the proof is refused before the password is checked")

			// A refresh at A, its proof replayed at B with the successor:
			// refused, and the successor is not spent.
			rproof := proofFor(t, key, http.MethodPost, refreshURL, dpop.ProofOptions{})
			w = postJSON(t, a, "/auth/refresh", map[string]string{"refresh_token": login.RefreshToken}, rproof)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			next := decodeBody(t, w)
			w = postJSON(t, b, "/auth/refresh", map[string]string{"refresh_token": next.RefreshToken}, rproof)
			assert.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			assert.Equal(t, "invalid_dpop_proof", decodeBody(t, w).Error)
			w = postJSON(t, b, "/auth/refresh", map[string]string{"refresh_token": next.RefreshToken},
				proofFor(t, key, http.MethodPost, refreshURL, dpop.ProofOptions{}))
			assert.Equal(t, http.StatusOK, w.Code, "the successor was not spent by the refused replay: %s", w.Body.String())

			// The Authenticator's cache is per process by default (the
			// measured cost of a store round trip per request).
			pr := proofFor(t, key, http.MethodGet, dpopIssuer+"/protected", dpop.ProofOptions{AccessToken: login.AccessToken})
			assert.Equal(t, http.StatusOK, getProtected(t, a, "DPoP", login.AccessToken, pr).Code)
			assert.Equal(t, http.StatusUnauthorized, getProtected(t, a, "DPoP", login.AccessToken, pr).Code, "replayed at A")
			assert.Equal(t, http.StatusOK, getProtected(t, b, "DPoP", login.AccessToken, pr).Code,
				"replayed at B: accepted, the Authenticator's cache is per process unless DPoPProofs.Replay is set")

			// DPoPProofs.Replay set to the store wins: the Authenticators
			// share it too.
			a2 := dpopInstance(t, jwtauth.Config{Store: sa, DPoPProofs: dpop.Config{Replay: sa.(dpop.ReplayCache)}})
			b2 := dpopInstance(t, jwtauth.Config{Store: sb, DPoPProofs: dpop.Config{Replay: sb.(dpop.ReplayCache)}})
			pr = proofFor(t, key, http.MethodGet, dpopIssuer+"/protected", dpop.ProofOptions{AccessToken: login.AccessToken})
			assert.Equal(t, http.StatusOK, getProtected(t, a2, "DPoP", login.AccessToken, pr).Code)
			w = getProtected(t, b2, "DPoP", login.AccessToken, pr)
			assert.Equal(t, http.StatusUnauthorized, w.Code, "a resource proof replayed at B with the shared cache")
			assert.Contains(t, w.Header().Get("WWW-Authenticate"), `error="invalid_dpop_proof"`)
		})
	}
}

// TestDPoPReplayOverride: Config.DPoPReplay replaces the Store's cache at
// the issuing endpoints (here an in-process one: two Services on one store
// then accept the same proof each once).
func TestDPoPReplayOverride(t *testing.T) {
	store := memory.New()
	a := dpopInstance(t, jwtauth.Config{Store: store, DPoPReplay: dpop.NewMemoryReplayCache(100)})
	b := dpopInstance(t, jwtauth.Config{Store: store, DPoPReplay: dpop.NewMemoryReplayCache(100)})
	proof := proofFor(t, newP256(t), http.MethodPost, loginURL, dpop.ProofOptions{})
	for name, h := range map[string]http.Handler{"A": a, "B": b} {
		w := postJSON(t, h, "/auth/login", aliceCreds, proof)
		assert.Equal(t, http.StatusOK, w.Code, "%s: %s", name, w.Body.String())
		w = postJSON(t, h, "/auth/login", aliceCreds, proof)
		assert.Equal(t, http.StatusBadRequest, w.Code, "%s, replayed", name)
	}
}

// failingReplay is a memory store whose replay cache fails while fail is set.
type failingReplay struct {
	*memory.Store
	fail atomic.Bool
}

func (s *failingReplay) Seen(ctx context.Context, key string, expires, now time.Time) (bool, error) {
	if s.fail.Load() {
		return false, errors.New("replay table unavailable")
	}
	return s.Store.Seen(ctx, key, expires, now)
}

// TestDPoPReplayStoreFailing: while the store's replay cache fails, /login
// and /refresh with a proof answer 503 temporarily_unavailable with
// Retry-After, spending nothing: once it answers again, the same refresh
// token works with a fresh proof.
func TestDPoPReplayStoreFailing(t *testing.T) {
	store := &failingReplay{Store: memory.New()}
	h := dpopInstance(t, jwtauth.Config{Store: store})
	key := newP256(t)
	w := postJSON(t, h, "/auth/login", aliceCreds, proofFor(t, key, http.MethodPost, loginURL, dpop.ProofOptions{}))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	login := decodeBody(t, w)

	store.fail.Store(true)
	for path, body := range map[string]map[string]string{
		"/login":   aliceCreds,
		"/refresh": {"refresh_token": login.RefreshToken},
	} {
		w := postJSON(t, h, "/auth"+path, body, proofFor(t, key, http.MethodPost, dpopIssuer+path, dpop.ProofOptions{}))
		assert.Equal(t, http.StatusServiceUnavailable, w.Code, path)
		assert.Equal(t, "temporarily_unavailable", decodeBody(t, w).Error, path)
		assert.Equal(t, "5", w.Header().Get("Retry-After"), path)
		assert.NotContains(t, w.Body.String(), "replay table", path)
	}
	store.fail.Store(false)
	w = postJSON(t, h, "/auth/refresh", map[string]string{"refresh_token": login.RefreshToken},
		proofFor(t, key, http.MethodPost, refreshURL, dpop.ProofOptions{}))
	assert.Equal(t, http.StatusOK, w.Code, "the refresh token survived the 503: %s", w.Body.String())
}

// stalledReplay is a replay cache whose store hangs (a held write lock): its
// Seen waits for ctx and reports whether ctx had a deadline at all.
type stalledReplay struct {
	*memory.Store
	stall       atomic.Bool
	noDeadline  atomic.Bool
	sawDeadline atomic.Int64 // nanoseconds from the call to ctx's deadline
}

func (s *stalledReplay) Seen(ctx context.Context, key string, expires, now time.Time) (bool, error) {
	if !s.stall.Load() {
		return s.Store.Seen(ctx, key, expires, now)
	}
	d, ok := ctx.Deadline()
	if !ok {
		s.noDeadline.Store(true)
		return false, errors.New("no deadline: this call would wait as long as the store hangs")
	}
	s.sawDeadline.Store(int64(time.Until(d)))
	<-ctx.Done()
	return false, ctx.Err()
}

// TestDPoPReplayStoreTimeout: a hanging replay cache at /login and
// /refresh, and in the Service's Authenticator when it is given the
// store's, is bounded by Config.StoreTimeout (dpop.Config.ReplayTimeout),
// as every other store call of the request is (it waited for the store's own lock timeout, one per
// queued writer: 6 to 25 s behind a held SQLite write lock with a 1 s
// --store-timeout), and answers 503, spending nothing.
func TestDPoPReplayStoreTimeout(t *testing.T) {
	store := &stalledReplay{Store: memory.New()}
	const timeout = 50 * time.Millisecond
	h := dpopInstance(t, jwtauth.Config{Store: store, StoreTimeout: timeout})
	key := newP256(t)
	w := postJSON(t, h, "/auth/login", aliceCreds, proofFor(t, key, http.MethodPost, loginURL, dpop.ProofOptions{}))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	login := decodeBody(t, w)

	store.stall.Store(true)
	for path, body := range map[string]map[string]string{
		"/login":   aliceCreds,
		"/refresh": {"refresh_token": login.RefreshToken},
	} {
		w := postJSON(t, h, "/auth"+path, body, proofFor(t, key, http.MethodPost, dpopIssuer+path, dpop.ProofOptions{}))
		require.False(t, store.noDeadline.Load(), "%s: the replay cache got a context without a deadline", path)
		assert.LessOrEqual(t, time.Duration(store.sawDeadline.Load()), timeout, "%s: the deadline is the store timeout", path)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code, path)
		assert.Equal(t, "temporarily_unavailable", decodeBody(t, w).Error, path)
	}
	store.stall.Store(false)
	w = postJSON(t, h, "/auth/refresh", map[string]string{"refresh_token": login.RefreshToken},
		proofFor(t, key, http.MethodPost, refreshURL, dpop.ProofOptions{}))
	assert.Equal(t, http.StatusOK, w.Code, "the refresh token survived the 503: %s", w.Body.String())

	// The Service's Authenticator, given the store's cache: the same bound.
	store = &stalledReplay{Store: memory.New()}
	h = dpopInstance(t, jwtauth.Config{Store: store, StoreTimeout: timeout, DPoPProofs: dpop.Config{Replay: store}})
	w = postJSON(t, h, "/auth/login", aliceCreds, proofFor(t, key, http.MethodPost, loginURL, dpop.ProofOptions{}))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	login = decodeBody(t, w)
	store.stall.Store(true)
	w = getProtected(t, h, "DPoP", login.AccessToken,
		proofFor(t, key, http.MethodGet, dpopIssuer+"/protected", dpop.ProofOptions{AccessToken: login.AccessToken}))
	require.False(t, store.noDeadline.Load(), "the Authenticator's replay cache got a context without a deadline")
	assert.LessOrEqual(t, time.Duration(store.sawDeadline.Load()), timeout)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
}
