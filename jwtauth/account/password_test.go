package account_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fastArgon = credential.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestArgon2ConfigOutOfBoundsIsAnError(t *testing.T) {
	f := newFixture(t)
	for _, p := range []credential.Argon2Params{
		{Memory: 4, Iterations: 1, Parallelism: 1},
		{Memory: 64, Iterations: 65, Parallelism: 1},
		{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 65},
	} {
		_, err := account.New(account.Config{Users: memory.New(), Issuer: f.issuer, Argon2: p})
		assert.Error(t, err, "%+v", p)
	}
	// In Config, zero fields take the defaults: a partial set works.
	a, err := account.New(account.Config{Users: memory.New(), Issuer: f.issuer,
		Argon2: credential.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1}})
	require.NoError(t, err)
	require.NoError(t, a.Register(context.Background(), "alice", "correct horse"))
}

// TestCredentialRulesAreInvalidRequest: the refusals of package credential
// reach callers of Accounts as *Error invalid_request with the same text.
func TestCredentialRulesAreInvalidRequest(t *testing.T) {
	f := newFixture(t)
	a, err := account.New(account.Config{Users: memory.New(), Issuer: f.issuer, Argon2: fastArgon})
	require.NoError(t, err)
	for _, tc := range []struct{ user, pw string }{
		{"al ice", "correct horse"}, {strings.Repeat("a", 65), "correct horse"}, {"p\u0430ypal", "correct horse"},
		{"alice", "short"}, {"alice", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"},
	} {
		want := credential.CheckPassword(tc.pw)
		if _, nerr := credential.NormalizeUsername(tc.user); nerr != nil {
			want = nerr
		}
		require.Error(t, want)
		err := a.Register(context.Background(), tc.user, tc.pw)
		var e *account.Error
		require.ErrorAs(t, err, &e, "%q", tc.user)
		assert.Equal(t, "invalid_request", e.Code)
		assert.Equal(t, want.Error(), e.Description)
	}
}
