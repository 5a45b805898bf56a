package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenVerify(t *testing.T) {
	ctx := t.Context()
	mgr, err := keys.Open(ctx, keys.Config{Store: memory.New(), Generate: keystest.Generator(t), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	disc, err := jwtauth.NewDiscoveryHandler(srv.URL)
	require.NoError(t, err)
	mux.Handle("GET /.well-known/jwks.json", jwtauth.NewJWKSHandler(mgr, time.Minute))
	mux.Handle("GET /.well-known/openid-configuration", disc)
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: mgr, Issuer: srv.URL, Audience: []string{"api"}})
	require.NoError(t, err)
	tok, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	jwks := srv.URL + "/.well-known/jwks.json"

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		note  string
	}{
		{"issuer and audience", "", []string{"--issuer", srv.URL, "--audience", "api", tok.Raw}, ""},
		{"jwks, from stdin", tok.Raw + "\n", []string{"--jwks", jwks, "-"}, "iss was not checked"},
		{"flags after the token", "", []string{tok.Raw, "--issuer", srv.URL}, "aud was not checked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, tc.stdin, append([]string{"token", "verify"}, tc.args...)...)
			require.Equal(t, 0, code, errOut)
			var got struct {
				Header map[string]any `json:"header"`
				Claims map[string]any `json:"claims"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &got), out)
			assert.Equal(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": tok.KID}, got.Header)
			assert.Equal(t, "alice", got.Claims["sub"])
			assert.Equal(t, srv.URL, got.Claims["iss"])
			assert.NotContains(t, out, notVerified)
			if tc.note != "" {
				assert.Contains(t, errOut, tc.note)
			}
		})
	}

	forged := tok.Raw[:strings.LastIndexByte(tok.Raw, '.')+1] + "c2ln"
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"wrong audience", []string{"--issuer", srv.URL, "--audience", "other", tok.Raw}, 1, "invalid audience"},
		{"bad signature", []string{"--jwks", jwks, forged}, 1, "invalid signature"},
		{"garbage", []string{"--jwks", jwks, "not-a-token"}, 1, "malformed token"},
		{"issuer mismatch", []string{"--issuer", srv.URL + "/", tok.Raw}, 1, "does not match"},
		{"unreachable", []string{"--jwks", "http://127.0.0.1:1/jwks.json", tok.Raw}, 1, "jwks fetch failed"},
		{"http JWKS on a non-loopback host", []string{"--jwks", "http://auth.example.com/.well-known/jwks.json", tok.Raw}, 2, `"http://auth.example.com/.well-known/jwks.json" is plain http: use https`},
		{"http issuer on a non-loopback host", []string{"--issuer", "http://auth.example.com", tok.Raw}, 2, "--insecure-http sets InsecureAllowHTTP"},
		{"http on a non-loopback host with --insecure-http", []string{"--insecure-http", "--jwks", "http://0.0.0.0:1/jwks.json", tok.Raw}, 1, "connection refused"},
		{"no key source", []string{tok.Raw}, 2, "exactly one of --jwks URL and --issuer URL"},
		{"both key sources", []string{"--jwks", jwks, "--issuer", srv.URL, tok.Raw}, 2, "exactly one of"},
		{"no token", []string{"--jwks", jwks}, 2, "exactly one TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, "", append([]string{"token", "verify"}, tc.args...)...)
			assert.Equal(t, tc.code, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, tc.want)
		})
	}

	// Each message names the program once (it read "jwtauth: token verify:
	// jwtauth: jwks fetch failed: …").
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
	defer down.Close()
	_, errOut, code := runCLI(t, nil, "", "token", "verify", "--jwks", down.URL+"/jwks.json", tok.Raw)
	assert.Equal(t, 1, code)
	assert.Equal(t, "jwtauth: token verify: jwks fetch failed: "+down.URL+"/jwks.json: HTTP status 503\n", errOut)
	_, errOut, code = runCLI(t, nil, "", "token", "verify", "--jwks", jwks, forged)
	assert.Equal(t, 1, code)
	assert.Equal(t, "jwtauth: token verify: INVALID: invalid signature\n", errOut)
	_, errOut, code = runCLI(t, nil, "", "token", "verify", "--jwks", "http://auth.example.com/jwks.json", tok.Raw)
	assert.Equal(t, 2, code)
	assert.Equal(t, 1, strings.Count(errOut, "jwtauth: "), errOut)

	// A revoked key's token is refused once the JWKS no longer has it.
	_, err = mgr.Rotate(ctx, true)
	require.NoError(t, err)
	require.NoError(t, mgr.Revoke(ctx, tok.KID))
	_, errOut, code = runCLI(t, nil, "", "token", "verify", "--issuer", srv.URL, tok.Raw)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "unknown signing key")
}
