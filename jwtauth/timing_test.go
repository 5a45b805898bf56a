//go:build timing

package jwtauth_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
)

// These measurements use the real argon2id parameters (19 MiB, 2 passes) and
// run only with -tags timing:
//
//	go test -tags timing -run 'Timing|RSS' -v ./jwtauth/

// realParams is a server with credential.DefaultArgon2Params and no failed-login
// throttle (the measurements fail on purpose, many times).
func realParams(c *account.Config) {
	c.Argon2 = credential.DefaultArgon2Params
	c.Throttle.UserFailures, c.Throttle.IPFailures = -1, -1
}

// vmHWM returns the process's peak resident set size (VmHWM) in bytes.
func vmHWM(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Skip("no VmHWM in /proc/self/status")
	return 0
}

// TestRSSUnder500ConcurrentLogins floods /login with 500 concurrent requests
// (half with the right password) and asserts that no request fails with a
// 5xx other than the designed 503, and that the peak RSS of the whole test
// process stays under rssBound: the hash semaphore (GOMAXPROCS slots of 19
// MiB) bounds the argon2id memory however many requests arrive.
func TestRSSUnder500ConcurrentLogins(t *testing.T) {
	const n = 500
	slots := runtime.GOMAXPROCS(0)
	rssBound := int64(128<<20) + int64(slots)*2*int64(credential.DefaultArgon2Params.Memory)<<10
	s := newServer(t, memory.New(), options{accounts: realParams})
	s.register("alice", alicePW)
	before := vmHWM(t)

	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	begin := time.Now()
	for i := range n {
		wg.Go(func() {
			<-start
			pw := alicePW
			if i%2 == 1 {
				pw = "wrong password"
			}
			codes[i] = s.do("POST", "/login", creds("alice", pw)).Code
		})
	}
	close(start)
	wg.Wait()
	elapsed := time.Since(begin)
	peak := vmHWM(t)
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	t.Logf("500 concurrent logins, %d hash slots: %v in %s; VmHWM %.1f MiB before, %.1f MiB after; bound %.1f MiB",
		slots, count, elapsed.Round(time.Millisecond), float64(before)/(1<<20), float64(peak)/(1<<20), float64(rssBound)/(1<<20))
	for c, k := range count {
		assert.Contains(t, []int{http.StatusOK, http.StatusUnauthorized, http.StatusServiceUnavailable}, c, "%d answers with %d", k, c)
	}
	assert.Less(t, peak, rssBound)
}

// TestTimingUnknownUserVsWrongPassword compares the median time of 200
// logins of an unknown user with 200 wrong passwords for a real one
// (interleaved, so drift hits both alike); they must be within 10%.
func TestTimingUnknownUserVsWrongPassword(t *testing.T) {
	const tries = 200
	s := newServer(t, memory.New(), options{accounts: realParams})
	s.register("alice", alicePW)
	var unknown, wrong []time.Duration
	measure := func(user string) (time.Duration, string) {
		begin := time.Now()
		res := s.do("POST", "/login", creds(user, "not the password"))
		d := time.Since(begin)
		require.Equal(t, http.StatusUnauthorized, res.Code)
		return d, res.Raw
	}
	for i := range tries {
		du, bu := measure(fmt.Sprintf("mallory%d", i))
		dw, bw := measure("alice")
		require.Equal(t, bw, bu, "identical bodies")
		unknown, wrong = append(unknown, du), append(wrong, dw)
	}
	mu, mw := median(unknown), median(wrong)
	ratio := float64(mu) / float64(mw)
	t.Logf("median unknown user %s, wrong password %s, ratio %.3f", mu, mw, ratio)
	assert.InDelta(t, 1, ratio, 0.10)
}

// TestTimingLegacyHashesVsUnknownUser (issue 16.7) compares the median time
// of failed logins of an unknown user with those of users whose stored hash
// is bcrypt (cost 10, the usual legacy) or argon2id of older parameters,
// with a short wrong password and with a 73-byte one (which bcrypt would
// refuse at once), interleaved; each must be within 10%.
func TestTimingLegacyHashesVsUnknownUser(t *testing.T) {
	const tries = 100
	store := memory.New()
	s := newServer(t, store, options{accounts: realParams})
	bc, err := bcrypt.GenerateFromPassword([]byte(alicePW), bcrypt.DefaultCost)
	require.NoError(t, err)
	older := credential.DefaultArgon2Params
	older.Iterations = 1
	oh, err := credential.HashPassword(alicePW, older)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, store.CreateUser(ctx, account.User{Username: "bob", PasswordHash: string(bc), CreatedAt: time.Now()}))
	long := strings.Repeat("x", 73)
	measure := func(user, pw string) time.Duration {
		begin := time.Now()
		res := s.do("POST", "/login", creds(user, pw))
		d := time.Since(begin)
		require.Equal(t, http.StatusUnauthorized, res.Code)
		return d
	}
	cases := []struct{ name, user, pw string }{
		{"bcrypt, short password", "bob", "not the password"},
		{"bcrypt, 73-byte password", "bob", long},
		{"unknown user, 73-byte password", "mallory", long},
	}
	compare := func() {
		all := cases
		unknown := make([]time.Duration, 0, tries)
		got := make([][]time.Duration, len(all))
		measure("bob", "warm-up") // the first legacy verification sets the padding
		for i := range tries {
			unknown = append(unknown, measure(fmt.Sprintf("mallory%d", i), "not the password"))
			for j, c := range all {
				got[j] = append(got[j], measure(c.user, c.pw))
			}
		}
		mu := median(unknown)
		for j, c := range all {
			m := median(got[j])
			ratio := float64(m) / float64(mu)
			t.Logf("median unknown user %s, %s %s, ratio %.3f", mu, c.name, m, ratio)
			assert.InDelta(t, 1, ratio, 0.10, c.name)
		}
	}
	compare()

	// A server whose users are on older argon2id parameters.
	store2 := memory.New()
	s = newServer(t, store2, options{accounts: realParams})
	require.NoError(t, store2.CreateUser(ctx, account.User{Username: "bob", PasswordHash: oh, CreatedAt: time.Now()}))
	cases = []struct{ name, user, pw string }{
		{"older argon2id, short password", "bob", "not the password"},
		{"older argon2id, 73-byte password", "bob", long},
	}
	compare()
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}
