package gin_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/jwtauth"
)

// MountService takes what jwtauth.New returns.
var _ jwtgin.Service = (*jwtauth.Service)(nil)

// notLinked are the import paths (a trailing "/" or "\n" makes a prefix or
// an exact path) a service that only verifies tokens with Middleware must
// not link: the face with its account flow, password hashing and PRECIS,
// metrics, storage and jwx.
var notLinked = []string{
	"github.com/jwtauth/jwtauth/jwtauth\n", "github.com/jwtauth/jwtauth/jwtauth/account\n", "github.com/jwtauth/jwtauth/jwtauth/account/",
	"golang.org/x/crypto/argon2\n", "golang.org/x/crypto/bcrypt\n", "golang.org/x/text/secure/precis\n", "github.com/prometheus/",
	"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/lestrrat-go/",
}

// TestLinksNoAccountCode checks the packages adapters/gin links (go list
// -deps, without the test's own dependencies): Middleware for a verify-only
// service must not drag in the face and what it links.
func TestLinksNoAccountCode(t *testing.T) {
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := string(out)
	require.Contains(t, deps, "github.com/jwtauth/jwtauth/adapters/gin\n", "the list is the adapter's")
	require.Contains(t, deps, "github.com/jwtauth/jwtauth/jwtauth/authn\n")
	for _, p := range strings.Split(deps, "\n") {
		for _, f := range notLinked {
			assert.False(t, strings.HasPrefix(p+"\n", f), "adapters/gin links %s", p)
		}
	}
}
