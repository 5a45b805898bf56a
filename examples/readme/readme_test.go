// Package main holds README.md's snippets as tests: gin_test.go is the gin
// program of "1. Mount it on your gin app" byte for byte, and the tests below
// run it, check that README.md, docs/testing.md and the files they quote have
// not drifted apart, and that the links between the documents resolve.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

func init() {
	gin.SetMode(gin.TestMode)
	gin.DefaultWriter = io.Discard // gin.Default's request log
}

// TestREADMEGinApp runs the README's gin program as its main would, on a
// memory store: alice, an admin in the app's own data, reaches the
// role-protected route with the token /auth/login gave her; bob, a plain
// user, gets 403; no token gets 401.
func TestREADMEGinApp(t *testing.T) {
	svc, err := jwtauth.New(t.Context(), jwtauth.Config{Store: memory.New(), Issuer: "http://127.0.0.1:8080/auth",
		Claims: roles, ClaimNames: []string{"roles"}, GenerateKey: keystest.Generator(t)})
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	app := newApp(svc)

	do := func(method, path, auth, body string) (int, map[string]any) {
		t.Helper()
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if auth != "" {
			r.Header.Set("Authorization", "Bearer "+auth)
		}
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		var got map[string]any
		if w.Body.Len() > 0 {
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got), "%s %s: %s", method, path, w.Body)
		}
		return w.Code, got
	}
	login := func(user string) string {
		t.Helper()
		creds := `{"username":"` + user + `","password":"correct horse battery staple"}`
		code, body := do(http.MethodPost, "/auth/register", "", creds)
		require.Equal(t, http.StatusCreated, code, body)
		code, body = do(http.MethodPost, "/auth/login", "", creds)
		require.Equal(t, http.StatusOK, code, body)
		tok, _ := body["access_token"].(string)
		require.NotEmpty(t, tok)
		return tok
	}
	alice, bob := login("alice"), login("bob")
	code, doc := do(http.MethodGet, "/auth/.well-known/openid-configuration", "", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, doc["claims_supported"], "roles", "discovery names the claim the hook adds")

	code, body := do(http.MethodGet, "/admin", alice, "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{"hello": "alice"}, body)
	code, body = do(http.MethodGet, "/admin", bob, "")
	assert.Equal(t, http.StatusForbidden, code)
	assert.Equal(t, "insufficient_scope", body["error"])
	code, body = do(http.MethodGet, "/admin", "", "")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Equal(t, "unauthorized", body["error"])
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	require.NoError(t, err)
	return string(b)
}

var goBlock = regexp.MustCompile("(?ms)^```go\n(.*?)^```$")

// goBlocks returns the Go code blocks of a Markdown document.
func goBlocks(doc string) []string {
	var out []string
	for _, m := range goBlock.FindAllStringSubmatch(doc, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestREADMESnippetsVerbatim: README.md's two Go blocks are gin_test.go
// (run by TestREADMEGinApp) and examples/verifier/main.go (run by its own
// tests), byte for byte; docs/testing.md's first Go block is in
// jwtauthtest/readme_test.go, which runs it. Editing one without the other
// fails here.
func TestREADMESnippetsVerbatim(t *testing.T) {
	blocks := goBlocks(read(t, "../../README.md"))
	require.Len(t, blocks, 2, "README.md's Go blocks: the gin program and the verifier")
	assert.Equal(t, read(t, "gin_test.go"), blocks[0], "README.md section 1 and examples/readme/gin_test.go")
	assert.Equal(t, read(t, "../verifier/main.go"), blocks[1], "README.md section 3 and examples/verifier/main.go")

	testingDoc := goBlocks(read(t, "../../docs/testing.md"))
	require.NotEmpty(t, testingDoc)
	assert.Contains(t, read(t, "../../jwtauthtest/readme_test.go"), testingDoc[0], "docs/testing.md and jwtauthtest/readme_test.go")
}

var (
	mdLink  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile("(?m)^#{1,6} +(.+)$")
	fence   = regexp.MustCompile("(?ms)^```.*?^```$")
)

// anchors returns the GitHub anchors of a Markdown document's headings:
// lower case, punctuation but '-' and '_' dropped, spaces as '-'.
func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(doc, ""), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(m[1])) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}

// TestDocLinks: every relative link of README.md, SECURITY.md, CHANGELOG.md
// and docs/*.md names a file of the repository, and every #anchor a heading
// of its document, so moving a section cannot leave a dangling link.
func TestDocLinks(t *testing.T) {
	docs, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	require.NotEmpty(t, docs)
	docs = append(docs, "../../README.md", "../../SECURITY.md", "../../CHANGELOG.md")
	for _, doc := range docs {
		text := read(t, doc)
		for _, m := range mdLink.FindAllStringSubmatch(fence.ReplaceAllString(text, ""), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := doc
			if file != "" {
				path = filepath.Join(filepath.Dir(doc), filepath.FromSlash(file))
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s: link %s: no file %s", doc, target, path)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(path, ".md") && !anchors(read(t, path))[anchor] {
				t.Errorf("%s: link %s: no heading with anchor #%s in %s", doc, target, anchor, path)
			}
		}
	}
}

// TestDocsProgramsCompile builds every whole program among the Go blocks of
// docs/*.md (those that start with their imports), as package main of a
// directory that exists only in a go build -overlay, so that a page cannot
// name an API the module lacks.
func TestDocsProgramsCompile(t *testing.T) {
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	here, err := filepath.Abs(".")
	require.NoError(t, err)
	docs, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	programs := 0
	for _, doc := range docs {
		for i, block := range goBlocks(read(t, doc)) {
			if !strings.HasPrefix(block, "import (") {
				continue
			}
			programs++
			name := fmt.Sprintf("%s-%d", strings.TrimSuffix(filepath.Base(doc), ".md"), i)
			src := filepath.Join(t.TempDir(), "main.go")
			require.NoError(t, os.WriteFile(src, []byte("package main\n\n"+block), 0o600))
			overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{
				filepath.Join(here, "docsnippet", name, "main.go"): src}})
			require.NoError(t, err)
			ov := filepath.Join(t.TempDir(), "overlay.json")
			require.NoError(t, os.WriteFile(ov, overlay, 0o600))
			out, err := exec.Command(gobin, "build", "-o", os.DevNull, "-overlay", ov, "./docsnippet/"+name).CombinedOutput()
			assert.NoError(t, err, "%s, Go block %d:\n%s", doc, i, out)
		}
	}
	assert.GreaterOrEqual(t, programs, 2, "docs/verifying.md has two")
}
