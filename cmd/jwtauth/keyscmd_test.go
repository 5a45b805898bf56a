package main

import (
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const keysHeader = "KID STATE BITS CREATED PUBLISHED ACTIVATED RETIRED REMOVE-AT REVOKED"

// storedKeys reads the key records of the SQLite file at path, by state.
func storedKeys(t *testing.T, path string) map[keys.State][]keys.Record {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	defer s.Close()
	recs, _, err := s.LoadKeys(context.Background())
	require.NoError(t, err)
	out := map[keys.State][]keys.Record{}
	for _, r := range recs {
		out[r.State] = append(out[r.State], r)
	}
	return out
}

// seedKeySet creates the first key set in a SQLite store at path, as
// serve does on its first start.
func seedKeySet(t *testing.T, path string, kek []byte) {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	defer s.Close()
	_, err = keys.Open(context.Background(), keys.Config{Store: s, KeyEncryptionKey: kek, Generate: keystest.Generator(t),
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
}

// row is the line "keys list" must print for r, with runs of spaces
// collapsed to one.
func row(r keys.Record) string {
	return strings.Join([]string{r.KID, string(r.State), "2048", stamp(r.CreatedAt), stamp(r.PublishedAt),
		stamp(r.ActivatedAt), stamp(r.RetiredAt), stamp(r.RemoveAt), stamp(r.RevokedAt)}, " ")
}

// lines splits a table into lines with runs of spaces collapsed.
func lines(out string) []string {
	var ls []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		ls = append(ls, strings.Join(strings.Fields(l), " "))
	}
	return ls
}

func TestKeysCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	env := map[string]string{"JWTAUTH_STORE": "sqlite:" + path, "JWTAUTH_KEY_BITS": "2048"}

	// A mistyped store is an error, and no file appears: the keys verbs
	// never create a key set of their own.
	for _, verb := range [][]string{{"keys", "list"}, {"keys", "rotate", "--now"}, {"keys", "revoke", "x"}} {
		_, errOut, code := runCLI(t, env, "", verb...)
		assert.Equal(t, 1, code, verb)
		assert.Contains(t, errOut, "no store at sqlite:"+path)
		_, err := os.Stat(path)
		assert.ErrorIs(t, err, os.ErrNotExist)
	}
	// A store without a key set (created by something else) is refused too.
	s, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, errOut, code := runCLI(t, env, "", "keys", "rotate", "--now")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "holds no key set")
	assert.Empty(t, storedKeys(t, path))

	// The server creates the key set (as serve does on first start).
	seedKeySet(t, path, nil)

	// rotate without --now on a fresh set: the next key was just published,
	// the request is recorded, which is a success.
	out, errOut, code := runCLI(t, env, "", "keys", "rotate")
	require.Equal(t, 0, code, errOut)
	st := storedKeys(t, path)
	require.Len(t, st[keys.StateActive], 1)
	require.Len(t, st[keys.StateNext], 1)
	active, next := st[keys.StateActive][0], st[keys.StateNext][0]
	require.False(t, next.ActivatedAt.IsZero(), "the request is stored")
	assert.Equal(t, "next: "+next.KID+"\npromotion scheduled: "+stamp(next.ActivatedAt), strings.SplitN(out, " (in ", 2)[0])
	assert.Contains(t, out, "when it has been published for the servers' --prepublish 1h0m0s")
	assert.Contains(t, errOut, `msg="key promotion scheduled" kid=`+next.KID+" state=next promote_at="+stamp(next.ActivatedAt))
	assert.NotContains(t, errOut, "to=next")

	out, errOut, code = runCLI(t, env, "", "keys", "list")
	require.Equal(t, 0, code, errOut)
	dueNext := strings.Replace(row(next), " "+stamp(next.ActivatedAt)+" ", " due "+stamp(next.ActivatedAt)+" ", 1)
	assert.Equal(t, []string{keysHeader, row(active), dueNext}, lines(out))
	assert.NotContains(t, out, "PRIVATE")

	// rotate --now promotes the next key and publishes a new one.
	out, errOut, code = runCLI(t, env, "", "keys", "rotate", "--now")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "warning: forced rotation: verifiers whose cached JWKS predates the new key may meet an unknown kid")
	st = storedKeys(t, path)
	require.Len(t, st[keys.StateNext], 1)
	newNext := st[keys.StateNext][0]
	assert.Equal(t, "active: "+next.KID+"\nretired: "+active.KID+"\nnext: "+newNext.KID+"\n", out)
	require.Len(t, st[keys.StateActive], 1)
	assert.Equal(t, next.KID, st[keys.StateActive][0].KID)
	require.Len(t, st[keys.StateRetired], 1)
	retired := st[keys.StateRetired][0]
	assert.Equal(t, active.KID, retired.KID)

	// revoke the active key: a fresh key, which no verifier has cached,
	// takes over at once; the pre-published next key stays next.
	out, errOut, code = runCLI(t, env, "", "keys", "revoke", next.KID)
	require.Equal(t, 0, code, errOut)
	st = storedKeys(t, path)
	require.Len(t, st[keys.StateRevoked], 1)
	revoked := st[keys.StateRevoked][0]
	assert.False(t, revoked.RevokedAt.IsZero())
	require.Len(t, st[keys.StateActive], 1)
	nowActive := st[keys.StateActive][0]
	require.Len(t, st[keys.StateNext], 1)
	lastNext := st[keys.StateNext][0]
	assert.Equal(t, newNext.KID, lastNext.KID, "the pre-published next key stays next")
	assert.NotContains(t, []string{active.KID, next.KID, newNext.KID}, nowActive.KID, "a key no verifier has cached signs")
	assert.Equal(t, revoked.RevokedAt, nowActive.PublishedAt)
	assert.Equal(t, "revoked: "+next.KID+"\nactive: "+nowActive.KID+" (fresh: no verifier has cached it, so verifiers that refetch the JWKS on an unknown kid reload it at its first token and drop the revoked key)\nnext: "+newNext.KID+"\n", out)
	assert.Contains(t, errOut, "note: verifiers that never refetch the JWKS on an unknown kid reject new tokens until their cached JWKS expires")

	out, errOut, code = runCLI(t, env, "", "keys", "list")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, []string{keysHeader, row(nowActive), row(lastNext), row(retired), row(revoked)}, lines(out))
	assert.NotEqual(t, "-", stamp(retired.RemoveAt))

	// Errors: unknown kid, already revoked.
	_, errOut, code = runCLI(t, env, "", "keys", "revoke", "no-such-kid")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `no key "no-such-kid" in the key set`)
	_, errOut, code = runCLI(t, env, "", "keys", "revoke", next.KID)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "already revoked")
}

func TestKeysEncryptedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.db")
	env := map[string]string{"JWTAUTH_STORE": "sqlite:" + path, "JWTAUTH_KEY_ENCRYPTION_KEY": kek32}
	kek, err := base64.StdEncoding.DecodeString(kek32)
	require.NoError(t, err)
	seedKeySet(t, path, kek)
	out, errOut, code := runCLI(t, env, "", "keys", "rotate", "--now")
	require.Equal(t, 0, code, errOut)
	assert.NotContains(t, errOut, "stored in clear")
	assert.Contains(t, out, "active: ")

	// With a wrong key-encryption key, or none, the sealed keys do not open;
	// the error says why and never echoes the key.
	wrong := base64.StdEncoding.EncodeToString(make([]byte, 32))
	_, errOut, code = runCLI(t, env, "", "keys", "rotate", "--now", "--key-encryption-key", wrong)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "key-encryption key")
	assert.NotContains(t, errOut, wrong)
	delete(env, "JWTAUTH_KEY_ENCRYPTION_KEY")
	_, errOut, code = runCLI(t, env, "", "keys", "rotate", "--now")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "key-encryption key")

	// list needs no key-encryption key: it reads no private key.
	out, errOut, code = runCLI(t, env, "", "keys", "list")
	require.Equal(t, 0, code, errOut)
	assert.Len(t, lines(out), 4) // header, active, next, retired
}

func TestKeysRefuseToSealAClearStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clear.db")
	seedKeySet(t, path, nil)
	before := storedKeys(t, path)
	env := map[string]string{"JWTAUTH_STORE": "sqlite:" + path, "JWTAUTH_KEY_ENCRYPTION_KEY": kek32}
	_, errOut, code := runCLI(t, env, "", "keys", "rotate", "--now")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "stored in clear, and the keys verbs do not change that")
	assert.NotContains(t, errOut, kek32)
	assert.Equal(t, before, storedKeys(t, path), "nothing changed")
}

// The keys verbs make the one change asked for. Before, they ran the
// schedule with their own --rotate-every first, so on a store whose active
// key was past it "keys rotate --now" rotated twice and "keys revoke" of the
// next key also rotated.
func TestKeysVerbsApplyNoScheduledTransition(t *testing.T) {
	seedStale := func(t *testing.T) (string, keys.Record, keys.Record) {
		path := filepath.Join(t.TempDir(), "stale.db")
		s, err := sqlite.Open(context.Background(), path)
		require.NoError(t, err)
		defer s.Close()
		twoDaysAgo := time.Now().Add(-48 * time.Hour)
		_, err = keys.Open(context.Background(), keys.Config{Store: s, Generate: keystest.Generator(t),
			Now: func() time.Time { return twoDaysAgo }, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		st := storedKeys(t, path)
		require.Len(t, st[keys.StateActive], 1)
		require.Len(t, st[keys.StateNext], 1)
		return path, st[keys.StateActive][0], st[keys.StateNext][0]
	}

	t.Run("rotate", func(t *testing.T) {
		path, active, next := seedStale(t)
		env := map[string]string{"JWTAUTH_STORE": "sqlite:" + path, "JWTAUTH_ROTATE_EVERY": "24h"}
		out, errOut, code := runCLI(t, env, "", "keys", "rotate", "--now")
		require.Equal(t, 0, code, errOut)
		assert.NotContains(t, errOut, "scheduled rotation")
		st := storedKeys(t, path)
		require.Len(t, st[keys.StateRetired], 1, "exactly one rotation")
		assert.Equal(t, active.KID, st[keys.StateRetired][0].KID)
		require.Len(t, st[keys.StateActive], 1)
		assert.Equal(t, next.KID, st[keys.StateActive][0].KID, "the published next key signs")
		require.Len(t, st[keys.StateNext], 1)
		assert.Equal(t, "active: "+next.KID+"\nretired: "+active.KID+"\nnext: "+st[keys.StateNext][0].KID+"\n", out)
	})

	t.Run("revoke", func(t *testing.T) {
		path, active, next := seedStale(t)
		env := map[string]string{"JWTAUTH_STORE": "sqlite:" + path, "JWTAUTH_ROTATE_EVERY": "24h"}
		out, errOut, code := runCLI(t, env, "", "keys", "revoke", next.KID)
		require.Equal(t, 0, code, errOut)
		st := storedKeys(t, path)
		assert.Empty(t, st[keys.StateRetired], "no rotation")
		require.Len(t, st[keys.StateActive], 1)
		assert.Equal(t, active.KID, st[keys.StateActive][0].KID)
		assert.Equal(t, "revoked: "+next.KID+"\nactive: "+active.KID+"\nnext: "+st[keys.StateNext][0].KID+"\n", out)
	})
}

// TestKeysRevokePromoteNext: --promote-next keeps the behaviour from before
// fresh keys: the pre-published next key signs, a new next key is
// published, and a warning says what that costs.
func TestKeysRevokePromoteNext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "promote.db")
	s, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	_, err = keys.Open(context.Background(), keys.Config{Store: s, Generate: keystest.Generator(t), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	st := storedKeys(t, path)
	active, next := st[keys.StateActive][0], st[keys.StateNext][0]

	out, errOut, code := runCLI(t, map[string]string{"JWTAUTH_STORE": "sqlite:" + path}, "", "keys", "revoke", "--promote-next", active.KID)
	require.Equal(t, 0, code, errOut)
	st = storedKeys(t, path)
	require.Len(t, st[keys.StateActive], 1)
	assert.Equal(t, next.KID, st[keys.StateActive][0].KID)
	require.Len(t, st[keys.StateNext], 1)
	assert.Equal(t, "revoked: "+active.KID+"\nactive: "+next.KID+" (the pre-published next key)\nnext: "+st[keys.StateNext][0].KID+"\n", out)
	assert.Contains(t, errOut, "warning: --promote-next: every verifier already has the new signing key")
}

// TestKeysListCreatesNothing: keys list on an empty file leaves it empty
// (it used to become a 40 KiB database), and on a store with the key set it
// writes nothing, not even a migration.
func TestKeysListCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	for _, verb := range [][]string{{"keys", "list"}, {"keys", "rotate"}, {"keys", "revoke", "x"}} {
		_, errOut, code := runCLI(t, map[string]string{"JWTAUTH_STORE": "sqlite:" + empty}, "", verb...)
		assert.Equal(t, 1, code, verb)
		assert.Contains(t, errOut, "no store at sqlite:"+empty, verb)
		fi, err := os.Stat(empty)
		require.NoError(t, err)
		assert.Zero(t, fi.Size(), "%v wrote to the file", verb)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Len(t, entries, 1, "%v created files", verb)
	}

	path := filepath.Join(dir, "keys.db")
	seedKeySet(t, path, nil)
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	_, errOut, code := runCLI(t, map[string]string{"JWTAUTH_STORE": "sqlite:" + path}, "", "keys", "list")
	require.Equal(t, 0, code, errOut)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "keys list changed the database")
}
