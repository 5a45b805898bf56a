// Package storetest is a conformance suite for implementations of
// account.Store, in the manner of golang.org/x/net/nettest.TestConn and
// testing/fstest.TestFS: every store adapter runs the same suite from its own
// tests.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) account.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
//			require.NoError(t, err)
//			return s
//		})
//	}
//
// Besides the contract the port interfaces document, the suite holds a store
// to these rules, which every jwtauth store follows:
//
//   - Times round-trip exactly, to the nanosecond, and come back in UTC
//     without a monotonic clock reading; the zero time stays zero.
//   - Byte slices are copied: a caller changing a slice it passed in or got
//     back does not change the stored state.
//   - CreateRefreshToken for a username no user has fails with
//     account.ErrUserNotFound (refresh tokens belong to accounts).
//   - RotateRefreshToken sets the next token's family, username and parent
//     from the old token, returns the old token with UsedAt set to now, checks
//     reuse before expiry, and treats a token as expired from its ExpiresAt on.
//   - The store implements account.RefreshTokenGraceStore and is checked
//     against that contract too (the RefreshGrace group): Run fails a store
//     without it. A store outside this repository that does not implement
//     the extension runs RunWithoutRefreshGrace, which skips the group.
//   - PurgeRefreshTokens keeps a family with a token whose ExpiresAt is not
//     before the cut-off.
//   - A revoked family stays revoked under concurrency: a logout racing a
//     refresh of the same token, and the replay of a used token racing the
//     refresh of its successor, never leave a token of the family that still
//     refreshes (the RefreshRaces group, 200 rounds each; RunShared runs it
//     over two instances of one store as well).
//   - The store implements account.ThrottleStore (the Throttle group): the
//     token arithmetic to the nanosecond, a take stopping at its first empty
//     bucket and keeping the tokens before it, refunds up to the burst,
//     purging only full buckets, and 40 concurrent takes spending exactly
//     the tokens there are.
//   - A done context makes a method fail with an error wrapping the context's
//     error, changing nothing.
//   - After Close every method fails with an error wrapping
//     account.ErrStoreUnavailable; a second Close does not panic.
//
// The suite also drives a keys.Manager over the store (first start, restart,
// concurrent rotation), using the fixed RSA keys of TestKeys so that it does
// not spend seconds generating keys under the race detector.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// Run runs the conformance suite against the stores newStore returns, as
// parallel subtests of t. newStore is called once per subtest and must
// return a new, empty, open store that no other subtest uses; the suite
// closes it (a store may also close itself in a t.Cleanup, Close must then
// tolerate a second call). A failure of newStore should be reported with
// t.Fatal.
//
// Every store of this repository implements account.RefreshTokenGraceStore:
// Run fails the RefreshGrace group for a store that does not.
func Run(t *testing.T, newStore func(t *testing.T) account.Store) {
	t.Helper()
	run(t, newStore, false)
}

// RunWithoutRefreshGrace is Run for a store outside this repository that
// does not implement the optional account.RefreshTokenGraceStore: its
// RefreshGrace group is skipped, saying why, instead of failing. It fails
// for a store that implements the extension, which must run Run.
func RunWithoutRefreshGrace(t *testing.T, newStore func(t *testing.T) account.Store) {
	t.Helper()
	run(t, newStore, true)
}

func run(t *testing.T, newStore func(t *testing.T) account.Store, noGrace bool) {
	t.Helper()
	open := func(t *testing.T) account.Store {
		t.Helper()
		s := newStore(t)
		require.NotNil(t, s, "newStore returned nil")
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	for _, group := range []struct {
		name  string
		tests []subtest
	}{
		{"Users", userTests},
		{"Keys", keyTests},
		{"KeyManager", managerTests},
		{"RefreshTokens", refreshTests},
		{"RefreshGrace", graceTests},
		{"RefreshRaces", raceSubtests()},
		{"Lifecycle", lifecycleTests},
		{"Throttle", throttleTests},
		{"UserAdmin", userAdminTests},
		{"KeyManagerRestore", nil},
	} {
		if group.tests == nil {
			t.Run(group.name, func(t *testing.T) {
				t.Parallel()
				for _, pt := range pairTests {
					t.Run(pt.name, func(t *testing.T) {
						t.Parallel()
						pt.fn(t, open(t), open(t))
					})
				}
			})
			continue
		}
		t.Run(group.name, func(t *testing.T) {
			t.Parallel()
			for _, st := range group.tests {
				t.Run(st.name, func(t *testing.T) {
					t.Parallel()
					s := open(t)
					if group.name == "RefreshGrace" {
						_, ok := s.(account.RefreshTokenGraceStore)
						switch {
						case noGrace && ok:
							t.Fatalf("%T implements account.RefreshTokenGraceStore: run storetest.Run, not RunWithoutRefreshGrace", s)
						case noGrace:
							t.Skipf("%T does not implement account.RefreshTokenGraceStore (RunWithoutRefreshGrace)", s)
						case !ok:
							t.Fatalf("%T does not implement account.RefreshTokenGraceStore, which every store of jwtauth must; a store outside this repository without it runs storetest.RunWithoutRefreshGrace", s)
						}
					}
					st.fn(t, s)
				})
			}
		})
	}
}

// subtest is one test of the suite, run on a fresh store.
type subtest struct {
	name string
	fn   func(t *testing.T, s account.Store)
}

// pairTest is one test of the suite that needs two fresh stores (a database
// and its restored backup, say).
type pairTest struct {
	name string
	fn   func(t *testing.T, a, b account.Store)
}

// t0 is the base time of the suite: nanoseconds set, so that a store that
// rounds to micro- or milliseconds fails.
var t0 = time.Date(2025, time.March, 14, 15, 9, 26, 535897932, time.UTC)

// elsewhere is a non-UTC zone: times given in it must come back as the same
// instant in UTC.
var elsewhere = time.FixedZone("UTC+05:30", 5*3600+30*60)

// hashOf returns the SHA-256 of s, standing in for a refresh token's hash.
func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// race runs fn(0) … fn(n-1) in n goroutines released at once and returns
// their errors by index.
func race(n int, fn func(i int) error) []error {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// exactlyOneWins asserts that one of errs is nil and every other wraps
// loser, and returns the index of the winner (-1 if none).
func exactlyOneWins(t *testing.T, errs []error, loser error) int {
	t.Helper()
	winner, wins := -1, 0
	for i, err := range errs {
		if err == nil {
			winner = i
			wins++
			continue
		}
		assert.ErrorIs(t, err, loser, "call %d", i)
	}
	assert.Equal(t, 1, wins, "successful calls of %d", len(errs))
	return winner
}

// canceled returns a context that is already canceled.
func canceled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// assertCtxErr asserts that err is non-nil and wraps a context error.
func assertCtxErr(t *testing.T, err error, call string) {
	t.Helper()
	if assert.Error(t, err, call) {
		assert.True(t, errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded),
			"%s: want an error wrapping context.Canceled, got %v", call, err)
	}
}
