package main

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth/account"
)

func TestUsersRevokeSessions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users.db")
	env := map[string]string{"JWTAUTH_STORE": "sqlite:" + path}
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

	// A mistyped store is an error, and no file appears.
	_, errOut, code := runCLI(t, env, "", "users", "revoke-sessions", "alice")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no store at sqlite:"+path)
	_, err := os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist)

	// Two sessions of alice, one of bob, as serve stores them.
	now := time.Now().UTC()
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	for _, u := range []string{"alice", "bob"} {
		require.NoError(t, s.CreateUser(ctx, account.User{Username: u, PasswordHash: "h", CreatedAt: now}))
	}
	for _, f := range []struct{ tok, user string }{{"a1", "alice"}, {"a2", "alice"}, {"b1", "bob"}} {
		require.NoError(t, s.CreateRefreshToken(ctx, account.RefreshToken{Hash: hash(f.tok), FamilyID: "fam-" + f.tok, Username: f.user,
			IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(2 * time.Hour)}))
	}
	require.NoError(t, s.Close())

	out, errOut, code := runCLI(t, nil, "", "users", "revoke-sessions", "--store", "sqlite:"+path, "Alice")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "revoked 2 sessions of alice\n", out)

	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	for _, tok := range []string{"a1", "a2"} {
		_, err := s.RotateRefreshToken(ctx, hash(tok), account.RefreshToken{Hash: hash(tok + "-next"), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, now)
		assert.ErrorIs(t, err, account.ErrRefreshReused, tok)
	}
	_, err = s.RotateRefreshToken(ctx, hash("b1"), account.RefreshToken{Hash: hash("b1-next"), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, now)
	assert.NoError(t, err, "bob's session")

	out, errOut, code = runCLI(t, env, "", "users", "revoke-sessions", "alice")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "revoked 0 sessions of alice\n", out)

	_, errOut, code = runCLI(t, env, "", "users", "revoke-sessions", "carol")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `no user "carol" in sqlite:`+path)

	for _, args := range [][]string{
		{"users"}, {"users", "revoke"}, {"users", "revoke-sessions"}, {"users", "revoke-sessions", "a", "b"},
		{"users", "revoke-sessions", "not a name"}, {"users", "revoke-sessions", "--store", "memory:", "alice"},
	} {
		_, _, code := runCLI(t, env, "", args...)
		assert.Equal(t, 2, code, args)
	}
	out, _, code = runCLI(t, env, "", "users", "revoke-sessions", "-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "Usage: jwtauth users revoke-sessions [flags] USERNAME")
	assert.Contains(t, out, "-store")
}
