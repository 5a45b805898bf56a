package account

import (
	"sync/atomic"
	"testing"

	"github.com/jwtauth/jwtauth/jwtauth/account/internal/hashhook"
)

// CountHashes makes every argon2id or bcrypt computation (hashhook.Hook) count
// in the returned counter until the test ends. Tests using it must
// not run in parallel with other hashing tests.
func CountHashes(tb testing.TB) *atomic.Int64 {
	tb.Helper()
	var n atomic.Int64
	hashhook.Hook = func(string, uint32, uint32, uint8) { n.Add(1) }
	tb.Cleanup(func() { hashhook.Hook = nil })
	return &n
}
