package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
)

// runBinary runs the built jwtauth with args, stdin and env (added to a
// clean environment), and returns its output and exit code.
func runBinary(t *testing.T, bin, stdin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errOut.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return out.String(), errOut.String(), 0
}

// TestUsersVerbsEndToEnd runs the users verbs with the real binary on a
// SQLite store as jwtauth serve leaves it.
func TestUsersVerbsEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users.db")
	env := []string{"JWTAUTH_STORE=sqlite:" + path}
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

	// Read-only: a missing store is an error, and no file appears.
	_, errOut, code := runBinary(t, bin, "", env, "users", "list")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no store at sqlite:"+path)
	_, err := os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist)

	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	for _, u := range []string{"carol", "alice", "bob"} {
		h, err := credential.HashPassword("the old password", credential.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32})
		require.NoError(t, err)
		require.NoError(t, s.CreateUser(ctx, account.User{Username: u, PasswordHash: h, CreatedAt: created}))
		require.NoError(t, s.CreateRefreshToken(ctx, account.RefreshToken{Hash: hash(u), FamilyID: "fam-" + u, Username: u,
			IssuedAt: created, ExpiresAt: time.Now().Add(time.Hour)}))
	}
	require.NoError(t, s.RecordLogin(ctx, "alice", created.Add(time.Hour)))
	require.NoError(t, s.Close())

	before, err := os.ReadFile(path)
	require.NoError(t, err)
	out, errOut, code := runBinary(t, bin, "", env, "users", "list")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "NAME   CREATED               LAST LOGIN            DISABLED\n"+
		"alice  2026-01-02T03:04:05Z  2026-01-02T04:04:05Z  no\n"+
		"bob    2026-01-02T03:04:05Z  -                     no\n"+
		"carol  2026-01-02T03:04:05Z  -                     no\n", out)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "users list changes nothing in the store")

	out, errOut, code = runBinary(t, bin, "", env, "users", "disable", "ALICE")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "disabled alice")
	out, _, code = runBinary(t, bin, "", env, "users", "list")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "alice  2026-01-02T03:04:05Z  2026-01-02T04:04:05Z  yes\n")

	// set-password reads standard input; the policy applies before anything changes.
	_, errOut, code = runBinary(t, bin, "short\n", env, "users", "set-password", "bob")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "password must be 8 to 1024 characters")
	_, errOut, code = runBinary(t, bin, "", env, "users", "set-password", "bob")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no password on standard input")
	_, _, code = runBinary(t, bin, "", env, "users", "set-password", "bob", "the new long password")
	assert.Equal(t, 2, code, "never from argv")
	out, errOut, code = runBinary(t, bin, "the new long password\r\n", env, "users", "set-password", "bob")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "set the password of bob and revoked 1 sessions\n", out)
	assert.NotContains(t, out+errOut, "the new long password")

	out, errOut, code = runBinary(t, bin, "", env, "users", "delete", "carol")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "deleted carol and its sessions; the name stays reserved\n", out)
	_, errOut, code = runBinary(t, bin, "", env, "users", "delete", "carol")
	assert.Equal(t, 1, code, "a repeated delete")
	assert.Contains(t, errOut, `no user "carol" in sqlite:`+path)
	for _, verb := range []string{"disable", "enable", "delete", "revoke-sessions"} {
		_, errOut, code = runBinary(t, bin, "", env, "users", verb, "nobody")
		assert.Equal(t, 1, code, verb)
		assert.Contains(t, errOut, `no user "nobody" in sqlite:`+path, verb)
	}
	_, errOut, code = runBinary(t, bin, "a good long password\n", env, "users", "set-password", "nobody")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `no user "nobody"`)

	out, errOut, code = runBinary(t, bin, "", env, "users", "enable", "alice")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "enabled alice\n", out)

	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	next := func(u string) account.RefreshToken {
		return account.RefreshToken{Hash: hash(u + "-next"), IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	}
	_, err = s.RotateRefreshToken(ctx, hash("alice"), next("alice"), time.Now())
	assert.ErrorIs(t, err, account.ErrRefreshReused, "disable ended alice's session")
	_, err = s.RotateRefreshToken(ctx, hash("bob"), next("bob"), time.Now())
	assert.ErrorIs(t, err, account.ErrRefreshReused, "set-password ended bob's session")
	_, err = s.RefreshTokenByHash(ctx, hash("carol"))
	assert.ErrorIs(t, err, account.ErrRefreshNotFound, "delete removed carol's session")
	u, err := s.UserByName(ctx, "bob")
	require.NoError(t, err)
	ok, _, err := credential.VerifyPassword(u.PasswordHash, "the new long password", credential.DefaultArgon2Params)
	require.NoError(t, err)
	assert.True(t, ok, "bob's new password")
	assert.False(t, u.Disabled)
	u, err = s.UserByName(ctx, "alice")
	require.NoError(t, err)
	assert.False(t, u.Disabled, "enabled again")
	require.ErrorIs(t, s.CreateUser(ctx, account.User{Username: "carol", PasswordHash: "h", CreatedAt: created}), account.ErrUserExists)

	for _, args := range [][]string{
		{"users", "list", "alice"}, {"users", "disable"}, {"users", "delete", "a", "b"},
		{"users", "enable", "not a name"}, {"users", "disable", "--store", "memory:", "alice"},
	} {
		_, _, code := runBinary(t, bin, "", env, args...)
		assert.Equal(t, 2, code, args)
	}
}

// TestUsersVerbsPostgresEndToEnd: the verbs on a PostgreSQL store; list
// reads an unmigrated schema as no store and creates nothing.
func TestUsersVerbsPostgresEndToEnd(t *testing.T) {
	dsn := postgresSchemaDSN(t)
	bin := buildBinary(t)
	_, errOut, code := runBinary(t, bin, "", nil, "users", "list", "--store", dsn)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no store at")

	ctx := context.Background()
	s, err := openStore(ctx, storeConfig{Kind: storePostgres, Path: dsn})
	require.NoError(t, err)
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: "h", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}))
	require.NoError(t, s.Close())

	out, errOut, code := runBinary(t, bin, "", []string{"JWTAUTH_STORE=" + dsn}, "users", "disable", "alice")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "disabled alice")
	out, errOut, code = runBinary(t, bin, "", []string{"JWTAUTH_STORE=" + dsn}, "users", "list")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "NAME   CREATED               LAST LOGIN  DISABLED\nalice  2026-01-02T03:04:05Z  -           yes\n", out)
	out, errOut, code = runBinary(t, bin, "", []string{"JWTAUTH_STORE=" + dsn}, "users", "delete", "alice")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "deleted alice")
	_, errOut, code = runBinary(t, bin, "", []string{"JWTAUTH_STORE=" + dsn}, "users", "enable", "alice")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `no user "alice"`)
}
