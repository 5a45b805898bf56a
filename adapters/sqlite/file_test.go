package sqlite_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/keys"
)

// TestDatabaseFileChanged: once the file at the store's path is not the
// database the store has open (deleted with its -wal and -shm, replaced by
// another database, overwritten with garbage, made immutable), Ping and
// every write fail with account.ErrStoreUnavailable naming the path and
// the cause, instead of answering from, and writing into, a file that the
// next start will not find.
func TestDatabaseFileChanged(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, path string)
		want   string
	}{{
		name: "deleted",
		change: func(t *testing.T, path string) {
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				require.NoError(t, os.Remove(p))
			}
		},
		want: "is gone",
	}, {
		name: "replaced by another database",
		change: func(t *testing.T, path string) {
			other := filepath.Join(filepath.Dir(path), "other.db")
			s, err := sqlite.Open(t.Context(), other)
			require.NoError(t, err)
			require.NoError(t, s.CreateUser(t.Context(), account.User{Username: "mallory", PasswordHash: "h", CreatedAt: t0}))
			require.NoError(t, s.Close())
			require.NoError(t, os.Rename(other, path))
		},
		want: "was replaced",
	}, {
		name: "overwritten with garbage",
		change: func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte("garbage!"), 4096), 0o600))
		},
		want: "no longer a SQLite database",
	}, {
		name: "made immutable",
		change: func(t *testing.T, path string) {
			if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
				t.Skipf("chattr +i is not permitted here: %v %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("chattr", "-i", path).Run() })
		},
		want: "may not be written",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "jwtauth.db")
			s := open(t, path)
			require.NoError(t, s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: "h", CreatedAt: t0}))
			fam := account.RefreshToken{Hash: hashOf("t1"), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
			require.NoError(t, s.CreateRefreshToken(ctx, fam))
			require.NoError(t, s.Ping(ctx))

			tc.change(t, path)

			_, version, _ := s.LoadKeys(ctx)
			calls := map[string]error{
				"ping":        s.Ping(ctx),
				"create user": s.CreateUser(ctx, account.User{Username: "bob", PasswordHash: "h", CreatedAt: t0}),
				"rehash":      s.UpdatePasswordHash(ctx, "alice", "h2"),
				"create refresh token": s.CreateRefreshToken(ctx, account.RefreshToken{Hash: hashOf("t2"), FamilyID: "fam-2",
					Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}),
			}
			_, calls["rotate"] = s.RotateRefreshToken(ctx, hashOf("t1"), account.RefreshToken{Hash: hashOf("t1-next"), IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0)
			_, calls["revoke"] = s.RevokeRefreshFamily(ctx, hashOf("t1"), t0)
			_, calls["apply keys"] = s.ApplyKeys(ctx, version, keys.Change{Delete: []string{"none"}})
			_, calls["look up user"] = s.UserByName(ctx, "alice")
			for name, err := range calls {
				require.ErrorIs(t, err, account.ErrStoreUnavailable, name)
				assert.ErrorContains(t, err, path, name)
				assert.ErrorContains(t, err, tc.want, name)
			}
		})
	}
}

// TestOpenReportsANewStore: Created is true when Open found no database at
// its path (no file, or an empty one) and made a new one, false when it
// opened one that exists; String names the store as `--store` does.
func TestOpenReportsANewStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jwtauth.db")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	assert.True(t, s.Created(), "no file at the path")
	assert.Equal(t, "sqlite:"+path, s.String())
	require.NoError(t, s.Close())

	s, err = sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	assert.False(t, s.Created(), "the store it created before")
	require.NoError(t, s.Close())

	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	s, err = sqlite.Open(t.Context(), empty)
	require.NoError(t, err)
	assert.True(t, s.Created(), "an empty file holds no store")
	require.NoError(t, s.Close())

	ro, err := sqlite.OpenReadOnly(t.Context(), path)
	require.NoError(t, err)
	assert.False(t, ro.Created())
	require.NoError(t, ro.Close())
}
