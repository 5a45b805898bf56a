package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The real jwtauth binary, built by the first buildBinary call of the test
// binary into binDir, which TestMain removes.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBinary returns the real jwtauth binary, built once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "jwtauth-e2e-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "jwtauth")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %w: %s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// freeAddr returns a 127.0.0.1 address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// syncBuffer is a bytes.Buffer safe for the process's writer goroutine and
// the test's readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is one running "jwtauth serve" process.
type server struct {
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
	done   chan error
}

// cleanEnv is the test's environment without JWTAUTH_* settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JWTAUTH_") {
			env = append(env, kv)
		}
	}
	return env
}

// startServer runs bin serve with args and waits, polling /healthz for at
// most a minute, until it answers 200.
func startServer(t *testing.T, bin, addr string, args ...string) *server {
	t.Helper()
	s := &server{base: "http://" + addr, stderr: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, append([]string{"serve", "--addr", addr}, args...)...)
	s.cmd.Env = cleanEnv()
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	require.NoError(t, s.cmd.Start())
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { _ = s.cmd.Process.Kill() }) // an error once it has exited: harmless
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := client.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("server exited before it was healthy: %v\n%s", err, s.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy after a minute: %v\n%s", err, s.stderr.String())
		}
	}
}

// stop sends SIGTERM and returns the exit code.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Fatalf("server did not stop within 30s of SIGTERM\n%s", s.stderr.String())
	}
	return s.cmd.ProcessState.ExitCode()
}

// call sends one JSON request and decodes a JSON answer into a map.
func call(t *testing.T, method, url string, body any, header map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &m), "%s %s: %s", method, url, raw)
	}
	return resp, m
}

// jwksKIDs returns the kids of the server's JWKS.
func jwksKIDs(t *testing.T, base string) []string {
	t.Helper()
	resp, doc := call(t, http.MethodGet, base+"/.well-known/jwks.json", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "public, max-age=300", resp.Header.Get("Cache-Control"))
	assert.NotEmpty(t, resp.Header.Get("ETag"))
	var kids []string
	for _, k := range doc["keys"].([]any) {
		jk := k.(map[string]any)
		assert.Equal(t, "RSA", jk["kty"])
		assert.Equal(t, "RS256", jk["alg"])
		assert.NotContains(t, jk, "d", "private exponent published")
		kids = append(kids, jk["kid"].(string))
	}
	return kids
}

// headerKID returns the kid of a compact JWS header.
func headerKID(t *testing.T, token string) string {
	t.Helper()
	msg, err := jws.Parse([]byte(token), jws.WithCompact())
	require.NoError(t, err)
	kid, ok := msg.Signatures()[0].ProtectedHeaders().KeyID()
	require.True(t, ok)
	return kid
}

func TestServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "jwtauth.db")
	addr := freeAddr(t)
	args := []string{"--store", "sqlite:" + db, "--key-bits", "2048"}

	srv := startServer(t, bin, addr, args...)
	base := srv.base
	const user, pass = "alice", "correct horse battery staple"

	// The README flow.
	resp, body := call(t, http.MethodPost, base+"/register", map[string]string{"username": user, "password": pass}, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	assert.Equal(t, "user registered", body["message"])

	resp, body = call(t, http.MethodPost, base+"/register", map[string]string{"username": user, "password": pass}, nil)
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, "user_exists", body["error"])

	resp, body = call(t, http.MethodPost, base+"/login", map[string]string{"username": user, "password": "wrong password"}, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "invalid_credentials", body["error"])

	resp, body = call(t, http.MethodPost, base+"/login", map[string]string{"username": user, "password": pass}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	access, _ := body["access_token"].(string)
	refresh, _ := body["refresh_token"].(string)
	require.NotEmpty(t, access)
	require.NotEmpty(t, refresh)
	assert.Equal(t, access, body["token"])
	assert.Equal(t, "Bearer", body["token_type"])
	assert.EqualValues(t, 900, body["expires_in"])

	for name, h := range map[string]map[string]string{
		"bearer":         {"Authorization": "Bearer " + access},
		"x-access-token": {"x-access-token": access},
	} {
		resp, body = call(t, http.MethodGet, base+"/protected", nil, h)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %v", name, body)
		assert.Equal(t, user, body["sub"], name)
	}
	resp, _ = call(t, http.MethodGet, base+"/protected", nil, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer realm="), resp.Header.Get("WWW-Authenticate"))
	resp, body = call(t, http.MethodGet, base+"/protected", nil, map[string]string{"Authorization": "Bearer " + access + "x"})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "invalid_token", body["error"])

	kid := headerKID(t, access)
	kids := jwksKIDs(t, base)
	assert.Contains(t, kids, kid)
	assert.Len(t, kids, 2, "active and next key are published")

	resp, body = call(t, http.MethodGet, base+"/.well-known/openid-configuration", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, base, body["issuer"])
	assert.Equal(t, base+"/.well-known/jwks.json", body["jwks_uri"])

	resp, body = call(t, http.MethodPost, base+"/refresh", map[string]string{"refresh_token": refresh}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	refresh2, _ := body["refresh_token"].(string)
	require.NotEmpty(t, refresh2)
	assert.NotEqual(t, refresh, refresh2)
	resp, body = call(t, http.MethodPost, base+"/logout", map[string]string{"refresh_token": refresh2}, nil)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, body)
	resp, body = call(t, http.MethodPost, base+"/refresh", map[string]string{"refresh_token": refresh2}, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "invalid_grant", body["error"])

	require.Equal(t, 0, srv.stop(t), srv.stderr.String())
	logs := srv.stderr.String()
	assert.Equal(t, 1, strings.Count(logs, `msg="jwtauth listening"`), logs)
	assert.Contains(t, logs, "addr="+addr)
	assert.Contains(t, logs, "kid="+kid)
	assert.Contains(t, logs, "store=sqlite:"+db)
	assert.Contains(t, logs, "stored in clear")
	for _, secret := range []string{pass, refresh, refresh2, access, "PRIVATE KEY", "argon2id"} {
		assert.NotContains(t, logs, secret, "a secret reached the log")
	}
	_, err := os.Stat(db)
	require.NoError(t, err, "the store file survives shutdown")

	// Restart on the same file: the old token still opens /protected and
	// the key set is the same.
	srv = startServer(t, bin, addr, args...)
	resp, body = call(t, http.MethodGet, base+"/protected", nil, map[string]string{"Authorization": "Bearer " + access})
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, user, body["sub"])
	assert.ElementsMatch(t, kids, jwksKIDs(t, base))
	resp, body = call(t, http.MethodPost, base+"/login", map[string]string{"username": user, "password": pass}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, kid, headerKID(t, body["access_token"].(string)))
	require.Equal(t, 0, srv.stop(t), srv.stderr.String())
	assert.Contains(t, srv.stderr.String(), "kid="+kid)

	// A second server on a taken address fails clearly with exit 1.
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	defer ln.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr}, args...)...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, string(out), "cannot listen on "+addr)
}
