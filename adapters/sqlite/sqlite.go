// Package sqlite implements account.Store on an embedded SQLite database
// (modernc.org/sqlite, pure Go, no cgo): the default store of `jwtauth serve`.
//
// The database is one file in WAL mode, so readers never wait for the
// writer. Several processes may open the same file — `jwtauth keys rotate`
// runs while a server does: every write runs in a BEGIN IMMEDIATE
// transaction, which takes SQLite's write lock before it reads, so the
// version check of ApplyKeys and the used-check of RotateRefreshToken cannot
// race with another connection or process. A writer waits for the lock up
// to 5 s (busy_timeout) before failing with account.ErrStoreUnavailable.
//
// The schema is created and upgraded by embedded, numbered migrations
// tracked in PRAGMA user_version (see SchemaVersion). Times are stored as
// Unix nanoseconds and read back in UTC; the zero time is stored as NULL, so
// a time.Time round-trips exactly when it lies within the int64 nanosecond
// range (years 1678 to 2262).
//
// The store checks, before every call, that the file at its path is still
// the one it opened and a writable SQLite database: when the file was
// deleted, moved away or replaced while the store runs, or overwritten or
// made read-only, every call (Ping included) fails with an error wrapping
// account.ErrStoreUnavailable that names the path, instead of writing into
// a file nobody will open again.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/keys"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// BusyTimeout is how long a statement waits for a lock another connection or
// process holds before it fails with account.ErrStoreUnavailable.
const BusyTimeout = 5 * time.Second

// Store is an account.Store on one SQLite file. It is safe for concurrent use;
// in-process writers queue for one write slot, other processes are kept out
// by SQLite's file lock.
type Store struct {
	db     *sql.DB
	path   string
	closed atomic.Bool
	wsem   chan struct{} // one in-process writer at a time

	replayInserts atomic.Uint64 // Seen calls, for the sweeps of dpop_proofs

	// file is the database file, opened read-only by Open and closed after
	// db: checkFile compares it with the file at path and reads its header.
	// It stays open because closing any descriptor of a file drops the
	// process's POSIX locks on it, SQLite's included.
	file     *os.File
	ident    os.FileInfo // file's identity (device and inode)
	readOnly bool        // opened by OpenReadOnly: checkFile does not ask for write access
	created  bool        // Open found no database at path (see Created)
}

var (
	_ account.Store                  = (*Store)(nil)
	_ account.RefreshTokenGraceStore = (*Store)(nil)
	_ keys.ScheduleStore             = (*Store)(nil)
)

// Open opens (creating it if needed) the SQLite database at path, a file
// name, and migrates its schema to SchemaVersion(). A new file is created
// 0600 (its -wal and -shm follow), whatever the umask. It enables WAL mode,
// foreign keys, secure_delete (overwritten private keys are zeroed, not
// left in free pages) and a busy timeout of BusyTimeout. It fails with a clear
// error, leaving the file unchanged, when the file is not a SQLite database
// or its schema is newer than this binary (ErrSchemaTooNew).
func Open(ctx context.Context, path string) (*Store, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	created := errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0)
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	dsn := path + "?" + strings.Join([]string{
		fmt.Sprintf("_busy_timeout=%d", BusyTimeout.Milliseconds()),
		"_foreign_keys=1",
		"_journal_mode=WAL",
		// Deleted and overwritten content is zeroed, not left in free pages:
		// a private key resealed or removed leaves no clear copy behind.
		"_pragma=secure_delete(1)",
		"_txlock=immediate", // every read-write Tx takes the write lock up front
	}, "&")
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Writers are serialized by wsem; the others are readers, which WAL runs
	// in parallel.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	s := &Store{db: db, path: path, wsem: make(chan struct{}, 1), created: created}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.pin(); err != nil {
		db.Close()
		return nil, err
	}
	if err := privateCompanions(path); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Created reports whether Open found no database at its path, no file or
// an empty one, and made a new store there: expected on a first start,
// otherwise the previous store (its users, tokens and keys) was lost or
// the path is mistyped. jwtauth.New logs a warning through Config.Logger
// for a store that reports it; OpenReadOnly creates nothing (false).
func (s *Store) Created() bool { return s.created }

// String names the store as `jwtauth serve --store` does: "sqlite:" and
// the path.
func (s *Store) String() string { return "sqlite:" + s.path }

// pin opens the database file read-only and records its identity, for
// checkFile.
func (s *Store) pin() error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w: %w", s.path, account.ErrStoreUnavailable, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("sqlite: open %s: %w: %w", s.path, account.ErrStoreUnavailable, err)
	}
	s.file, s.ident = f, fi
	return nil
}

// sqliteHeader starts every SQLite database file (the file format, §1.3).
const sqliteHeader = "SQLite format 3\x00"

// checkFile reports, wrapping account.ErrStoreUnavailable and naming the
// path, when the file at the path is no longer the file the store has open
// (deleted, moved away, replaced), no longer starts with the SQLite header
// (overwritten) or may not be written. It costs a stat, a 16-byte read and
// an access check, next to a write's fsync nothing.
func (s *Store) checkFile() error {
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: the database file %s is gone (deleted or moved away while in use): "+
			"what is written now would be lost; put it back or restart", account.ErrStoreUnavailable, s.path)
	case err != nil:
		return fmt.Errorf("%w: the database file %s: %w", account.ErrStoreUnavailable, s.path, err)
	case !os.SameFile(fi, s.ident):
		return fmt.Errorf("%w: the database file %s was replaced by another file while in use; restart to open it",
			account.ErrStoreUnavailable, s.path)
	}
	var hdr [len(sqliteHeader)]byte
	if _, err := s.file.ReadAt(hdr[:], 0); err != nil || string(hdr[:]) != sqliteHeader {
		return fmt.Errorf("%w: the database file %s was overwritten: it is no longer a SQLite database",
			account.ErrStoreUnavailable, s.path)
	}
	if err := writable(s.path); err != nil && !s.readOnly {
		return fmt.Errorf("%w: the database file %s may not be written: %w", account.ErrStoreUnavailable, s.path, err)
	}
	return nil
}

func checkPath(path string) error {
	switch {
	case path == "":
		return errors.New("sqlite: open: empty path")
	case path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?'):
		return fmt.Errorf("sqlite: open %q: want a plain file name (no URI, query or :memory:; use the memory adapter for a throwaway store)", path)
	}
	return nil
}

// ErrNoSchema is returned by OpenReadOnly when the file holds no jwtauth
// schema (an empty or foreign database, or an older schema than this
// binary's): there is nothing to read, and a read-only open creates nothing.
var ErrNoSchema = errors.New("sqlite: no jwtauth schema in the database")

// OpenReadOnly opens the existing database at path read-only (SQLite's
// mode=ro): it creates no file, runs no migration and every write fails.
// It fails when path does not exist, with an error wrapping ErrNoSchema
// when the file does not hold jwtauth's schema at SchemaVersion(), and
// with ErrSchemaTooNew for a newer one. For tools that only read a store
// the servers own (jwtauth keys list).
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// A URI file name, so that SQLite applies mode=ro; '%' and '#' are
	// escaped ('?' is refused by checkPath).
	uri := "file:" + strings.NewReplacer("%", "%25", "#", "%23").Replace(path) + "?" + strings.Join([]string{
		"mode=ro",
		fmt.Sprintf("_busy_timeout=%d", BusyTimeout.Milliseconds()),
	}, "&")
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(2)
	s := &Store{db: db, path: path, wsem: make(chan struct{}, 1), readOnly: true}
	if err := s.pin(); err != nil {
		db.Close()
		return nil, err
	}
	v, err := userVersion(ctx, db)
	if err != nil {
		s.Close()
		return nil, s.openError(err)
	}
	if err := checkNotTooNew(v, len(migrations)); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if v < len(migrations) {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w (schema version %d, want %d; jwtauth serve creates or upgrades it)", path, ErrNoSchema, v, len(migrations))
	}
	return s, nil
}

// createPrivate creates the database file at path with mode 0600 when it
// does not exist, whatever the umask, so that the private keys it will hold
// are readable by the owner only (SQLite would create it 0644).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	return nil
}

// privateCompanions gives the -wal and -shm files of a database that only
// its owner may read the same restriction (0600): SQLite creates them with
// the database file's mode, minus the umask.
func privateCompanions(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		return nil //nolint:nilerr // an operator's wider mode is theirs to choose
	}
	for _, name := range []string{path + "-wal", path + "-shm"} {
		if ci, err := os.Stat(name); err == nil && ci.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(name, 0o600); err != nil {
				return fmt.Errorf("sqlite: open %s: restrict %s: %w", path, name, err)
			}
		}
	}
	return nil
}

func (s *Store) init(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.openError(err)
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return s.openError(err)
	}
	if err := migrate(ctx, s.db, migrations); err != nil {
		if errors.Is(err, ErrSchemaTooNew) {
			return fmt.Errorf("sqlite: open %s: %w", s.path, err)
		}
		return s.openError(err)
	}
	return nil
}

func (s *Store) openError(err error) error {
	var se *msqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_NOTADB {
		return fmt.Errorf("sqlite: open %s: the file is not a SQLite database: %w", s.path, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	return fmt.Errorf("sqlite: open %s: %w: %w", s.path, account.ErrStoreUnavailable, err)
}

// Close closes the database, waiting for statements in progress. Later calls
// of every method, Close excepted, return an error wrapping
// account.ErrStoreUnavailable. A second Close returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.db.Close()
	s.file.Close() // after db: see Store.file
	if err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

// Ping reads the key-set version row: nil when the database answers, an
// error wrapping account.ErrStoreUnavailable when it is closed, locked past
// BusyTimeout or unreadable, or its file was deleted, replaced, overwritten
// or made read-only (see the package documentation).
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.KeysVersion(ctx)
	if err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// errClosed is the cause of every error of a closed store.
var errClosed = errors.New("store closed")

// check fails fast for a done ctx, a closed store or a database file that
// is not the one open or unusable (checkFile).
func (s *Store) check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("sqlite: %s: %w: %w", op, account.ErrStoreUnavailable, errClosed)
	}
	if err := s.checkFile(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return nil
}

// fail wraps err from operation op: context errors as they are, errors of a
// closed, locked or unreadable database with account.ErrStoreUnavailable.
// Errors that already carry a prefix of this package are returned unchanged.
func (s *Store) fail(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, account.ErrStoreUnavailable):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("sqlite: %s: %w", op, err)
	case s.closed.Load(), errors.Is(err, sql.ErrConnDone), unavailable(err):
		return fmt.Errorf("sqlite: %s: %w: %w", op, account.ErrStoreUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// unavailable reports SQLite result codes that mean the database cannot be
// used right now (rather than that the request was wrong).
func unavailable(err error) bool {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB,
		sqlite3.SQLITE_CORRUPT:
		return true
	}
	return false
}

// constraint reports whether err is the SQLite constraint violation code
// (an extended code such as SQLITE_CONSTRAINT_UNIQUE).
func constraint(err error, code int) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

// write runs fn in a BEGIN IMMEDIATE transaction, holding the in-process
// write slot: it commits when fn returns nil and rolls back otherwise.
// Errors are wrapped with op.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if err := s.check(ctx, op); err != nil {
		return err
	}
	select {
	case s.wsem <- struct{}{}:
	case <-ctx.Done():
		return s.fail(op, ctx.Err())
	}
	defer func() { <-s.wsem }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return s.fail(op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// Time encoding: Unix nanoseconds, NULL for the zero time.

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// errTimeRange is returned for a non-zero time outside the int64 nanosecond range.
var errTimeRange = errors.New("time outside the storable range (years 1678 to 2262)")

func encTime(t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("%w: %s", errTimeRange, t.UTC().Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

// encTimes encodes ts in order, stopping at the first error.
func encTimes(ts ...time.Time) ([]any, error) {
	out := make([]any, len(ts))
	for i, t := range ts {
		v, err := encTime(t)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func decTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// Users.

// CreateUser inserts u. It returns an error wrapping account.ErrUserExists,
// changing nothing, when the username is taken (the UNIQUE constraint on
// users.username decides, so concurrent registrations cannot both succeed).
func (s *Store) CreateUser(ctx context.Context, u account.User) error {
	op := fmt.Sprintf("create user %q", u.Username)
	created, err := encTime(u.CreatedAt)
	if err != nil {
		return fmt.Errorf("sqlite: %s: created at: %w", op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		var gone bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM deleted_users WHERE username = ?)`, u.Username).Scan(&gone); err != nil {
			return err
		}
		if gone { // a tombstone: the name stays reserved
			return account.ErrUserExists
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)`,
			u.Username, u.PasswordHash, created)
		if constraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
			return account.ErrUserExists
		}
		return err
	})
}

// UserByName returns the user or an error wrapping account.ErrUserNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (account.User, error) {
	op := fmt.Sprintf("get user %q", username)
	if err := s.check(ctx, op); err != nil {
		return account.User{}, err
	}
	u := account.User{Username: username}
	var created, lastLogin sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT password_hash, created_at, disabled, last_login_at FROM users WHERE username = ?`, username).
		Scan(&u.PasswordHash, &created, &u.Disabled, &lastLogin)
	if errors.Is(err, sql.ErrNoRows) {
		return account.User{}, s.fail(op, account.ErrUserNotFound)
	}
	if err != nil {
		return account.User{}, s.fail(op, err)
	}
	u.CreatedAt, u.LastLoginAt = decTime(created), decTime(lastLogin)
	return u, nil
}

// UpdatePasswordHash replaces the user's password hash; it returns an error
// wrapping account.ErrUserNotFound for an unknown username.
func (s *Store) UpdatePasswordHash(ctx context.Context, username, hash string) error {
	return s.write(ctx, fmt.Sprintf("update password hash of %q", username), func(tx *sql.Tx) error {
		return userRow(tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE username = ?`, hash, username))
	})
}

// Keys.

const keyColumns = `kid, state, bits, private_key, created_at, published_at, activated_at, retired_at, remove_at, revoked_at`

// LoadKeys returns every key record, ordered by kid, and the key-set version
// they belong to, read in one statement (one snapshot).
func (s *Store) LoadKeys(ctx context.Context) ([]keys.Record, int64, error) {
	const op = "load keys"
	if err := s.check(ctx, op); err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT v.version, k.kid, k.state, k.bits, k.private_key,
		k.created_at, k.published_at, k.activated_at, k.retired_at, k.remove_at, k.revoked_at
		FROM key_set_version AS v LEFT JOIN signing_keys AS k ORDER BY k.kid`)
	if err != nil {
		return nil, 0, s.fail(op, err)
	}
	defer rows.Close()
	var (
		out     []keys.Record
		version int64
	)
	for rows.Next() {
		var (
			kid, state sql.NullString
			bits       sql.NullInt64
			blob       []byte
			ts         [6]sql.NullInt64
		)
		if err := rows.Scan(&version, &kid, &state, &bits, &blob, &ts[0], &ts[1], &ts[2], &ts[3], &ts[4], &ts[5]); err != nil {
			return nil, 0, s.fail(op, err)
		}
		if !kid.Valid { // the LEFT JOIN row of an empty key set
			continue
		}
		out = append(out, keys.Record{
			KID: kid.String, State: keys.State(state.String), Bits: int(bits.Int64), PrivateKey: blob,
			CreatedAt: decTime(ts[0]), PublishedAt: decTime(ts[1]), ActivatedAt: decTime(ts[2]),
			RetiredAt: decTime(ts[3]), RemoveAt: decTime(ts[4]), RevokedAt: decTime(ts[5]),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.fail(op, err)
	}
	return out, version, nil
}

// KeysVersion returns the key-set version (0 before the first ApplyKeys):
// one read of a one-row table, cheap enough to poll every second.
func (s *Store) KeysVersion(ctx context.Context) (int64, error) {
	const op = "keys version"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	var v int64
	if err := s.db.QueryRowContext(ctx, `SELECT version FROM key_set_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, s.fail(op, err)
	}
	return v, nil
}

// ApplyKeys applies ch in one BEGIN IMMEDIATE transaction when the stored
// version equals expected, and returns the new version, drawn by keys.NextVersion. Puts
// insert or replace records by kid, then deletes remove kids (unknown kids
// are ignored). It returns an error wrapping keys.ErrConflict, changing
// nothing, when the version differs — also when the other writer is another
// process on the same file.
func (s *Store) ApplyKeys(ctx context.Context, expected int64, ch keys.Change) (int64, error) {
	op := fmt.Sprintf("apply keys at version %d", expected)
	puts := make([][]any, 0, len(ch.Put))
	for _, r := range ch.Put {
		if r.KID == "" {
			return 0, fmt.Errorf("sqlite: %s: record without kid", op)
		}
		ts, err := encTimes(r.CreatedAt, r.PublishedAt, r.ActivatedAt, r.RetiredAt, r.RemoveAt, r.RevokedAt)
		if err != nil {
			return 0, fmt.Errorf("sqlite: %s: key %s: %w", op, r.KID, err)
		}
		puts = append(puts, append([]any{r.KID, string(r.State), r.Bits, r.PrivateKey}, ts...))
	}
	var (
		version  int64
		replaced bool // a stored private key was overwritten or deleted
		sealing  bool // … and a clear one was replaced by a sealed one
	)
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT version FROM key_set_version WHERE id = 1`).Scan(&version); err != nil {
			return err
		}
		if version != expected {
			return fmt.Errorf("stored version %d: %w", version, keys.ErrConflict)
		}
		replaced = len(ch.Delete) > 0
		for _, args := range puts {
			var old []byte
			switch err := tx.QueryRowContext(ctx, `SELECT private_key FROM signing_keys WHERE kid = ?`, args[0]).Scan(&old); {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return err
			case !bytes.Equal(old, args[3].([]byte)):
				replaced = true
				sealing = sealing || (!(keys.Record{PrivateKey: old}).IsSealed() && (keys.Record{PrivateKey: args[3].([]byte)}).IsSealed())
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (kid) DO UPDATE SET state = excluded.state, bits = excluded.bits,
				private_key = excluded.private_key, created_at = excluded.created_at,
				published_at = excluded.published_at, activated_at = excluded.activated_at,
				retired_at = excluded.retired_at, remove_at = excluded.remove_at, revoked_at = excluded.revoked_at`,
				args...); err != nil {
				return fmt.Errorf("put key %s: %w", args[0], err)
			}
		}
		for _, kid := range ch.Delete {
			if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE kid = ?`, kid); err != nil {
				return fmt.Errorf("delete key %s: %w", kid, err)
			}
		}
		version = keys.NextVersion(version)
		if _, err := tx.ExecContext(ctx, `UPDATE key_set_version SET version = ? WHERE id = 1`, version); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if replaced {
		s.scrub(ctx, sealing)
	}
	return version, nil
}

// scrub removes the remnants of private keys that a committed change
// overwrote or deleted: secure_delete zeroed them in the database pages,
// but the WAL still holds the pages as they were until a checkpoint
// truncates it; when a clear key was sealed (a key-encryption key was just
// set), VACUUM also rewrites the file without its free space. It is best effort (a long reader can keep the WAL from being
// truncated): the change is committed either way.
func (s *Store) scrub(ctx context.Context, vacuum bool) {
	select {
	case s.wsem <- struct{}{}:
		defer func() { <-s.wsem }()
	case <-ctx.Done():
		return
	}
	qs := []string{`PRAGMA wal_checkpoint(TRUNCATE)`}
	if vacuum {
		qs = append(qs, `VACUUM`, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	for _, q := range qs {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return
		}
	}
}

// LoadSchedule returns the servers' schedule stored beside the key-set
// version (nanoseconds), or the zero Schedule when none was stored; Retain
// is zero for a schedule stored before retention was part of it.
func (s *Store) LoadSchedule(ctx context.Context) (keys.Schedule, error) {
	const op = "load schedule"
	if err := s.check(ctx, op); err != nil {
		return keys.Schedule{}, err
	}
	var every, prepublish, retain sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT rotate_every, prepublish, retain FROM key_set_version WHERE id = 1`).Scan(&every, &prepublish, &retain); err != nil {
		return keys.Schedule{}, s.fail(op, err)
	}
	return keys.Schedule{RotateEvery: time.Duration(every.Int64), Prepublish: time.Duration(prepublish.Int64), Retain: time.Duration(retain.Int64)}, nil
}

// SaveSchedule stores the servers' schedule (nanoseconds) beside the
// key-set version, which it leaves unchanged.
func (s *Store) SaveSchedule(ctx context.Context, sched keys.Schedule) error {
	return s.write(ctx, "save schedule", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE key_set_version SET rotate_every = ?, prepublish = ?, retain = ? WHERE id = 1`,
			int64(sched.RotateEvery), int64(sched.Prepublish), int64(sched.Retain))
		return err
	})
}

// Refresh tokens. Every family has a row in refresh_families with its
// absolute end and its revocation; every write runs under SQLite's write
// lock (BEGIN IMMEDIATE), so a revocation and a rotation of one family never
// interleave.

// errNoExpiry is returned for a refresh token without ExpiresAt.
var errNoExpiry = errors.New("refresh token without expiry")

// errDuplicateHash is returned when a refresh token's hash is already stored.
var errDuplicateHash = errors.New("a refresh token with this hash is already stored")

// errDuplicateFamily is returned by CreateRefreshToken for a family id in use.
var errDuplicateFamily = errors.New("a refresh-token family with this id is already stored")

// refreshArgs returns the INSERT arguments of t in refreshColumns order;
// ExpiresAt is capped at FamilyExpiresAt.
func refreshArgs(t account.RefreshToken) ([]any, error) {
	if len(t.Hash) == 0 {
		return nil, errors.New("refresh token without hash")
	}
	if t.ExpiresAt.IsZero() {
		return nil, errNoExpiry
	}
	if !t.FamilyExpiresAt.IsZero() && t.ExpiresAt.After(t.FamilyExpiresAt) {
		t.ExpiresAt = t.FamilyExpiresAt
	}
	ts, err := encTimes(t.IssuedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt)
	if err != nil {
		return nil, err
	}
	var parent any
	if t.ParentHash != nil {
		parent = t.ParentHash
	}
	return append([]any{t.Hash, t.FamilyID, parent, t.Username}, ts...), nil
}

const refreshColumns = `hash, family_id, parent_hash, username, issued_at, expires_at, used_at, revoked_at`

func insertRefresh(ctx context.Context, tx *sql.Tx, args []any) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (`+refreshColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	switch {
	case constraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return errDuplicateHash
	case constraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
		return account.ErrUserNotFound
	}
	return err
}

// CreateRefreshToken stores t, the first token of a family, and the family
// with its absolute end t.FamilyExpiresAt (ExpiresAt is capped at it) and
// its DPoP binding t.JKT. It
// returns an error wrapping account.ErrUserNotFound when t.Username names no
// user (a foreign key), and an error when the hash is empty or already
// stored, the family id is in use, or ExpiresAt is zero.
func (s *Store) CreateRefreshToken(ctx context.Context, t account.RefreshToken) error {
	op := "create refresh token of family " + t.FamilyID
	args, err := refreshArgs(t)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	fam, err := encTimes(t.IssuedAt, t.FamilyExpiresAt, t.RevokedAt)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		var disabled bool
		err := tx.QueryRowContext(ctx, `SELECT disabled FROM users WHERE username = ?`, t.Username).Scan(&disabled)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return account.ErrUserNotFound
		case err != nil:
			return err
		case disabled:
			return account.ErrUserDisabled
		}
		var jkt any
		if t.JKT != "" {
			jkt = t.JKT
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO refresh_families (family_id, username, created_at, expires_at, revoked_at, jkt)
			VALUES (?, ?, ?, ?, ?, ?)`, t.FamilyID, t.Username, fam[0], fam[1], fam[2], jkt)
		switch {
		case constraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
			return errDuplicateFamily
		case constraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
			return account.ErrUserNotFound
		case err != nil:
			return err
		}
		return insertRefresh(ctx, tx, args)
	})
}

// RotateRefreshToken exchanges the token with hash for next in one BEGIN
// IMMEDIATE transaction, as account.RefreshTokenStore documents, so that of
// concurrent calls — from any process — exactly one succeeds. next takes the
// family, username, parent (hash), family end and DPoP binding (JKT) of the
// old token, its ExpiresAt capped at that end; its UsedAt and RevokedAt are
// cleared. The returned record is the old token with UsedAt set to now. A
// token already used or revoked, or of a revoked family, revokes its whole
// family at now (tokens already revoked keep their time) and yields ErrRefreshReused,
// before its expiry is considered; an expired token (now not before
// ExpiresAt) yields ErrRefreshExpired and changes nothing; an unknown hash
// ErrRefreshNotFound.
func (s *Store) RotateRefreshToken(ctx context.Context, hash []byte, next account.RefreshToken, now time.Time) (account.RefreshToken, error) {
	old, err := s.RotateRefreshTokenGrace(ctx, hash, next, now, 0)
	if err != nil {
		return account.RefreshToken{}, err
	}
	return old, nil
}

// RotateRefreshTokenGrace is RotateRefreshToken with a reuse grace interval,
// in the same kind of transaction, as account.RefreshTokenGraceStore
// documents: a token used less than grace before now, whose family is not
// revoked and whose successor is next.Hash and neither used nor revoked, is
// exchanged again without any change; on ErrRefreshReused the presented
// token's record (after the revocation) is returned.
func (s *Store) RotateRefreshTokenGrace(ctx context.Context, hash []byte, next account.RefreshToken, now time.Time, grace time.Duration) (account.RefreshToken, error) {
	const op = "rotate refresh token"
	nowv, err := encTime(now)
	if err != nil {
		return account.RefreshToken{}, fmt.Errorf("sqlite: %s: now: %w", op, err)
	}
	var old account.RefreshToken
	var reused error
	err = s.write(ctx, op, func(tx *sql.Tx) error {
		t, famRevoked, err := refreshByHash(ctx, tx, hash)
		if err != nil {
			return err
		}
		if grace > 0 && !t.UsedAt.IsZero() && t.RevokedAt.IsZero() && !famRevoked && now.Before(t.UsedAt.Add(grace)) {
			succ, _, err := refreshByHash(ctx, tx, next.Hash)
			if err != nil && !errors.Is(err, account.ErrRefreshNotFound) {
				return err
			}
			if err == nil && bytes.Equal(succ.ParentHash, hash) && succ.UsedAt.IsZero() && succ.RevokedAt.IsZero() {
				if !now.Before(t.ExpiresAt) {
					return fmt.Errorf("family %s: %w", t.FamilyID, account.ErrRefreshExpired)
				}
				old = t // a retry within the grace: same successor, nothing changes
				return nil
			}
		}
		if !t.UsedAt.IsZero() || !t.RevokedAt.IsZero() || famRevoked {
			if err := revokeFamily(ctx, tx, t.FamilyID, nowv); err != nil {
				return err
			}
			if t.RevokedAt.IsZero() {
				t.RevokedAt = time.Unix(0, now.UnixNano()).UTC()
			}
			old = t
			reused = fmt.Errorf("family %s: %w", t.FamilyID, account.ErrRefreshReused)
			return nil // commit the revocation, then report the reuse
		}
		if !now.Before(t.ExpiresAt) {
			return fmt.Errorf("family %s: %w", t.FamilyID, account.ErrRefreshExpired)
		}
		res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND revoked_at IS NULL`, nowv, hash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 { // cannot happen under the write lock; never succeed twice
			return fmt.Errorf("family %s: %w", t.FamilyID, account.ErrRefreshReused)
		}
		next.FamilyID, next.Username, next.ParentHash, next.FamilyExpiresAt, next.JKT = t.FamilyID, t.Username, hash, t.FamilyExpiresAt, t.JKT
		next.UsedAt, next.RevokedAt = time.Time{}, time.Time{}
		args, err := refreshArgs(next)
		if err != nil {
			return fmt.Errorf("next token: %w", err)
		}
		if err := insertRefresh(ctx, tx, args); err != nil {
			return fmt.Errorf("next token: %w", err)
		}
		t.UsedAt = time.Unix(0, now.UnixNano()).UTC()
		old = t
		return nil
	})
	if err == nil && reused != nil {
		return old, s.fail(op, reused)
	}
	if err != nil {
		return account.RefreshToken{}, err
	}
	return old, nil
}

// refreshByHash reads one token and whether its family is revoked, or
// returns account.ErrRefreshNotFound.
func refreshByHash(ctx context.Context, tx interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, hash []byte) (account.RefreshToken, bool, error) {
	t := account.RefreshToken{Hash: append([]byte(nil), hash...)}
	var issued, expires, used, revoked, famExpires, famRevoked sql.NullInt64
	var jkt sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT t.family_id, t.parent_hash, t.username, t.issued_at, t.expires_at, t.used_at, t.revoked_at,
			f.expires_at, f.revoked_at, f.jkt
		FROM refresh_tokens AS t LEFT JOIN refresh_families AS f ON f.family_id = t.family_id WHERE t.hash = ?`, hash).
		Scan(&t.FamilyID, &t.ParentHash, &t.Username, &issued, &expires, &used, &revoked, &famExpires, &famRevoked, &jkt)
	if errors.Is(err, sql.ErrNoRows) {
		return account.RefreshToken{}, false, account.ErrRefreshNotFound
	}
	if err != nil {
		return account.RefreshToken{}, false, err
	}
	t.IssuedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt = decTime(issued), decTime(expires), decTime(used), decTime(revoked)
	t.FamilyExpiresAt = decTime(famExpires)
	t.JKT = jkt.String
	return t, famRevoked.Valid, nil
}

// RefreshTokenByHash returns the token with hash as stored, or an error
// wrapping account.ErrRefreshNotFound.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (account.RefreshToken, error) {
	const op = "get refresh token"
	if err := s.check(ctx, op); err != nil {
		return account.RefreshToken{}, err
	}
	t, _, err := refreshByHash(ctx, s.db, hash)
	if err != nil {
		return account.RefreshToken{}, s.fail(op, err)
	}
	return t, nil
}

// revokeFamily marks the family revoked at now and revokes its tokens not
// yet revoked.
func revokeFamily(ctx context.Context, tx *sql.Tx, family string, now any) error {
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_families SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL`, now, family); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL`, now, family)
	return err
}

// RevokeRefreshFamily revokes, at now, the family of the token with hash —
// its row and every token of it; tokens already revoked keep their time —
// and returns the family id; an error wrapping account.ErrRefreshNotFound
// for an unknown hash.
func (s *Store) RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) (string, error) {
	const op = "revoke refresh family"
	nowv, err := encTime(now)
	if err != nil {
		return "", fmt.Errorf("sqlite: %s: now: %w", op, err)
	}
	var family string
	err = s.write(ctx, op, func(tx *sql.Tx) error {
		t, _, err := refreshByHash(ctx, tx, hash)
		if err != nil {
			return err
		}
		family = t.FamilyID
		return revokeFamily(ctx, tx, family, nowv)
	})
	if err != nil {
		return "", err
	}
	return family, nil
}

// RevokeUserRefreshFamilies revokes, at now, every family of username and
// its tokens, and returns how many families were not revoked before; an
// error wrapping account.ErrUserNotFound for an unknown username.
func (s *Store) RevokeUserRefreshFamilies(ctx context.Context, username string, now time.Time) (int64, error) {
	op := fmt.Sprintf("revoke refresh families of %q", username)
	nowv, err := encTime(now)
	if err != nil {
		return 0, fmt.Errorf("sqlite: %s: now: %w", op, err)
	}
	var n int64
	err = s.write(ctx, op, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE username = ?)`, username).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return account.ErrUserNotFound
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND family_id IN (
				SELECT family_id FROM refresh_families WHERE username = ? AND revoked_at IS NULL)`, nowv, username); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE refresh_families SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL`, nowv, username)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// PurgeRefreshTokens deletes every family all of whose tokens have an
// ExpiresAt before before (its row and its tokens), and returns how many
// tokens it deleted.
func (s *Store) PurgeRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	const op = "purge refresh tokens"
	b, err := encTime(before)
	if err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if b == nil { // nothing expired before the zero time
		return 0, s.check(ctx, op)
	}
	var n int64
	err = s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE family_id IN (
			SELECT family_id FROM refresh_tokens GROUP BY family_id HAVING MAX(expires_at) < ?)`, b)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM refresh_families
			WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens AS t WHERE t.family_id = refresh_families.family_id)`)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
