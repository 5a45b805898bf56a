package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// stopWhenListening is serve's log: it records the lines and ends serve's
// context once serve says it is listening, so serve starts and stops once.
type stopWhenListening struct {
	mu   sync.Mutex
	b    bytes.Buffer
	stop context.CancelFunc
}

func (w *stopWhenListening) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(p, []byte(`msg="jwtauth listening"`)) {
		w.stop()
	}
	return w.b.Write(p)
}

func (w *stopWhenListening) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestServeWarnsOfANewStore: serve says in one WARN line naming the path
// that it creates a new store and key set where no SQLite file exists (a
// first start, or a file lost), and says nothing of the kind when it opens
// the store it created. Its clear-key warning names its flag and variable.
func TestServeWarnsOfANewStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	start := func() string {
		t.Helper()
		cfg, err := parseServeConfig([]string{"--addr", "127.0.0.1:0", "--store", "sqlite:" + path}, nil)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		w := &stopWhenListening{stop: cancel}
		require.NoError(t, serve(ctx, cfg, slog.New(slog.NewTextHandler(w, nil))))
		return w.String()
	}
	const warning = `level=WARN msg="no store at this path: creating a new store and a new key set`
	first := start()
	require.Equal(t, 1, strings.Count(first, warning), first)
	assert.Contains(t, first, warning+` (expected on a first start; otherwise the previous store, its users and tokens, is lost)" store=sqlite:`+path+"\n")
	// serve names its own settings, not the Config fields of library mode.
	assert.Contains(t, first, `level=WARN msg="no key-encryption key: private signing keys are stored in clear; set --key-encryption-key or JWTAUTH_KEY_ENCRYPTION_KEY"`)
	assert.NotContains(t, first, "Config.")

	again := start()
	assert.NotContains(t, again, "creating a new", again)

	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		_ = os.Remove(p) // -wal and -shm are gone after a clean stop
	}
	lost := start()
	assert.Equal(t, 1, strings.Count(lost, warning), lost)
}

// TestServeWarnsOfAnEmptyStore: a SQLite store that exists but holds no key
// set (made by an earlier Open, or its keys lost) gets the no-key-set
// warning from serve, not the new-store one.
func TestServeWarnsOfAnEmptyStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	cfg, err := parseServeConfig([]string{"--addr", "127.0.0.1:0", "--store", "sqlite:" + path}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := &stopWhenListening{stop: cancel}
	require.NoError(t, serve(ctx, cfg, slog.New(slog.NewTextHandler(w, nil))))
	logs := w.String()
	assert.Equal(t, 1, strings.Count(logs, `level=WARN msg="the store holds no key set: creating a new key set`), logs)
	assert.NotContains(t, logs, "no store at this path", logs)
}

// TestLostSQLiteFileAnswers503: once the SQLite file is deleted under a
// running server, /healthz, /register and /login answer 503 (the writes
// with Retry-After) instead of 200 and 201 from a file the next start will
// not find, and the log names the path.
func TestLostSQLiteFileAnswers503(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	store, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg, err := parseServeConfig(nil, nil)
	require.NoError(t, err)
	sc := serviceConfig(cfg, store, log)
	sc.GenerateKey = keystest.Generator(t)
	svc, err := jwtauth.New(ctx, sc)
	require.NoError(t, err)
	defer svc.Close()
	h := serveHandler(svc, false)
	do := func(method, path, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(w, r)
		return w
	}
	alice := `{"username":"alice","password":"correct horse battery staple"}`
	require.Equal(t, http.StatusCreated, do(http.MethodPost, "/register", alice).Code)
	require.Equal(t, http.StatusOK, do(http.MethodGet, "/healthz", "").Code)

	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		require.NoError(t, os.Remove(p))
	}
	assert.Equal(t, http.StatusServiceUnavailable, do(http.MethodGet, "/healthz", "").Code)
	for _, req := range []struct{ path, body string }{
		{"/register", `{"username":"bob","password":"correct horse battery staple"}`},
		{"/login", alice},
	} {
		w := do(http.MethodPost, req.path, req.body)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code, "%s: %s", req.path, w.Body)
		assert.Contains(t, w.Body.String(), `"temporarily_unavailable"`, req.path)
		assert.Equal(t, "5", w.Header().Get("Retry-After"), req.path)
	}
	assert.Contains(t, logs.String(), "the database file "+path+" is gone", logs.String())
}
