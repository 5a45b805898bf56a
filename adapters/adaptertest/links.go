package adaptertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// VerifyOnlyNotLinked are the import paths a service that only verifies
// tokens must not link: the face with its account flow, password hashing
// and PRECIS, metrics, storage and jwx. A path ending in "\n" is exact, any
// other a prefix (see CheckLinks).
var VerifyOnlyNotLinked = []string{
	"github.com/jwtauth/jwtauth/jwtauth\n", "github.com/jwtauth/jwtauth/jwtauth/account\n", "github.com/jwtauth/jwtauth/jwtauth/account/",
	"golang.org/x/crypto/argon2\n", "golang.org/x/crypto/bcrypt\n", "golang.org/x/text/secure/precis\n", "github.com/prometheus/",
	"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/lestrrat-go/",
}

// CheckLinks lists the packages that the package in the test's working
// directory links (go list -deps ., without the test's own dependencies),
// fails t unless each of want is among them and for each one that starts
// with an entry of notLinked (an entry ending in "\n" matches one path
// exactly), and returns the list, one path per line.
func CheckLinks(t *testing.T, want, notLinked []string) string {
	t.Helper()
	out, err := exec.Command(GoCommand(), "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := string(out)
	for _, w := range want {
		require.Contains(t, deps, w+"\n", "the list must hold %s", w)
	}
	for _, p := range strings.Split(strings.TrimSpace(deps), "\n") {
		for _, f := range notLinked {
			assert.False(t, strings.HasPrefix(p+"\n", f), "links %s", p)
		}
	}
	return deps
}

// GoCommand is the go command of the toolchain running the test ($GOROOT/bin/go),
// or "go" from PATH.
func GoCommand() string {
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		return "go"
	}
	return gobin
}
