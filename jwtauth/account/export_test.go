package account

import (
	"sync/atomic"
	"testing"
)

// CountHashes makes every argon2id or bcrypt computation (hashHook) count
// in the returned counter until the test ends. Tests using it must
// not run in parallel with other hashing tests.
func CountHashes(tb testing.TB) *atomic.Int64 {
	tb.Helper()
	var n atomic.Int64
	hashHook = func(string) { n.Add(1) }
	tb.Cleanup(func() { hashHook = nil })
	return &n
}
