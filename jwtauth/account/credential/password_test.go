package credential_test

import (
	"strings"
	"testing"

	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

var fastArgon = credential.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestArgon2idPHCRoundTrip(t *testing.T) {
	h, err := credential.HashPassword("correct horse", fastArgon)
	require.NoError(t, err)
	assert.Regexp(t, `^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, h)
	ok, rehash, err := credential.VerifyPassword(h, "correct horse", fastArgon)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.False(t, rehash)
	ok, _, err = credential.VerifyPassword(h, "correct horsf", fastArgon)
	require.NoError(t, err)
	assert.False(t, ok)

	// Older parameters match and ask for a rehash.
	ok, rehash, err = credential.VerifyPassword(h, "correct horse", credential.DefaultArgon2Params)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, rehash)

	def, err := credential.HashPassword("x", credential.DefaultArgon2Params)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(def, "$argon2id$v=19$m=19456,t=2,p=1$"), "OWASP parameters")
}

func TestBcryptHashesVerifyAndNeverTruncate(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("legacy password"), bcrypt.MinCost)
	require.NoError(t, err)
	ok, rehash, err := credential.VerifyPassword(string(h), "legacy password", fastArgon)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, rehash, "bcrypt hashes are upgraded")

	long := strings.Repeat("a", 72)
	h72, err := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	require.NoError(t, err)
	ok, _, err = credential.VerifyPassword(string(h72), long+"b", fastArgon)
	require.NoError(t, err)
	assert.False(t, ok, "a 73-byte password must not match the hash of its first 72 bytes")

	a, err := credential.HashPassword(long+"b", fastArgon)
	require.NoError(t, err)
	ok, _, err = credential.VerifyPassword(a, long+"c", fastArgon)
	require.NoError(t, err)
	assert.False(t, ok, "argon2id compares every byte")
}

func TestMalformedHashesNeverMatch(t *testing.T) {
	for _, h := range []string{
		"", "plaintext", "$argon2id$", "$argon2id$v=18$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=99999999,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$AAAA", "$2b$04$short",
	} {
		ok, _, err := credential.VerifyPassword(h, "password", fastArgon)
		assert.False(t, ok, h)
		assert.ErrorIs(t, err, credential.ErrUnknownHashFormat, h)
	}
}

// TestArgon2BoundsSameForHashAndVerify: every parameter set HashPassword
// and Validate (so account.New) accept makes hashes VerifyPassword
// accepts, and just past each bound both refuse (issue 16.9: Iterations 65 was hashed, and every
// such account could never log in).
func TestArgon2BoundsSameForHashAndVerify(t *testing.T) {
	base := credential.Argon2Params{Memory: 8, Iterations: 1, Parallelism: 1, SaltLength: 8, KeyLength: 16}
	at := func(edit func(*credential.Argon2Params)) credential.Argon2Params { p := base; edit(&p); return p }
	for _, p := range []credential.Argon2Params{
		base,
		at(func(p *credential.Argon2Params) { p.Iterations = 64 }),
		at(func(p *credential.Argon2Params) { p.Parallelism, p.Memory = 4, 32 }),
		at(func(p *credential.Argon2Params) { p.SaltLength = 64 }),
		at(func(p *credential.Argon2Params) { p.KeyLength = 128 }),
	} {
		h, err := credential.HashPassword("correct horse", p)
		require.NoError(t, err, "%+v", p)
		ok, rehash, err := credential.VerifyPassword(h, "correct horse", p)
		require.NoError(t, err, "%+v: %s", p, h)
		assert.True(t, ok, "%+v", p)
		assert.False(t, rehash, "%+v", p)
	}
	for _, tc := range []struct {
		p   credential.Argon2Params
		phc string // the same parameters as a stored hash
	}{
		{at(func(p *credential.Argon2Params) { p.Iterations = 65 }), "$argon2id$v=19$m=8,t=65,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"},
		{at(func(p *credential.Argon2Params) { p.Parallelism = 2 }), "$argon2id$v=19$m=8,t=1,p=2$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"},
		{at(func(p *credential.Argon2Params) { p.Memory = 1<<21 + 1 }), "$argon2id$v=19$m=2097153,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"},
		{at(func(p *credential.Argon2Params) { p.SaltLength = 65 }), "$argon2id$v=19$m=8,t=1,p=1$" + strings.Repeat("A", 87) + "$AAAAAAAAAAAAAAAAAAAAAA"},
		{at(func(p *credential.Argon2Params) { p.KeyLength = 129 }), "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$" + strings.Repeat("A", 172)},
		{at(func(p *credential.Argon2Params) { p.SaltLength = 7 }), "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"},
		{at(func(p *credential.Argon2Params) { p.KeyLength = 15 }), "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAA"},
	} {
		_, err := credential.HashPassword("correct horse", tc.p)
		assert.Error(t, err, "HashPassword %+v", tc.p)
		assert.Error(t, tc.p.Validate(), "Validate %+v", tc.p)
		_, _, err = credential.VerifyPassword(tc.phc, "correct horse", base)
		assert.ErrorIs(t, err, credential.ErrUnknownHashFormat, tc.phc)
	}
}

func TestArgon2ParamsOutOfBoundsAreErrorsNotPanics(t *testing.T) {
	for _, p := range []credential.Argon2Params{
		{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16}, // no key length
		{Memory: 64, Iterations: 0, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 4, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 4, KeyLength: 32},
	} {
		_, err := credential.HashPassword("correct horse", p)
		assert.Error(t, err, "%+v", p)
	}
}

func TestUsernameAndPasswordRules(t *testing.T) {
	n, err := credential.NormalizeUsername("Alice")
	require.NoError(t, err)
	assert.Equal(t, "alice", n)
	n, err = credential.NormalizeUsername("ＡＬＩＣＥ") // fullwidth letters map to ASCII (RFC 8265 §3.3.2)
	require.NoError(t, err)
	assert.Equal(t, "alice", n)
	for bad, want := range map[string]string{
		"":                      "username must be a non-empty string of letters, digits and symbols without spaces or control characters",
		"al ice":                "username must be a non-empty string of letters, digits and symbols without spaces or control characters",
		"bob\x00":               "username must be a non-empty string of letters, digits and symbols without spaces or control characters",
		"bob\n":                 "username must be a non-empty string of letters, digits and symbols without spaces or control characters",
		strings.Repeat("a", 65): "username must be at most 64 characters",
		"p\u0430ypal":           "username must not mix letters of different scripts",
	} {
		_, err := credential.NormalizeUsername(bad)
		assert.EqualError(t, err, want, "%q", bad)
	}
	assert.EqualError(t, credential.CheckPassword("short"), "password must be 8 to 1024 characters")
	assert.EqualError(t, credential.CheckPassword(strings.Repeat("x", 1025)), "password must be 8 to 1024 characters")
	assert.EqualError(t, credential.CheckPassword("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"), "password must be valid UTF-8")
	assert.NoError(t, credential.CheckPassword("12345678"))
	assert.NoError(t, credential.CheckPassword(strings.Repeat("é", 1024)))
}
