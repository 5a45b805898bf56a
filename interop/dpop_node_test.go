package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nodeResult is what interop/node/client.mjs prints: the statuses of its
// requests, the tokens it got and the proofs it sent or kept unsent.
type nodeResult struct {
	PublicJWK struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
		D   string `json:"d"`
	} `json:"public_jwk"`
	JKT    string `json:"jkt"`     // thumbprint by panva's dpop (calculateThumbprint)
	O4WJKT string `json:"o4w_jkt"` // thumbprint by oauth4webapi's DPoP handle

	RegisterStatus  int `json:"register_status"`
	LoginStatus     int `json:"login_status"`
	ResourceStatus  int `json:"resource_status"`
	RefreshStatus   int `json:"refresh_status"`
	Resource2Status int `json:"resource2_status"`
	O4WStatus       int `json:"o4w_status"`

	NonceRetries    int  `json:"nonce_retries"`     // use_dpop_nonce retries of the dpop-made requests
	O4WNonceRetries int  `json:"o4w_nonce_retries"` // isDPoPNonceError retries of oauth4webapi
	NonceSeen       bool `json:"nonce_seen"`

	TokenType             string `json:"token_type"`
	RefreshTokenType      string `json:"refresh_token_type"`
	AccessToken           string `json:"access_token"`
	RefreshedAccessToken  string `json:"refreshed_access_token"`
	RefreshedRefreshToken string `json:"refreshed_refresh_token"`
	ResourceSub           string `json:"resource_sub"`

	LoginProof    string `json:"login_proof"`
	ResourceProof string `json:"resource_proof"` // GET /protected with AccessToken
	RefreshProof  string `json:"refresh_proof"`  // POST /refresh, spent
	O4WProof      string `json:"o4w_proof"`      // GET /protected with RefreshedAccessToken
	Spare         struct {
		OtherHTUProof string `json:"other_htu_proof"` // GET issuer/elsewhere, ath of AccessToken
		OtherHTMProof string `json:"other_htm_proof"` // POST issuer/protected, ath of AccessToken
		RefreshProof  string `json:"refresh_proof"`   // POST issuer/refresh, never sent
	} `json:"spare"`
}

// nodeClientDir is the Node project of the interop client.
const nodeClientDir = "node"

// requireNodeClient returns the node binary, with interop/node's
// dependencies installed (npm ci). Without them the test skips, unless
// JWTAUTH_REQUIRE_NODE=1 (CI), where it fails.
func requireNodeClient(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("JWTAUTH_REQUIRE_NODE") == "1" {
			t.Fatalf(format+" (JWTAUTH_REQUIRE_NODE=1)", args...)
		}
		t.Skipf(format+"; run: cd interop/node && npm ci", args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found: %v", err)
	}
	// oauth4webapi 3 and dpop 2 need Node 20 or later (WebCrypto as
	// globalThis.crypto, fetch).
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		missing("node --version: %v", err)
	}
	version := strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < 20 {
		missing("node %s is older than the v20 the Node client needs", version)
	}
	for _, pkg := range []string{"dpop", "oauth4webapi"} {
		if _, err := os.Stat(filepath.Join(nodeClientDir, "node_modules", pkg, "package.json")); err != nil {
			missing("the Node client's dependency %s is not installed", pkg)
		}
	}
	return node
}

// runNodeClient runs client.mjs against the server at base and decodes
// its result. stdout holds tokens and proofs: only stderr is shown on
// failure.
func runNodeClient(t *testing.T, node, base, username string) nodeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", base, username)
	cmd.Dir = nodeClientDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "node client.mjs: %s", stderr.String())
	var res nodeResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), "client.mjs printed no JSON result (stderr: %s)", stderr.String())
	return res
}

// TestDPoPNodeClientServe: panva's dpop and oauth4webapi, in Node, log in
// to the real `jwtauth serve` binary (SQLite store; --dpop allowed, then
// required), call /protected, refresh and call again; then the Go side
// replays and misuses what they sent.
func TestDPoPNodeClientServe(t *testing.T) {
	node := requireNodeClient(t)
	bin := buildJWTAuth(t)
	for _, mode := range []string{"allowed", "required"} {
		t.Run(mode, func(t *testing.T) {
			base := startServe(t, bin, "--dpop", mode)
			res := runNodeClient(t, node, base, "node-"+mode)
			checkNodeInterop(t, base, res)
			assert.Zero(t, res.NonceRetries, "serve sets no server nonces")
			assert.Zero(t, res.O4WNonceRetries)
			assert.False(t, res.NonceSeen)
		})
	}
}

// TestDPoPNodeClientNonces: the same client against a jwtauth.Service with
// server nonces (serve has no setting for them): the login's first proof
// is answered 400 use_dpop_nonce and retried with the DPoP-Nonce, and
// oauth4webapi's first resource request 401 use_dpop_nonce, which its
// DPoP handle caches and its documented retry (isDPoPNonceError) uses.
func TestDPoPNodeClientNonces(t *testing.T) {
	node := requireNodeClient(t)
	nonces, err := dpop.NewRotatingNonces(bytes.Repeat([]byte{0x5a}, 32), time.Hour, nil)
	require.NoError(t, err)
	base := startDPoPService(t, jwtauth.Config{DPoPProofs: dpop.Config{Nonce: nonces}})
	res := runNodeClient(t, node, base, "node-bob")
	checkNodeInterop(t, base, res)
	assert.Equal(t, 1, res.NonceRetries, "only the login's first proof lacks the nonce")
	assert.Equal(t, 1, res.O4WNonceRetries, "oauth4webapi's handle learns the nonce from its first 401")
	assert.True(t, res.NonceSeen)
}

// checkNodeInterop checks what the Node client reported, then, from Go,
// that the server refuses its proofs replayed or used for another request,
// its token as a bearer token, and that a replayed /refresh proof spends
// nothing.
func checkNodeInterop(t *testing.T, base string, res nodeResult) {
	t.Helper()
	assert.Equal(t, http.StatusCreated, res.RegisterStatus)
	assert.Equal(t, http.StatusOK, res.LoginStatus)
	assert.Equal(t, "DPoP", res.TokenType)
	assert.Equal(t, http.StatusOK, res.ResourceStatus)
	assert.Equal(t, http.StatusOK, res.RefreshStatus)
	assert.Equal(t, "DPoP", res.RefreshTokenType)
	assert.Equal(t, http.StatusOK, res.Resource2Status)
	assert.Equal(t, http.StatusOK, res.O4WStatus)

	// The key Node made: a public P-256 JWK; its thumbprint, computed
	// here, is the one both Node libraries computed and the tokens' cnf.jkt.
	require.Equal(t, "EC", res.PublicJWK.Kty)
	require.Equal(t, "P-256", res.PublicJWK.Crv)
	require.Empty(t, res.PublicJWK.D, "the public JWK carries the private key")
	jkt := jwkThumbprint(t, res.PublicJWK.X, res.PublicJWK.Y)
	assert.Equal(t, jkt, res.JKT, "panva's dpop thumbprint")
	assert.Equal(t, jkt, res.O4WJKT, "oauth4webapi's thumbprint")
	assert.Equal(t, jkt, cnfJKT(t, res.AccessToken), "cnf.jkt of the login's token")
	assert.Equal(t, jkt, cnfJKT(t, res.RefreshedAccessToken), "cnf.jkt of the refreshed token")

	protected := base + "/protected"
	// Node's proofs, sent again: the replay cache refuses them.
	status, body, challenge := send(t, http.MethodGet, protected, "DPoP "+res.AccessToken, res.ResourceProof, "")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "invalid_dpop_proof", body.Error)
	assert.Contains(t, body.Description, "replay")
	assert.Contains(t, challenge, `DPoP error="invalid_dpop_proof"`)
	status, body, _ = send(t, http.MethodGet, protected, "DPoP "+res.RefreshedAccessToken, res.O4WProof, "")
	assert.Equal(t, http.StatusUnauthorized, status, "oauth4webapi's proof replayed")
	assert.Equal(t, "invalid_dpop_proof", body.Error)
	assert.Contains(t, body.Description, "replay")

	// Unsent proofs made for another URL or method, by the same key with
	// the right ath: refused, for that reason.
	status, body, _ = send(t, http.MethodGet, protected, "DPoP "+res.AccessToken, res.Spare.OtherHTUProof, "")
	assert.Equal(t, http.StatusUnauthorized, status, "proof for another URL")
	assert.Equal(t, "invalid_dpop_proof", body.Error)
	assert.Contains(t, body.Description, "htu")
	status, body, _ = send(t, http.MethodGet, protected, "DPoP "+res.AccessToken, res.Spare.OtherHTMProof, "")
	assert.Equal(t, http.StatusUnauthorized, status, "proof for another method")
	assert.Equal(t, "invalid_dpop_proof", body.Error)
	assert.Contains(t, body.Description, "htm")

	// The bound token without its proof, as a bearer token.
	status, body, challenge = send(t, http.MethodGet, protected, "Bearer "+res.RefreshedAccessToken, "", "")
	assert.Equal(t, http.StatusUnauthorized, status, "bound token as Bearer")
	assert.Equal(t, "invalid_token", body.Error)
	assert.Contains(t, challenge, "DPoP ")
	// The login's proof sent to the resource: no ath, another URL.
	status, body, _ = send(t, http.MethodGet, protected, "DPoP "+res.AccessToken, res.LoginProof, "")
	assert.Equal(t, http.StatusUnauthorized, status, "login proof at the resource")
	assert.Equal(t, "invalid_dpop_proof", body.Error)

	// Node's spent /refresh proof with the current refresh token: 400, and
	// the token is not spent: Node's unsent proof then refreshes it.
	refreshBody := `{"refresh_token":` + quoteJSON(res.RefreshedRefreshToken) + `}`
	status, body, challenge = send(t, http.MethodPost, base+"/refresh", "", res.RefreshProof, refreshBody)
	assert.Equal(t, http.StatusBadRequest, status, "replayed /refresh proof")
	assert.Equal(t, "invalid_dpop_proof", body.Error)
	assert.Contains(t, body.Description, "replay")
	assert.Contains(t, challenge, `DPoP error="invalid_dpop_proof"`)
	status, body, _ = send(t, http.MethodPost, base+"/refresh", "", res.Spare.RefreshProof, refreshBody)
	require.Equal(t, http.StatusOK, status, "the refresh token was spent by a refused proof: %s", body.Error)
	assert.Equal(t, "DPoP", body.TokenType)
	assert.Equal(t, jkt, cnfJKT(t, body.AccessToken))
	assert.NotEmpty(t, body.RefreshToken)
}

// answer is the JSON of a token answer or an error.
type answer struct {
	Error        string `json:"error"`
	Description  string `json:"error_description"`
	TokenType    string `json:"token_type"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// send makes one request with the given Authorization and DPoP headers
// (none when "") and a JSON body (none when ""); it returns the status,
// the decoded JSON body and WWW-Authenticate.
func send(t *testing.T, method, url, authorization, proof, body string) (int, answer, string) {
	t.Helper()
	status, a, h := sendH(t, method, url, authorization, proof, body)
	return status, a, h.Get("WWW-Authenticate")
}

// sendH is send returning all the answer's headers.
func sendH(t *testing.T, method, url, authorization, proof, body string) (int, answer, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var a answer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a), "%s %s: not a JSON answer", method, url)
	return resp.StatusCode, a, resp.Header
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// jwkThumbprint is dpop.Thumbprint (RFC 7638) of the P-256 public key
// with the base64url coordinates x and y.
func jwkThumbprint(t *testing.T, x, y string) string {
	t.Helper()
	xb, err := base64.RawURLEncoding.DecodeString(x)
	require.NoError(t, err)
	yb, err := base64.RawURLEncoding.DecodeString(y)
	require.NoError(t, err)
	require.Len(t, xb, 32)
	require.Len(t, yb, 32)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, xb...), yb...))
	require.NoError(t, err)
	jkt, err := dpop.Thumbprint(pub)
	require.NoError(t, err)
	return jkt
}

// cnfJKT returns the cnf.jkt claim of a JWS access token (read, not
// verified: the server verified it when it accepted the token).
func cnfJKT(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "not a compact JWS")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims struct {
		CNF struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	require.NoError(t, json.Unmarshal(raw, &claims))
	return claims.CNF.JKT
}

// buildJWTAuth builds the main module's cmd/jwtauth into a temporary
// directory.
func buildJWTAuth(t *testing.T) string {
	t.Helper()
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	bin := filepath.Join(t.TempDir(), "jwtauth")
	cmd := exec.Command(gobin, "build", "-o", bin, "./cmd/jwtauth")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/jwtauth: %s", out)
	return bin
}

// startServe runs `bin serve` on a free loopback port with a new SQLite
// store and the given flags, and returns its base URL (the issuer) once
// it logs that it listens. SIGTERM stops it at the end of the test.
func startServe(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	args = append([]string{"serve", "--addr", addr, "--store", "sqlite:" + filepath.Join(t.TempDir(), "jwtauth.db")}, args...)
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JWTAUTH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	logs, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})

	// The log line "jwtauth listening" comes after the listener is bound
	// and right before it serves; the rest of the log is kept for a failure.
	listening := make(chan bool, 1)
	var text strings.Builder
	go func() {
		defer close(done)
		sc := bufio.NewScanner(logs)
		seen := false
		for sc.Scan() {
			if !seen {
				text.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "jwtauth listening") {
					seen = true
					listening <- true
				}
			}
		}
		if !seen {
			listening <- false
		}
		_ = cmd.Wait()
	}()
	select {
	case ok := <-listening:
		require.True(t, ok, "jwtauth serve exited before listening:\n%s", text.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("jwtauth serve did not listen within 2 minutes")
	}
	return "http://" + addr
}

// startDPoPService serves a jwtauth.Service made from cfg (memory store)
// on an httptest server whose URL is the issuer, with its routes at the
// root as serve has them, and returns that URL.
func startDPoPService(t *testing.T, cfg jwtauth.Config) string {
	t.Helper()
	// The issuer is the listener's URL, known before the handler exists;
	// the server starts once it does (a handler set after Start would race
	// with requests the race detector cannot order: they come from node).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	issuer := "http://" + ln.Addr().String()
	cfg.Store, cfg.Issuer, cfg.ServeProtected = memory.New(), issuer, true
	cfg.GenerateKey, cfg.Logger = keystest.Generator(t), slog.New(slog.DiscardHandler)
	svc, err := jwtauth.New(t.Context(), cfg)
	if err != nil {
		ln.Close()
	}
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: nethttp.Handler(svc.Routes(), svc.Authenticator())}}
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}
