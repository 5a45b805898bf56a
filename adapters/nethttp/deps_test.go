package nethttp_test

import (
	"testing"

	"github.com/jwtauth/jwtauth/adapters/adaptertest"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/jwtauth"
)

// MountService takes what jwtauth.New returns.
var _ nethttp.Service = (*jwtauth.Service)(nil)

// TestLinksNoAccountCode checks the packages adapters/nethttp links (go list
// -deps, without the test's own dependencies): Middleware for a verify-only
// service must not drag in the face and what it links.
func TestLinksNoAccountCode(t *testing.T) {
	adaptertest.CheckLinks(t, []string{"github.com/jwtauth/jwtauth/adapters/nethttp", "github.com/jwtauth/jwtauth/jwtauth/authn"}, adaptertest.VerifyOnlyNotLinked)
}
