package account

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deviceTestHashes are two stored hashes of one password (another salt), as
// a password change or two imports of one account would store them.
func deviceTestHashes(t *testing.T) (string, string) {
	t.Helper()
	p := credential.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	h1, err := credential.HashPassword("correct horse battery", p)
	require.NoError(t, err)
	h2, err := credential.HashPassword("correct horse battery", p)
	require.NoError(t, err)
	require.NotEqual(t, h1, h2)
	return h1, h2
}

// issueDeviceToken issues a device token of username keyed by hash and
// parses it back.
func issueDeviceToken(t *testing.T, hash, username string, now time.Time) deviceToken {
	t.Helper()
	raw, err := newDeviceToken(hash, username, now)
	require.NoError(t, err)
	d, ok := parseDeviceToken(raw, now, DefaultDeviceTokenTTL)
	require.True(t, ok, "a fresh token parses: %q", raw)
	return d
}

// TestDeviceTokenBoundToUsername: the MAC covers the username, so a token
// is valid only for the name it was issued to, even where two accounts
// share one stored hash (imported users, an application's users table) and
// so one MAC key.
func TestDeviceTokenBoundToUsername(t *testing.T) {
	hash, _ := deviceTestHashes(t)
	now := time.Unix(1_800_000_000, 0)
	d := issueDeviceToken(t, hash, "alice", now)
	assert.True(t, d.valid(hash, "alice"))
	for _, other := range []string{"bob", "alic", "alice2", ""} {
		assert.False(t, d.valid(hash, other), "alice's token is valid for %q with the same hash", other)
	}
}

// TestDeviceTokenKeyedByStoredHash: the MAC key comes from the user's
// stored hash, so a new hash (a password change, a rehash) ends the user's
// device tokens, and a token made with any key but the stored hash (one
// read from the source, the empty hash, another user's hash) is forged.
func TestDeviceTokenKeyedByStoredHash(t *testing.T) {
	before, after := deviceTestHashes(t)
	now := time.Unix(1_800_000_000, 0)
	d := issueDeviceToken(t, before, "alice", now)
	assert.True(t, d.valid(before, "alice"))
	assert.False(t, d.valid(after, "alice"), "a token of the old hash survives a password change")
	for _, key := range []string{"", after, "jwtauth device key v1"} {
		forged := issueDeviceToken(t, key, "alice", now)
		assert.False(t, forged.valid(before, "alice"), "a token keyed by %q is valid for the stored hash", key)
	}
}

// TestDeviceMACMatchesItsDocumentation recomputes a device token's MAC from
// its bytes as the comment on deviceTokenVersion describes it:
// HMAC-SHA256(HMAC-SHA256("jwtauth device key v1", hash), label ||
// username || 0 || issued || nonce).
func TestDeviceMACMatchesItsDocumentation(t *testing.T) {
	hash, _ := deviceTestHashes(t)
	now := time.Unix(1_800_000_000, 0)
	raw, err := newDeviceToken(hash, "alice", now)
	require.NoError(t, err)
	b, err := base64.RawURLEncoding.DecodeString(raw)
	require.NoError(t, err)
	require.Len(t, b, 57)
	assert.Equal(t, byte(1), b[0], "version")
	assert.Equal(t, []byte{0, 0, 0, 0, 0x6b, 0x49, 0xd2, 0}, b[1:9], "issued, Unix seconds big-endian")

	k := hmac.New(sha256.New, []byte("jwtauth device key v1"))
	k.Write([]byte(hash))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte("jwtauth device token v1\x00alice\x00"))
	m.Write(b[1:25])
	assert.Equal(t, m.Sum(nil), b[25:], "mac")
}
