package account

import (
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/jwtauth/jwtauth/jwtauth/account/internal/hashhook"
	"github.com/jwtauth/jwtauth/jwtauth/token"

	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// mapUsers is a read-only UserStore over a map.
type mapUsers map[string]string

func (m mapUsers) CreateUser(context.Context, User) error { return nil }
func (m mapUsers) UserByName(_ context.Context, name string) (User, error) {
	h, ok := m[name]
	if !ok {
		return User{}, ErrUserNotFound
	}
	return User{Username: name, PasswordHash: h}, nil
}
func (m mapUsers) UpdatePasswordHash(context.Context, string, string) error { return nil }

// Kinds of hash computation the test tells apart: hashhook's, with an
// argon2id computation of parameters other than the current ones legacy.
const (
	hashArgon2id       = hashhook.Argon2id
	hashArgon2idLegacy = "argon2id-legacy"
	hashBcrypt         = hashhook.Bcrypt
)

// hashCosts are the virtual times the test gives each hash computation.
var hashCosts = map[string]time.Duration{
	hashArgon2id:       30 * time.Millisecond,
	hashArgon2idLegacy: 20 * time.Millisecond,
	hashBcrypt:         60 * time.Millisecond,
}

// costMeter counts hash computations (through hashhook.Hook) and the virtual time
// they and the padding waits take.
type costMeter struct {
	clock  time.Time
	counts map[string]int
}

func (m *costMeter) install(t *testing.T, a *Accounts) {
	m.clock, m.counts = time.Unix(1_800_000_000, 0), map[string]int{}
	hashhook.Hook = func(kind string, memory, iterations uint32, lanes uint8) {
		if kind == hashArgon2id && (memory != a.argon.Memory || iterations != a.argon.Iterations || lanes != a.argon.Parallelism) {
			kind = hashArgon2idLegacy
		}
		m.counts[kind]++
		m.clock = m.clock.Add(hashCosts[kind])
	}
	t.Cleanup(func() { hashhook.Hook = nil })
	a.legacy.now = func() time.Time { return m.clock }
	a.legacy.sleep = func(_ context.Context, d time.Duration) { m.clock = m.clock.Add(d) }
}

// run returns the computations and the virtual time of one call.
func (m *costMeter) run(f func()) (map[string]int, time.Duration) {
	start := m.clock
	m.counts = map[string]int{}
	f()
	return m.counts, m.clock.Sub(start)
}

// TestLoginFailuresCostTheSameForEveryHash (issue 16.7): whatever the stored
// hash (none, current argon2id, bcrypt, argon2id of older parameters,
// malformed) and whatever the password (a 73-byte one cannot match bcrypt),
// a failed login runs exactly one argon2id computation with the current
// parameters and, with the padding, takes the same time. Hash computations
// are counted through hashhook.Hook and timed on a virtual clock.
func TestLoginFailuresCostTheSameForEveryHash(t *testing.T) {
	current := credential.Argon2Params{Memory: 64, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	older := credential.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	aliceHash, err := credential.HashPassword("alice's password", current)
	require.NoError(t, err)
	bcryptHash, err := bcrypt.GenerateFromPassword([]byte("bob's password"), bcrypt.MinCost)
	require.NoError(t, err)
	olderHash, err := credential.HashPassword("bob's password", older)
	require.NoError(t, err)
	long := strings.Repeat("x", 73)

	for _, family := range []struct {
		name, hash, kind string
	}{
		{"bcrypt", string(bcryptHash), hashBcrypt},
		{"older argon2id", olderHash, hashArgon2idLegacy},
	} {
		t.Run(family.name, func(t *testing.T) {
			users := mapUsers{"alice": aliceHash, "bob": family.hash, "carol": "$argon2id$v=19$m=64,t=1,p=1$bad$hash", "dave": "$2b$10$short"}
			a, err := New(Config{Users: users, Issuer: &token.Issuer{}, Argon2: current,
				Throttle: LoginThrottle{UserFailures: -1, IPFailures: -1}})
			require.NoError(t, err)
			var m costMeter
			m.install(t, a)
			login := func(user, pw string) func() {
				return func() {
					_, err := a.Login(context.Background(), user, pw)
					var e *Error
					require.ErrorAs(t, err, &e)
					require.Equal(t, "invalid_credentials", e.Code)
				}
			}
			// The first legacy verification after a start sets the padding.
			counts, legacyCost := m.run(login("bob", "wrong password"))
			require.Equal(t, map[string]int{hashArgon2id: 1, family.kind: 1}, counts)
			want := hashCosts[hashArgon2id] + hashCosts[family.kind]
			require.Equal(t, want, legacyCost)

			for _, tc := range []struct {
				name, user, pw string
				legacy         bool
			}{
				{"unknown user", "mallory", "wrong password", false},
				{"malformed username", "not a name", "wrong password", false},
				{"current hash, wrong password", "alice", "wrong password", false},
				{"legacy hash, wrong password", "bob", "wrong password", true},
				{"legacy hash, 73-byte password", "bob", long, family.kind != hashBcrypt},
				{"unknown user, 73-byte password", "mallory", long, false},
				{"malformed argon2id hash", "carol", "wrong password", false},
				{"malformed bcrypt hash", "dave", "wrong password", false},
			} {
				counts, took := m.run(login(tc.user, tc.pw))
				wantCounts := map[string]int{hashArgon2id: 1}
				if tc.legacy {
					wantCounts[family.kind] = 1
				}
				assert.Equal(t, wantCounts, counts, "%s: exactly one current argon2id computation", tc.name)
				assert.Equal(t, want, took, "%s costs what any other failure costs", tc.name)
			}
		})
	}
}

// TestLegacyHashRightPasswordRehashes: the right password on a legacy hash
// costs the legacy verification and the one current-parameter computation,
// which is the new hash to store.
func TestLegacyHashRightPasswordRehashes(t *testing.T) {
	current := credential.Argon2Params{Memory: 64, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	bcryptHash, err := bcrypt.GenerateFromPassword([]byte("bob's password"), bcrypt.MinCost)
	require.NoError(t, err)
	a, err := New(Config{Users: mapUsers{}, Issuer: &token.Issuer{}, Argon2: current})
	require.NoError(t, err)
	var m costMeter
	m.install(t, a)
	var res loginCheck
	counts, _ := m.run(func() { res = a.checkPassword(string(bcryptHash), "bob's password") })
	assert.Equal(t, map[string]int{hashArgon2id: 1, hashBcrypt: 1}, counts)
	require.True(t, res.ok)
	require.NoError(t, res.rehashErr)
	ok, rehash, err := credential.VerifyPassword(res.rehash, "bob's password", current)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.False(t, rehash, "the new hash has the current parameters")
}

// The padding follows the median of the legacy verifications, not their
// mean: a few slowed by load do not lengthen every failure, and it moves to
// a new level (a changed bcrypt cost, a faster machine) within tens of
// logins.
func TestLegacyTimingTracksTheMedian(t *testing.T) {
	l := newLegacyTiming()
	l.record(100 * time.Millisecond)
	for i := range 1000 {
		d := 100 * time.Millisecond
		if i%10 == 0 {
			d = time.Second // the mean is 190 ms
		}
		l.record(d)
		require.GreaterOrEqual(t, l.estimate(), 100*time.Millisecond)
		require.LessOrEqual(t, l.estimate(), 104*time.Millisecond)
	}
	for range 60 {
		l.record(200 * time.Millisecond)
	}
	assert.Equal(t, 200*time.Millisecond, l.estimate())
	for range 60 {
		l.record(50 * time.Millisecond)
	}
	assert.Equal(t, 50*time.Millisecond, l.estimate())
}
