package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/postgres/pgtest"
)

// postgresSchemaDSN returns a DSN for a fresh schema of the test database
// (pgtest.SchemaDSN).
func postgresSchemaDSN(t *testing.T) string { return pgtest.SchemaDSN(t, "jwtauth_e2e_") }

// TestTwoInstancesOnPostgres runs two real `jwtauth serve` processes on one
// PostgreSQL schema: a login on A opens /protected on B, a refresh token A
// issued works on B, a username registered on A is taken on B, and a
// `keys rotate --now` through the shared store reaches B's JWKS and signing
// within 1 s (B polls every 2 s: LISTEN/NOTIFY brings it).
func TestTwoInstancesOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dsn := postgresSchemaDSN(t)
	bin := buildBinary(t)
	// Behind a load balancer both instances are one issuer: its public URL.
	args := []string{"--store", dsn, "--key-bits", "2048", "--issuer", "https://auth.example.test"}
	a := startServer(t, bin, freeAddr(t), args...)
	// B's DSN carries a password as a query parameter (the test database
	// accepts any); its logs must mask it.
	const dsnPass = "hunter2-e2e"
	b := startServer(t, bin, freeAddr(t), append([]string{"--store", dsn + "&password=" + dsnPass}, args[2:]...)...)
	const user, pass = "alice", "correct horse battery staple"

	resp, body := call(t, http.MethodPost, a.base+"/register", map[string]string{"username": user, "password": pass}, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	resp, body = call(t, http.MethodPost, b.base+"/register", map[string]string{"username": user, "password": pass}, nil)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, body)

	resp, body = call(t, http.MethodPost, a.base+"/login", map[string]string{"username": user, "password": pass}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	access, refresh := body["access_token"].(string), body["refresh_token"].(string)
	resp, body = call(t, http.MethodGet, b.base+"/protected", nil, map[string]string{"Authorization": "Bearer " + access})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, user, body["sub"])
	resp, body = call(t, http.MethodPost, b.base+"/refresh", map[string]string{"refresh_token": refresh}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	resp, body = call(t, http.MethodPost, a.base+"/refresh", map[string]string{"refresh_token": refresh}, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a refresh token used on B is spent on A: %v", body)

	kidsA, kidsB := jwksKIDs(t, a.base), jwksKIDs(t, b.base)
	assert.ElementsMatch(t, kidsA, kidsB, "one key set")
	require.Len(t, kidsB, 2)
	oldActive := headerKID(t, access)

	// Rotate through the shared store, as an operator would next to A.
	cmd := exec.Command(bin, "keys", "rotate", "--now", "--store", dsn, "--key-bits", "2048")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "keys rotate: %s", out)
	rotated := time.Now()

	var kids []string
	for {
		kids = jwksKIDs(t, b.base)
		if len(kids) == 3 {
			break
		}
		if time.Since(rotated) > time.Second {
			t.Fatalf("B still serves %v one second after the rotation", kids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("B served the rotated JWKS %s after `keys rotate` returned", time.Since(rotated).Round(time.Millisecond))
	assert.Contains(t, kids, oldActive, "the retired key stays published")
	newActive := ""
	for _, k := range kidsB {
		if k != oldActive {
			newActive = k // the next key before the rotation
		}
	}
	resp, body = call(t, http.MethodPost, b.base+"/login", map[string]string{"username": user, "password": pass}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, newActive, headerKID(t, body["access_token"].(string)), "B signs with the promoted key")
	assert.True(t, slices.Equal(sorted(kids), sorted(jwksKIDs(t, a.base))), "A serves the same JWKS")

	require.Equal(t, 0, a.stop(t), a.stderr.String())
	require.Equal(t, 0, b.stop(t), b.stderr.String())
	for _, s := range []*server{a, b} {
		assert.Equal(t, 1, strings.Count(s.stderr.String(), `msg="jwtauth listening"`))
		assert.NotContains(t, s.stderr.String(), pass)
		assert.NotContains(t, s.stderr.String(), dsnPass)
	}
	assert.Contains(t, b.stderr.String(), "password=xxxxx", "the listening line names the store, masked")
}

// TestPostgresOutage takes the database away from a running server (a TCP
// proxy in front of PostgreSQL stops, cutting every connection) and brings
// it back: meanwhile /healthz, /register and /login answer 503, never 500,
// and an access token issued before keeps opening /protected; afterwards
// everything works without a restart.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dsn := postgresSchemaDSN(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	p := pgtest.NewProxy(t, u.Host)
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	u.Host = p.Addr()
	bin := buildBinary(t)
	srv := startServer(t, bin, freeAddr(t), "--store", u.String(), "--key-bits", "2048")
	creds := map[string]string{"username": "alice", "password": "correct horse battery staple"}
	resp, body := call(t, http.MethodPost, srv.base+"/register", creds, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	resp, body = call(t, http.MethodPost, srv.base+"/login", creds, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	access := body["access_token"].(string)

	p.Down()
	resp, body = call(t, http.MethodGet, srv.base+"/healthz", nil, nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	for _, path := range []string{"/login", "/register"} {
		resp, body = call(t, http.MethodPost, srv.base+path, map[string]string{"username": "bob", "password": "correct horse battery staple"}, nil)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s: %v", path, body)
		assert.Equal(t, "temporarily_unavailable", body["error"], path)
	}
	resp, body = call(t, http.MethodGet, srv.base+"/protected", nil, map[string]string{"Authorization": "Bearer " + access})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "verification needs no database: %v", body)

	p.Up()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, _ = call(t, http.MethodGet, srv.base+"/healthz", nil, nil)
		if resp.StatusCode == http.StatusOK {
			break
		}
		require.True(t, time.Now().Before(deadline), "no recovery after the database returned")
		time.Sleep(50 * time.Millisecond)
	}
	resp, body = call(t, http.MethodPost, srv.base+"/login", creds, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	resp, body = call(t, http.MethodPost, srv.base+"/register", map[string]string{"username": "bob", "password": "correct horse battery staple"}, nil)
	assert.Equal(t, http.StatusCreated, resp.StatusCode, body)
	require.Equal(t, 0, srv.stop(t), srv.stderr.String())
	assert.NotContains(t, srv.stderr.String(), "server_error")
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestPostgresStall freezes the path to PostgreSQL under a running server
// (a proxy that stops forwarding without closing anything, as a stopped
// middlebox does): /register, /login and /refresh answer 503
// temporarily_unavailable with Retry-After once the store timeout (5 s by
// default) has passed, instead of hanging until the stall ends, and when
// it ends neither the registration nor the refresh they abandoned commits.
func TestPostgresStall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dsn := postgresSchemaDSN(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	p := pgtest.NewProxy(t, u.Host)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	app := "jwtauth_stall_" + hex.EncodeToString(b)
	q := u.Query()
	q.Set("connect_timeout", "2")
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	u.Host = p.Addr()
	bin := buildBinary(t)
	srv := startServer(t, bin, freeAddr(t), "--store", u.String(), "--key-bits", "2048")
	alice := map[string]string{"username": "alice", "password": "correct horse battery staple"}
	resp, body := call(t, http.MethodPost, srv.base+"/register", alice, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	resp, body = call(t, http.MethodPost, srv.base+"/login", alice, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	refresh := body["refresh_token"].(string)

	p.Freeze()
	for _, req := range []struct {
		path string
		body map[string]string
	}{
		{"/register", map[string]string{"username": "bob", "password": "correct horse battery staple"}},
		{"/login", alice},
		{"/refresh", map[string]string{"refresh_token": refresh}},
	} {
		start := time.Now()
		resp, body = call(t, http.MethodPost, srv.base+req.path, req.body, nil)
		took := time.Since(start)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s: %v", req.path, body)
		assert.Equal(t, "temporarily_unavailable", body["error"], req.path)
		assert.Equal(t, "5", resp.Header.Get("Retry-After"), req.path)
		t.Logf("%s under a frozen store: 503 after %s", req.path, took.Round(time.Millisecond))
		assert.Less(t, took, 15*time.Second, "%s: far beyond the 5 s store timeout", req.path)
	}
	p.Thaw()
	require.Equal(t, 0, srv.stop(t), srv.stderr.String())
	assert.Equal(t, 1, strings.Count(srv.stderr.String(), `msg="store unavailable`), srv.stderr.String())

	// Once every server process of the instance has ended, whatever reached
	// PostgreSQL after the thaw has been committed or rolled back.
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	count := func(sql string, args ...any) int {
		var n int
		require.NoError(t, conn.QueryRow(t.Context(), sql, args...).Scan(&n))
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for count(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app) > 0 {
		require.True(t, time.Now().Before(deadline), "the server's connections outlive it")
		time.Sleep(20 * time.Millisecond)
	}
	assert.Zero(t, count(`SELECT count(*) FROM users WHERE username = 'bob'`), "the registration that got 503 committed")
	sum := sha256.Sum256([]byte(refresh))
	assert.Zero(t, count(`SELECT count(*) FROM refresh_tokens WHERE hash = $1 AND used_at IS NOT NULL`, sum[:]), "the refresh that got 503 committed")
	assert.Equal(t, 1, count(`SELECT count(*) FROM refresh_tokens`), "only the login's refresh token exists")
}
