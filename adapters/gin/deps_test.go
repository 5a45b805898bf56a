package gin_test

import (
	"testing"

	"github.com/jwtauth/jwtauth/adapters/adaptertest"
	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/jwtauth"
)

// MountService takes what jwtauth.New returns.
var _ jwtgin.Service = (*jwtauth.Service)(nil)

// TestLinksNoAccountCode checks the packages adapters/gin links (go list
// -deps, without the test's own dependencies): Middleware for a verify-only
// service must not drag in the face and what it links.
func TestLinksNoAccountCode(t *testing.T) {
	adaptertest.CheckLinks(t, []string{"github.com/jwtauth/jwtauth/adapters/gin", "github.com/jwtauth/jwtauth/jwtauth/authn"}, adaptertest.VerifyOnlyNotLinked)
}
