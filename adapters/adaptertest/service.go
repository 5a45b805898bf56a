package adaptertest

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// AppHealth is the body the application of MountServiceFunc answers on its
// own GET /healthz.
const AppHealth = `{"app":"healthy"}`

// MountServiceFunc builds an application on the adapter's framework: its
// own GET /healthz answering 200 AppHealth, its own GET /api/me behind the
// adapter's middleware over svc.Authenticator() answering 200 with the
// verified subject as {"sub":…}, and svc mounted with the adapter's
// MountService.
type MountServiceFunc func(t *testing.T, svc *jwtauth.Service) http.Handler

// RunService checks an adapter's MountService with a jwtauth.Service whose
// issuer is "http://<loopback address>/auth", served on a real loopback
// listener: the application's own /healthz is left alone; only the account
// and key endpoints are mounted, under /auth; the discovery document sits
// at the issuer + /.well-known/openid-configuration and names the JWKS
// served there; the RFC 8414 metadata sits at the issuer +
// /.well-known/oauth-authorization-server and at
// /.well-known/oauth-authorization-server/auth (RFC 8414 §3.1); and remote.NewVerifier, knowing only the issuer URL,
// verifies a token the mounted /auth/login issued; a login with a DPoP
// proof gets a bound token the application's route accepts with a proof
// by its key, and a bound refresh token needs one (400 invalid_dpop_proof
// otherwise, spending nothing). Its subtest DPoP runs the DPoP bad-input
// table at /login and /refresh of Services mounted the same way (see
// testServiceDPoP), and server nonces there. Every request under
// /auth, the remote verifier's included, and its answer are checked against
// openapi.yaml, whose paths are relative to that prefix.
func RunService(t *testing.T, mount MountServiceFunc) {
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	iss := base + "/auth"
	svc, err := jwtauth.New(t.Context(), jwtauth.Config{
		Store: memory.New(), Issuer: iss,
		GenerateKey: keystest.Generator(t), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("jwtauth.New: %v", err)
	}
	t.Cleanup(svc.Close)
	var checked traffic
	served := map[string]bool{}
	for _, rt := range svc.Routes() {
		served[rt.Path] = true
	}
	srv.Config.Handler = validatedMount(t, mount(t, svc), mounted, svc.MountPath(), served, &checked)
	t.Cleanup(func() {
		t.Logf("openapi.yaml: the mounted service's answers under %s checked: %s", svc.MountPath(), &checked)
	})
	srv.Start()
	t.Cleanup(srv.Close)

	do := func(method, path, body string, header ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(bytes.TrimSpace(b))
	}
	expect := func(method, path, body string, wantStatus int, header ...string) string {
		t.Helper()
		status, got := do(method, path, body, header...)
		if status != wantStatus {
			t.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, wantStatus, got)
		}
		return got
	}

	if got := expect(http.MethodGet, "/healthz", "", http.StatusOK); got != AppHealth {
		t.Errorf("GET /healthz answered %s, want the application's own %s", got, AppHealth)
	}
	for _, p := range []string{"/auth/healthz", "/auth/protected", "/protected", "/login", "/.well-known/jwks.json"} {
		if status, _ := do(http.MethodGet, p, ""); status != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404 (not mounted)", p, status)
		}
	}

	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(expect(http.MethodGet, "/auth/.well-known/openid-configuration", "", http.StatusOK)), &doc); err != nil {
		t.Fatalf("discovery document: %v", err)
	}
	if doc.Issuer != iss || doc.JWKSURI != iss+"/.well-known/jwks.json" {
		t.Errorf("discovery document names issuer %q and jwks_uri %q, want %q and %q", doc.Issuer, doc.JWKSURI, iss, iss+"/.well-known/jwks.json")
	}
	if jwks := expect(http.MethodGet, strings.TrimPrefix(doc.JWKSURI, base), "", http.StatusOK); !strings.Contains(jwks, `"kid"`) {
		t.Errorf("the JWKS at jwks_uri holds no key: %s", jwks)
	}
	// The RFC 8414 metadata: at the issuer + the well-known suffix, and at
	// the RFC 8414 §3.1 location, the suffix + the issuer's path at the
	// root (svc.RootRoutes), both the discovery document's bytes.
	oidc := expect(http.MethodGet, "/auth/.well-known/openid-configuration", "", http.StatusOK)
	for _, p := range []string{"/auth/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/auth"} {
		if got := expect(http.MethodGet, p, "", http.StatusOK); got != oidc {
			t.Errorf("GET %s answered %s, want the discovery document %s", p, got, oidc)
		}
	}

	creds := `{"username":"alice","password":"correct horse battery staple"}`
	expect(http.MethodPost, "/auth/register", creds, http.StatusCreated)
	var tok account.TokenResponse
	if err := json.Unmarshal([]byte(expect(http.MethodPost, "/auth/login", creds, http.StatusOK)), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("login answer: %v %+v", err, tok)
	}
	if got := expect(http.MethodGet, "/api/me", "", http.StatusOK, "Authorization", "Bearer "+tok.AccessToken); got != `{"sub":"alice"}` {
		t.Errorf("GET /api/me answered %s", got)
	}
	expect(http.MethodGet, "/api/me", "", http.StatusUnauthorized)
	var next account.TokenResponse
	if err := json.Unmarshal([]byte(expect(http.MethodPost, "/auth/refresh", `{"refresh_token":"`+tok.RefreshToken+`"}`, http.StatusOK)), &next); err != nil {
		t.Fatalf("refresh answer: %v", err)
	}
	expect(http.MethodPost, "/auth/logout", `{"refresh_token":"`+next.RefreshToken+`"}`, http.StatusNoContent)

	// DPoP (allowed by default): a login with a proof gets a bound token,
	// which the application's route accepts with a proof by that key and
	// refuses as Bearer; the bound refresh token needs a proof by the same
	// key, and a refused refresh spends nothing; a replayed proof is 400.
	key := newDPoPKey(t)
	proof := func(method, url, accessToken string) string {
		t.Helper()
		p, err := dpop.NewProof(key.key, method, url, dpop.ProofOptions{AccessToken: accessToken})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	loginProof := proof(http.MethodPost, iss+"/login", "")
	var bound account.TokenResponse
	if err := json.Unmarshal([]byte(expect(http.MethodPost, "/auth/login", creds, http.StatusOK, "DPoP", loginProof)), &bound); err != nil || bound.TokenType != "DPoP" {
		t.Fatalf("login with a DPoP proof: %v, token_type %q, want DPoP", err, bound.TokenType)
	}
	if got := expect(http.MethodGet, "/api/me", "", http.StatusOK, "Authorization", "DPoP "+bound.AccessToken, "DPoP", proof(http.MethodGet, base+"/api/me", bound.AccessToken)); got != `{"sub":"alice"}` {
		t.Errorf("GET /api/me with a bound token answered %s", got)
	}
	expect(http.MethodGet, "/api/me", "", http.StatusUnauthorized, "Authorization", "Bearer "+bound.AccessToken)
	if got := expect(http.MethodPost, "/auth/login", creds, http.StatusBadRequest, "DPoP", loginProof); !strings.Contains(got, `"invalid_dpop_proof"`) {
		t.Errorf("a replayed login proof answered %s", got)
	}
	boundRT := `{"refresh_token":"` + bound.RefreshToken + `"}`
	if got := expect(http.MethodPost, "/auth/refresh", boundRT, http.StatusBadRequest); !strings.Contains(got, `"invalid_dpop_proof"`) {
		t.Errorf("a bound refresh token without a proof answered %s", got)
	}
	other := newDPoPKey(t)
	otherProof, err := dpop.NewProof(other.key, http.MethodPost, iss+"/refresh", dpop.ProofOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expect(http.MethodPost, "/auth/refresh", boundRT, http.StatusBadRequest, "DPoP", otherProof)
	if err := json.Unmarshal([]byte(expect(http.MethodPost, "/auth/refresh", boundRT, http.StatusOK, "DPoP", proof(http.MethodPost, iss+"/refresh", ""))), &next); err != nil || next.TokenType != "DPoP" {
		t.Fatalf("refresh with the login's key: %v, token_type %q, want DPoP", err, next.TokenType)
	}

	verifier, keySet, err := remote.NewVerifier(t.Context(), remote.Config{Issuer: iss, HTTPClient: srv.Client()},
		token.VerifierConfig{Audience: []string{iss}})
	if err != nil {
		t.Fatalf("remote.NewVerifier on the issuer %s: %v", iss, err)
	}
	t.Cleanup(func() { _ = keySet.Close() })
	claims, err := verifier.Verify(t.Context(), tok.AccessToken)
	if err != nil {
		t.Fatalf("the remote verifier refused the mounted service's token: %v", err)
	}
	if claims.Subject != "alice" || claims.Issuer != iss {
		t.Errorf("remote verifier: sub %q iss %q, want alice and %s", claims.Subject, claims.Issuer, iss)
	}

	t.Run("DPoP", func(t *testing.T) { testServiceDPoP(t, mount) })
}
