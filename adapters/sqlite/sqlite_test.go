package sqlite_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/dpop/dpoptest"
	"github.com/jwtauth/jwtauth/jwtauth/storetest"
	"github.com/jwtauth/jwtauth/keys"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) account.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "jwtauth.db"))
		require.NoError(t, err)
		return s
	})
}

// TestConformanceShared runs the suite's races over two stores opened on one
// file, as a server and the CLI (or two processes) have.
func TestConformanceShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (account.Store, account.Store) {
		path := filepath.Join(t.TempDir(), "jwtauth.db")
		return open(t, path), open(t, path)
	})
}

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

var t0 = time.Date(2025, time.March, 14, 15, 9, 26, 535897932, time.UTC)

func TestReopenKeepsEverything(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	s := open(t, path)
	u := account.User{Username: "alice", PasswordHash: "$2b$12$abc", CreatedAt: t0}
	require.NoError(t, s.CreateUser(ctx, u))
	require.NoError(t, s.CreateRefreshToken(ctx, account.RefreshToken{Hash: hashOf("t1"), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	m1, err := keys.Open(ctx, keys.Config{Store: s, Generate: storetest.Generator(t), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	recs1, v1, err := s.LoadKeys(ctx)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// The restarted server: same file, new Store, a generator that must not run.
	s = open(t, path)
	got, err := s.UserByName(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, u, got)
	recs2, v2, err := s.LoadKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, v1, v2)
	assert.Equal(t, recs1, recs2)
	m2, err := keys.Open(ctx, keys.Config{Store: s, Logger: slog.New(slog.DiscardHandler),
		Generate: func(int) (*rsa.PrivateKey, error) { return nil, errors.New("restart generated a key") }})
	require.NoError(t, err)
	assert.Equal(t, m1.Current().Active().KID, m2.Current().Active().KID)
	assert.Equal(t, m1.Current().Next().KID, m2.Current().Next().KID)
	old, err := s.RotateRefreshToken(ctx, hashOf("t1"), account.RefreshToken{Hash: hashOf("t2"), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, "fam-1", old.FamilyID)
	assert.Equal(t, t0.Add(time.Hour), old.ExpiresAt)
	assert.Equal(t, sqlite.SchemaVersion(), userVersion(t, path))
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var v int
	require.NoError(t, db.QueryRow("PRAGMA user_version").Scan(&v))
	return v
}

func TestNewerSchemaFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	s := open(t, path)
	require.NoError(t, s.Close())

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	newer := sqlite.SchemaVersion() + 1
	_, err = db.Exec(fmt.Sprintf("PRAGMA user_version = %d", newer))
	require.NoError(t, err)
	require.NoError(t, db.Close())

	_, err = sqlite.Open(t.Context(), path)
	require.ErrorIs(t, err, sqlite.ErrSchemaTooNew)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), fmt.Sprintf("schema version %d", newer))
	assert.Contains(t, err.Error(), "upgrade")
	assert.Equal(t, newer, userVersion(t, path), "the database was changed")
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	content := bytes.Repeat([]byte("this is a text file, not a database\n"), 200)
	require.NoError(t, os.WriteFile(path, content, 0o600))

	_, err := sqlite.Open(t.Context(), path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a SQLite database")
	assert.Contains(t, err.Error(), path)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, content, after, "the file was changed")
}

func TestOpenRejectsNonFileNames(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", "x.db?_txlock=deferred"} {
		_, err := sqlite.Open(t.Context(), path)
		assert.Error(t, err, "%q", path)
	}
}

// TestTwoStoresOneFile runs writers on two Stores over one file, as two
// processes would: their in-process write queues are separate, so only
// SQLite's lock keeps them apart.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	stores := []*sqlite.Store{open(t, path), open(t, path)}

	t.Run("ApplyKeys", func(t *testing.T) {
		const n = 20
		start := make(chan struct{})
		errs := make([]error, n)
		versions := make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				versions[i], errs[i] = stores[i%2].ApplyKeys(ctx, 0, keys.Change{Put: []keys.Record{{
					KID: fmt.Sprintf("kid-%02d", i), State: keys.StateNext, Bits: 2048, PrivateKey: []byte{0x30, byte(i)}, CreatedAt: t0,
				}}})
			})
		}
		close(start)
		wg.Wait()
		wins, won := 0, int64(0)
		for i, err := range errs {
			if err == nil {
				wins, won = wins+1, versions[i]
			} else {
				assert.ErrorIs(t, err, keys.ErrConflict)
			}
		}
		assert.Equal(t, 1, wins)
		for _, s := range stores {
			recs, v, err := s.LoadKeys(ctx)
			require.NoError(t, err)
			assert.Equal(t, won, v)
			assert.Len(t, recs, 1)
		}
	})

	t.Run("RotateRefreshToken", func(t *testing.T) {
		require.NoError(t, stores[0].CreateUser(ctx, account.User{Username: "alice", PasswordHash: "h", CreatedAt: t0}))
		require.NoError(t, stores[1].CreateRefreshToken(ctx, account.RefreshToken{Hash: hashOf("t1"), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
		const n = 50
		start := make(chan struct{})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = stores[i%2].RotateRefreshToken(ctx, hashOf("t1"),
					account.RefreshToken{Hash: hashOf(fmt.Sprintf("t2-%d", i)), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0)
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else {
				assert.ErrorIs(t, err, account.ErrRefreshReused)
			}
		}
		assert.Equal(t, 1, wins)
	})
}

// childEnv names the database a re-executed test binary works on in
// TestProcesses.
const childEnv = "JWTAUTH_SQLITE_TEST_CHILD"

// TestProcesses runs writers in separate OS processes (this test binary,
// re-executed), the situation of `jwtauth keys rotate` next to a server:
// every process bumps the key set a number of times with read-then-
// ApplyKeys, retrying on conflict, and races once for one refresh token. No
// update may be lost and exactly one rotation may win.
func TestProcesses(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		child(t, path)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	s := open(t, path)
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: "h", CreatedAt: t0}))
	require.NoError(t, s.CreateRefreshToken(ctx, account.RefreshToken{Hash: hashOf("t1"), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}))

	const procs = 4
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestProcesses$", "-test.v")
			cmd.Env = append(os.Environ(), childEnv+"="+path, "JWTAUTH_SQLITE_TEST_ID="+strconv.Itoa(i))
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	wins := 0
	for i := range procs {
		require.NoError(t, errs[i], "child %d:\n%s", i, outs[i])
		if strings.Contains(string(outs[i]), "ROTATE=won") {
			wins++
		} else {
			assert.Contains(t, string(outs[i]), "ROTATE=reused", "child %d", i)
		}
	}
	assert.Equal(t, 1, wins, "processes that rotated the one refresh token")
	recs, _, err := s.LoadKeys(ctx)
	require.NoError(t, err)
	assert.Len(t, recs, procs*childBumps, "lost key-set updates")
}

// childBumps is how many key-set changes each child process commits.
const childBumps = 10

func child(t *testing.T, path string) {
	ctx := context.Background()
	id := os.Getenv("JWTAUTH_SQLITE_TEST_ID")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()

	_, err = s.RotateRefreshToken(ctx, hashOf("t1"), account.RefreshToken{Hash: hashOf("t2-" + id), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0)
	switch {
	case err == nil:
		fmt.Println("ROTATE=won")
	case errors.Is(err, account.ErrRefreshReused):
		fmt.Println("ROTATE=reused")
	default:
		require.NoError(t, err)
	}

	for i := 0; i < childBumps; {
		v, err := s.KeysVersion(ctx)
		require.NoError(t, err)
		_, err = s.ApplyKeys(ctx, v, keys.Change{Put: []keys.Record{{KID: fmt.Sprintf("kid-%s-%d", id, i), State: keys.StateNext, Bits: 2048, PrivateKey: []byte{0x30}, CreatedAt: t0}}})
		if errors.Is(err, keys.ErrConflict) {
			continue
		}
		require.NoError(t, err)
		i++
	}
}

// TestMigrationRefreshFamilies upgrades a schema-1 database holding a
// family that a logout racing a refresh left half revoked (a revoked used
// token, a live successor) and a token valid for longer than the family
// lifetime: the migration revokes the family whole and caps the token at
// 90 days after its family's first token.
func TestMigrationRefreshFamilies(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	schema1, err := os.ReadFile(filepath.Join("migrations", "0001_init.sql"))
	require.NoError(t, err)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(string(schema1))
	require.NoError(t, err)
	ns := func(tm time.Time) int64 { return tm.UnixNano() }
	const day = 24 * time.Hour
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (username, password_hash, created_at) VALUES ('alice', 'h', ?)`, []any{ns(t0)}},
		{`INSERT INTO refresh_tokens (hash, family_id, username, issued_at, expires_at, used_at, revoked_at) VALUES (?, 'fam-leak', 'alice', ?, ?, ?, ?)`,
			[]any{hashOf("r1"), ns(t0), ns(t0.Add(30 * day)), ns(t0.Add(time.Hour)), ns(t0.Add(time.Hour))}},
		{`INSERT INTO refresh_tokens (hash, family_id, parent_hash, username, issued_at, expires_at) VALUES (?, 'fam-leak', ?, 'alice', ?, ?)`,
			[]any{hashOf("s1"), hashOf("r1"), ns(t0.Add(time.Hour)), ns(t0.Add(30*day + time.Hour))}},
		{`INSERT INTO refresh_tokens (hash, family_id, username, issued_at, expires_at) VALUES (?, 'fam-long', 'alice', ?, ?)`,
			[]any{hashOf("l1"), ns(t0), ns(t0.Add(100 * day))}},
		{`PRAGMA user_version = 1`, nil},
	} {
		_, err := db.Exec(q.sql, q.args...)
		require.NoError(t, err, q.sql)
	}
	require.NoError(t, db.Close())

	s := open(t, path)
	assert.Equal(t, sqlite.SchemaVersion(), userVersion(t, path))
	next := func(tok string, at time.Time) account.RefreshToken {
		return account.RefreshToken{Hash: hashOf(tok), IssuedAt: at, ExpiresAt: at.Add(30 * day)}
	}
	_, err = s.RotateRefreshToken(ctx, hashOf("s1"), next("s2", t0.Add(2*time.Hour)), t0.Add(2*time.Hour))
	require.ErrorIs(t, err, account.ErrRefreshReused, "the successor the race leaked")
	end := t0.Add(90 * day)
	_, err = s.RotateRefreshToken(ctx, hashOf("l1"), next("l2", end), end)
	require.ErrorIs(t, err, account.ErrRefreshExpired, "a token past its family's 90 days")
	old, err := s.RotateRefreshToken(ctx, hashOf("l1"), next("l2", end.Add(-1)), end.Add(-1))
	require.NoError(t, err)
	assert.Equal(t, end, old.ExpiresAt)
	assert.Equal(t, end, old.FamilyExpiresAt)
}

// TestStoreFilesAreOwnerOnly: the database, -wal and -shm hold private keys
// and password hashes; they are created 0600 whatever the umask allows.
func TestStoreFilesAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	s := open(t, path)
	_, err := keys.Open(t.Context(), keys.Config{Store: s, Generate: storetest.Generator(t), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), name)
	}
}

// TestSealingLeavesNoClearKeyInTheFiles: keys stored in clear, then a
// key-encryption key is set and they are resealed; the database file and
// its WAL must no longer hold the clear PKCS #8 DER of any key.
func TestSealingLeavesNoClearKeyInTheFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	s := open(t, path)
	ctx := t.Context()
	cfg := keys.Config{Store: s, Generate: storetest.Generator(t), Logger: slog.New(slog.DiscardHandler)}
	plain, err := keys.Open(ctx, cfg)
	require.NoError(t, err)
	var ders [][]byte
	for _, k := range plain.Current().Keys() {
		der, err := x509.MarshalPKCS8PrivateKey(k.Private)
		require.NoError(t, err)
		ders = append(ders, der)
	}
	require.Len(t, ders, 2)
	contains := func(der []byte) string {
		for _, name := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(name)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			require.NoError(t, err)
			if bytes.Contains(b, der) {
				return name
			}
		}
		return ""
	}
	require.NotEmpty(t, contains(ders[0]), "the test looks for the wrong bytes")

	cfg.KeyEncryptionKey = bytes.Repeat([]byte{6}, 32)
	sealed, err := keys.Open(ctx, cfg)
	require.NoError(t, err)
	recs, _, err := s.LoadKeys(ctx)
	require.NoError(t, err)
	for _, r := range recs {
		require.True(t, r.IsSealed(), r.KID)
	}
	for i, der := range ders {
		assert.Empty(t, contains(der), "clear key %d still readable in the store's files", i)
	}
	// The server keeps working on the scrubbed file.
	_, err = sealed.Rotate(ctx, true)
	require.NoError(t, err)
}

// TestOpenReadOnlyCreatesNothing: what `jwtauth keys list` opens. A missing
// file is not created, an empty one stays empty (it used to become a 40 KiB
// database), and a jwtauth database is read and never written.
func TestOpenReadOnlyCreatesNothing(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	_, err := sqlite.OpenReadOnly(ctx, filepath.Join(dir, "missing.db"))
	require.ErrorIs(t, err, os.ErrNotExist)
	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	_, err = sqlite.OpenReadOnly(ctx, empty)
	require.ErrorIs(t, err, sqlite.ErrNoSchema)
	fi, err := os.Stat(empty)
	require.NoError(t, err)
	assert.Zero(t, fi.Size())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "files were created")

	path := filepath.Join(dir, "jwtauth.db")
	rw := open(t, path)
	v, err := rw.ApplyKeys(ctx, 0, keys.Change{Put: []keys.Record{{KID: "kid-a", State: keys.StateActive, Bits: 2048, PrivateKey: []byte{0x30}}}})
	require.NoError(t, err)
	ro, err := sqlite.OpenReadOnly(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ro.Close() })
	recs, got, err := ro.LoadKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, v, got)
	assert.Len(t, recs, 1)
	_, err = ro.ApplyKeys(ctx, v, keys.Change{})
	require.ErrorIs(t, err, account.ErrStoreUnavailable, "a read-only store wrote")
}

// TestSharedThrottle runs three Accounts on three handles of one file, as
// three processes have: the login budgets hold for all of them together.
func TestSharedThrottle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	storetest.SharedThrottle(t, []account.Store{open(t, path), open(t, path), open(t, path)})
}

// TestMigrationScheduleRetain upgrades a schema-4 database whose servers
// stored their schedule before retention was part of it: the schedule
// reads back with Retain zero (unknown), and a server then stores it whole.
func TestMigrationScheduleRetain(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	for _, f := range []string{"0001_init.sql", "0002_refresh_families.sql", "0003_schedule.sql", "0004_throttle.sql"} {
		b, err := os.ReadFile(filepath.Join("migrations", f))
		require.NoError(t, err)
		_, err = db.Exec(string(b))
		require.NoError(t, err, f)
	}
	_, err = db.Exec(`UPDATE key_set_version SET rotate_every = ?, prepublish = ? WHERE id = 1`, int64(24*time.Hour), int64(5*time.Second))
	require.NoError(t, err)
	_, err = db.Exec(`PRAGMA user_version = 4`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s := open(t, path)
	assert.Equal(t, sqlite.SchemaVersion(), userVersion(t, path))
	got, err := s.LoadSchedule(ctx)
	require.NoError(t, err)
	assert.Equal(t, keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 5 * time.Second}, got)
	want := keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 5 * time.Second, Retain: 2*time.Minute + 30*time.Second}
	require.NoError(t, s.SaveSchedule(ctx, want))
	got, err = s.LoadSchedule(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestReplayCacheConformance(t *testing.T) {
	dpoptest.RunReplayCache(t, func(t *testing.T) dpop.ReplayCache {
		return open(t, filepath.Join(t.TempDir(), "jwtauth.db"))
	})
}

// TestReplayCacheShared records a proof's key through one handle of the
// file and replays it through another, as two processes would.
func TestReplayCacheShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	a, b := open(t, path), open(t, path)
	k := dpoptest.Key("proof")
	seen, err := a.Seen(t.Context(), k, t0.Add(time.Minute), t0)
	require.NoError(t, err)
	require.False(t, seen)
	seen, err = b.Seen(t.Context(), k, t0.Add(time.Minute), t0.Add(time.Second))
	require.NoError(t, err)
	assert.True(t, seen, "a proof recorded through one handle is seen through another")
}

// TestReplayCacheBounded floods the cache with proofs whose records expire
// and checks that the table never holds more than the live records and the
// rows of one sweep period.
func TestReplayCacheBounded(t *testing.T) {
	defer sqlite.SetReplaySweepEvery(50)()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "jwtauth.db")
	s := open(t, path)
	rows := func() int {
		db, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		defer db.Close()
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM dpop_proofs`).Scan(&n))
		return n
	}
	// 20 proofs a second, each remembered 2 s: at most 40 live records.
	maxRows := 0
	for i := range 400 {
		now := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		seen, err := s.Seen(ctx, dpoptest.Key(strconv.Itoa(i)), now.Add(2*time.Second), now)
		require.NoError(t, err)
		require.False(t, seen)
		if i%10 == 9 {
			maxRows = max(maxRows, rows())
		}
	}
	assert.LessOrEqual(t, maxRows, 41+50, "rows: the live records and at most one sweep period")
	assert.Greater(t, maxRows, 41, "the flood never outgrew the live records: the test checks nothing")
}
