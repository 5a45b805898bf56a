package storetest

import (
	"crypto/rsa"
	"testing"

	"github.com/jwtauth/jwtauth/keys/keystest"
)

// TestKeys returns the suite's fixed 2048-bit RSA test keys (those of
// keys/keystest), distinct and parsed once per test binary. The keys are
// shared: do not modify them. Generating RSA keys takes seconds under the
// race detector; these do not.
func TestKeys(t testing.TB) []*rsa.PrivateKey {
	t.Helper()
	return keystest.Keys(t)
}

// Generator returns a keys.Config.Generate function over the fixed test
// keys (keystest.Generator): safe for concurrent use, 2048 bits only.
func Generator(t testing.TB) func(bits int) (*rsa.PrivateKey, error) {
	t.Helper()
	return keystest.Generator(t)
}
