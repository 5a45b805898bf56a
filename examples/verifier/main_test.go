package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/adaptertest"
	"github.com/jwtauth/jwtauth/jwtauthtest"
)

// TestVerifier: the service accepts a token of its issuer with the scope,
// refuses one without it (403), one of another audience and no token (401).
func TestVerifier(t *testing.T) {
	iss := jwtauthtest.NewServer(t)
	app, err := newApp(t.Context(), iss.URL, "")
	require.NoError(t, err)
	for _, c := range []struct {
		name   string
		tok    string
		status int
		body   string
	}{
		{"scope", iss.Mint(jwtauthtest.Token{Subject: "alice", Scopes: []string{"orders:read", "orders:write"}}), 200, "orders of alice\n"},
		{"no scope", iss.Mint(jwtauthtest.Token{Subject: "bob"}), 403, `"insufficient_scope"`},
		{"other audience", iss.Mint(jwtauthtest.Token{Scopes: []string{"orders:read"}, Audience: []string{"https://other.example"}}), 401, `"invalid_token"`},
		{"no token", "", 401, `"unauthorized"`},
	} {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		if c.tok != "" {
			r.Header.Set("Authorization", "Bearer "+c.tok)
		}
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		body, _ := io.ReadAll(w.Body)
		assert.Equal(t, c.status, w.Code, c.name)
		assert.Contains(t, string(body), c.body, c.name)
	}
}

// forbidden are the import paths (prefixes) a verify-only service must not
// link: metrics, password hashing, PRECIS, storage, gin, the face with
// its account flow, and jwx (its jwk package alone is about 1 MB; the token
// core, remote verification and keys/ do their JOSE with crypto/rsa) (issue 21).
var forbidden = []string{
	"github.com/prometheus/", "google.golang.org/protobuf", "golang.org/x/crypto/argon2", "golang.org/x/crypto/bcrypt",
	"golang.org/x/text/secure", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/gin-gonic/gin",
	"github.com/jwtauth/jwtauth/adapters/", "github.com/jwtauth/jwtauth/jwtauth\n", "github.com/lestrrat-go/",
}

// TestVerifierLinksNoAccountCode builds the program and checks the packages
// it links (go list -deps, without the test's own dependencies).
func TestVerifierLinksNoAccountCode(t *testing.T) {
	deps := adaptertest.CheckLinks(t, []string{"github.com/jwtauth/jwtauth/jwtauth/remote"}, forbidden)
	for _, word := range []string{"prometheus", "protobuf", "argon2", "bcrypt", "pgx", "sqlite", "gin-gonic"} {
		assert.NotContains(t, deps, word)
	}
	bin := filepath.Join(t.TempDir(), "verifier")
	out, err := exec.Command(adaptertest.GoCommand(), "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	fi, err := os.Stat(bin)
	require.NoError(t, err)
	t.Logf("examples/verifier: %d bytes, %d packages", fi.Size(), strings.Count(deps, "\n"))
}
