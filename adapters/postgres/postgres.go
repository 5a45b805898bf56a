// Package postgres implements account.Store on PostgreSQL with
// github.com/jackc/pgx/v5 (pgxpool): the store for several `jwtauth serve`
// instances behind one load balancer.
//
// Every instance opens the same database. The database decides every race:
//
//   - Registrations: the primary key on users.username; of two instances
//     registering one username at once, one gets account.ErrUserExists.
//   - The key set: ApplyKeys runs in one transaction that locks the one-row
//     key_set_version table (SELECT … FOR UPDATE), compares the version,
//     applies the change, bumps the version and calls
//     pg_notify('jwtauth_keys', version). Of two instances performing the
//     same scheduled rotation, one commits and the other gets
//     keys.ErrConflict, reloads and finds the rotation done.
//   - Refresh tokens: every family has a row in refresh_families that each
//     rotation and revocation locks (SELECT … FOR UPDATE) before it touches
//     the family's tokens. RotateRefreshToken exchanges a live token with one
//     statement that locks the family's row while the family is not
//     revoked, marks the token used only while it is unused, and inserts the
//     successor; of concurrent exchanges the first takes the lock and the
//     others find the token used. Everything else (reuse, the reuse grace of
//     RotateRefreshTokenGrace, expiry) is decided in a transaction that locks
//     the family's row and then the token's. A revocation holding the lock
//     sees, and revokes, every successor committed before it got the lock.
//
// Store implements keys.ChangeNotifier: KeyChanges holds a dedicated
// connection that LISTENs on the jwtauth_keys channel, so keys.Manager.Run
// on every instance reloads within milliseconds of a change; when that
// connection drops it reconnects with backoff, and the Manager's poll covers
// the gap. Several jwtauth deployments in different schemas of one database
// share the channel and only cause each other a spurious version check.
//
// The schema is created and upgraded by embedded, numbered migrations (see
// SchemaVersion) recorded in the table jwtauth_schema_migrations, in the
// first schema of the connection's search_path. The runner is thirty lines
// of this package rather than a migration library (golang-migrate, goose,
// tern): it needs one transaction under pg_advisory_xact_lock, so that
// instances starting together migrate once, and a refusal to run against a
// newer schema; a library would add dependencies, its own version-table
// format and a CLI for a handful of forward-only files. Times are stored as
// BIGINT Unix nanoseconds (not timestamptz, which keeps microseconds) and
// read back in UTC; the zero time is NULL.
//
// Errors that mean the database cannot be reached (connection refused or
// lost, server shutting down, pool closed) wrap account.ErrStoreUnavailable,
// which the HTTP layer answers with 503. Pooled connections are re-dialed by
// pgx, so the store recovers without being reopened when the database
// returns. No error or log line contains the DSN's password.
//
// A stalled database (a path that stops forwarding without a reset) holds
// a call until its context ends, then the connection is closed and the
// call fails with the context's error; bound every call with a deadline
// (account.Config.StoreTimeout does for the account flow). Every
// write runs in an explicit transaction whose COMMIT is sent only while the
// context is alive, so a write whose caller gave up is rolled back, never
// committed when the stall ends.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/keys"
)

// NotifyChannel is the LISTEN/NOTIFY channel on which ApplyKeys announces a
// new key-set version (the payload is the version in decimal).
const NotifyChannel = "jwtauth_keys"

// DefaultConnectTimeout bounds the dial of one connection when the DSN sets
// no connect_timeout, so that an unreachable host fails a request with
// account.ErrStoreUnavailable instead of hanging it.
const DefaultConnectTimeout = 5 * time.Second

// Store is an account.Store and keys.ChangeNotifier on a PostgreSQL
// connection pool. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	listen *pgx.ConnConfig // for KeyChanges' dedicated connections
	target string          // user@host:port/database, for messages

	mu     sync.Mutex // guards closed transitions and wg.Add
	closed atomic.Bool
	bg     context.Context // canceled by Close; ends KeyChanges listeners
	stop   context.CancelFunc
	wg     sync.WaitGroup

	replayInserts atomic.Uint64 // Seen calls, for the sweeps of dpop_proofs
}

var (
	_ account.Store             = (*Store)(nil)
	_ keys.ChangeNotifier       = (*Store)(nil)
	_ account.UserStore         = (*Store)(nil)
	_ keys.Store                = (*Store)(nil)
	_ account.RefreshTokenStore = (*Store)(nil)

	_ account.RefreshTokenGraceStore = (*Store)(nil)
	_ keys.ScheduleStore             = (*Store)(nil)
)

// Open connects to the PostgreSQL database dsn names (a postgres:// URL or
// key=value string as libpq and pgx accept, pool settings such as
// pool_max_conns included) and migrates its schema to SchemaVersion(). The
// tables live in the first schema of the search_path (set it with the DSN's
// search_path parameter to keep jwtauth apart). When the DSN sets no
// application_name the connections are named "jwtauth", and without a
// connect_timeout each dial is bounded by DefaultConnectTimeout.
//
// Open fails with a clear error, and a DSN with its password masked, when
// the DSN does not parse, the server cannot be reached (wrapping
// account.ErrStoreUnavailable), rejects the login, the role may not create
// the tables, or the schema is newer than this binary (ErrSchemaTooNew).
func Open(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, false)
}

// ErrNoSchema is returned by OpenReadOnly when the database holds no jwtauth
// tables (or an older schema than this binary's): there is nothing to read,
// and a read-only open creates nothing.
var ErrNoSchema = errors.New("postgres: no jwtauth schema in the database")

// OpenReadOnly connects like Open but changes nothing: it runs no migration
// and its sessions are read-only (default_transaction_read_only), so every
// write fails. It fails with an error wrapping ErrNoSchema when the
// database does not hold jwtauth's schema at SchemaVersion(), and with
// ErrSchemaTooNew when it holds a newer one. For tools that only read a
// store the servers own (jwtauth keys list).
func OpenReadOnly(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, true)
}

func open(ctx context.Context, dsn string, readOnly bool) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, parseError(dsn, err)
	}
	cc := cfg.ConnConfig
	target := fmt.Sprintf("%s@%s/%s", cc.User, net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))), cc.Database)
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "jwtauth"
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = DefaultConnectTimeout
	}
	if readOnly {
		cc.RuntimeParams["default_transaction_read_only"] = "on"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redact(dsn, fmt.Errorf("postgres: open %s: %w", target, err))
	}
	bg, stop := context.WithCancel(context.Background())
	s := &Store{pool: pool, listen: cc.Copy(), target: target, bg: bg, stop: stop}
	if err := s.init(ctx, readOnly); err != nil {
		s.Close()
		return nil, redact(dsn, err)
	}
	return s, nil
}

func (s *Store) init(ctx context.Context, readOnly bool) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.openError("connect", err)
	}
	if readOnly {
		v, err := schemaVersion(ctx, s.pool)
		if err != nil {
			return s.openError("read schema version", err)
		}
		if err := checkNotTooNew(v, len(migrations)); err != nil {
			return fmt.Errorf("postgres: open %s: %w", s.target, err)
		}
		if v < len(migrations) {
			return fmt.Errorf("postgres: open %s: %w (schema version %d, want %d; jwtauth serve creates or upgrades it)", s.target, ErrNoSchema, v, len(migrations))
		}
		return nil
	}
	if err := migrate(ctx, s.pool, migrations); err != nil {
		if errors.Is(err, ErrSchemaTooNew) {
			return fmt.Errorf("postgres: open %s: %w", s.target, err)
		}
		return s.openError("migrate", err)
	}
	return nil
}

// openError explains a failure of Open's step ("connect", "migrate").
func (s *Store) openError(step string, err error) error {
	var pe *pgconn.PgError
	pgErr := errors.As(err, &pe)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err):
		return fmt.Errorf("postgres: open %s: %s: %w", s.target, step, err)
	case pgErr && (pe.Code == "28P01" || pe.Code == "28000"):
		return fmt.Errorf("postgres: open %s: the server rejected the login (check user and password): %w", s.target, err)
	case pgErr && pe.Code == "3D000":
		return fmt.Errorf("postgres: open %s: the database does not exist: %w", s.target, err)
	case pgErr && pe.Code == "42501":
		if step == "connect" {
			return fmt.Errorf("postgres: open %s: the role may not connect to the database (GRANT CONNECT): %w", s.target, err)
		}
		return fmt.Errorf("postgres: open %s: the role lacks the privileges to create or upgrade jwtauth's tables "+
			"(it needs CREATE on the first schema of its search_path, or run jwtauth once with the schema's owner): %w", s.target, err)
	case pgErr && pe.Code == "3F000":
		return fmt.Errorf("postgres: open %s: no schema of the search_path exists or may be used by the role "+
			"(check search_path; GRANT USAGE, CREATE ON SCHEMA …): %w", s.target, err)
	case unavailable(err):
		return fmt.Errorf("postgres: open %s: cannot reach the database: %w: %w", s.target, account.ErrStoreUnavailable, err)
	}
	return fmt.Errorf("postgres: open %s: %s: %w", s.target, step, err)
}

// Close stops the KeyChanges listeners and closes the pool, waiting for
// statements in progress. Later calls of every method, Close excepted, return
// an error wrapping account.ErrStoreUnavailable. A second Close returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	s.pool.Close()
	return nil
}

// Ping reads the key-set version row: nil when the database answers and holds
// jwtauth's schema, an error wrapping account.ErrStoreUnavailable when it
// cannot be reached or the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.KeysVersion(ctx)
	return err
}

// errClosed is the cause of every error of a closed store.
var errClosed = errors.New("store closed")

// check fails fast for a done ctx or a closed store.
func (s *Store) check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("postgres: %s: %w: %w", op, account.ErrStoreUnavailable, errClosed)
	}
	return nil
}

// fail wraps err from operation op: context errors as they are, errors of an
// unreachable database or closed store with account.ErrStoreUnavailable.
func (s *Store) fail(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, account.ErrStoreUnavailable):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err):
		return fmt.Errorf("postgres: %s: %w", op, err)
	case s.closed.Load(), unavailable(err):
		return fmt.Errorf("postgres: %s: %w: %w", op, account.ErrStoreUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// unavailable reports errors that mean the database cannot be used right now
// (rather than that the request was wrong): failed dials, connections lost or
// closed by the server, a server shutting down or out of connections.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources (too many connections, disk full)
			"58": // system error
			return true
		}
		switch pe.Code {
		case "57P01", "57P02", "57P03", // admin shutdown, crash shutdown, cannot connect now
			"25006": // read-only transaction: a standby after failover
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, pgconn.ErrConnClosed) || err.Error() == "closed pool"
}

// pgCode returns the SQLSTATE of a server error, "" for other errors.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// lost reacts to a connection the server closed (restart, failover,
// pg_terminate_backend): the pool's other idle connections are most likely
// dead too, so they are all dropped and the next calls dial anew instead of
// failing one by one.
func (s *Store) lost(err error) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Severity != "FATAL" && pe.Severity != "PANIC" {
		return // the server answered: the connection is fine
	}
	if unavailable(err) && !s.closed.Load() && !pgconn.SafeToRetry(err) {
		s.pool.Reset()
	}
}

// maxAttempts bounds the retries of a statement or transaction that failed
// without effect (a lost connection before the commit, a deadlock).
const maxAttempts = 3

// read runs fn, a read-only query or an idempotent statement, and wraps its
// error with op. When the connection was lost (pgx dials a new one) or the
// statement lost a deadlock, it runs fn again, maxAttempts in all; fn must
// reset whatever it records.
func (s *Store) read(ctx context.Context, op string, fn func() error) error {
	if err := s.check(ctx, op); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		retry := unavailable(err) || pgCode(err) == "40P01"
		s.lost(err)
		if attempt < maxAttempts && retry && ctx.Err() == nil && !s.closed.Load() {
			continue
		}
		return s.fail(op, err)
	}
}

// exec runs one statement that writes, in a transaction of its own (see
// write, which retries it when that can change nothing), and wraps its error
// with op. Never an implicit transaction: a statement sent to a stalled
// server would commit whenever it arrives, long after the caller gave up.
func (s *Store) exec(ctx context.Context, op string, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := s.write(ctx, op, func(tx pgx.Tx) error {
		var err error
		tag, err = tx.Exec(ctx, sql, args...)
		return err
	})
	return tag, err
}

// write runs fn in a READ COMMITTED transaction and commits when fn returns
// nil. When the transaction fails before its commit was sent because the
// connection was lost, or on a deadlock or serialization failure, the server
// rolled it back and write runs fn again (maxAttempts in all); fn must
// therefore reset whatever it records. Errors are wrapped with op.
//
// Every write of the store goes through write, so that a write whose ctx
// ends before it commits never commits: COMMIT is sent only while ctx is
// alive, and when ctx ends during a statement pgx closes the connection
// (its default context watcher sets a past deadline on the socket), so
// statements still queued towards a stalled server reach it, if ever, in a
// transaction without COMMIT, which the server rolls back. Only a COMMIT
// already sent when ctx ends leaves the outcome unknown to the caller.
func (s *Store) write(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	if err := s.check(ctx, op); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		committing := false
		err := func() error {
			tx, err := s.pool.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
			if err := fn(tx); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err // the caller gave up: roll back, never commit later
			}
			committing = true
			return tx.Commit(ctx)
		}()
		if err == nil {
			return nil
		}
		retry := pgconn.SafeToRetry(err) ||
			(!committing && (unavailable(err) || pgCode(err) == "40P01" || pgCode(err) == "40001"))
		s.lost(err)
		if attempt < maxAttempts && retry && ctx.Err() == nil && !s.closed.Load() {
			continue
		}
		return s.fail(op, err)
	}
}

// Time encoding: Unix nanoseconds, NULL for the zero time.

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// errTimeRange is returned for a non-zero time outside the int64 nanosecond range.
var errTimeRange = errors.New("time outside the storable range (years 1678 to 2262)")

func encTime(t time.Time) (*int64, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("%w: %s", errTimeRange, t.UTC().Format(time.RFC3339))
	}
	n := t.UnixNano()
	return &n, nil
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

func decTime(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

// Users.

// CreateUser inserts u. It returns an error wrapping account.ErrUserExists,
// changing nothing, when the username is taken: the primary key on
// users.username decides, so of concurrent registrations on any number of
// instances exactly one succeeds.
func (s *Store) CreateUser(ctx context.Context, u account.User) error {
	op := fmt.Sprintf("create user %q", u.Username)
	created, err := encTime(u.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres: %s: created at: %w", op, err)
	}
	err = s.write(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3)`,
			u.Username, u.PasswordHash, created); err != nil {
			return err
		}
		// A tombstone reserves the name. Checked after the insert, in a
		// statement whose snapshot follows it: an insert that waited on the
		// row of a DeleteUser in progress sees that delete's tombstone here.
		var gone bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deleted_users WHERE username = $1)`, u.Username).Scan(&gone); err != nil {
			return err
		}
		if gone {
			return errTombstone
		}
		return nil
	})
	if errors.Is(err, errTombstone) || pgCode(err) == "23505" { // unique_violation
		return fmt.Errorf("postgres: %s: %w", op, account.ErrUserExists)
	}
	return err
}

// UserByName returns the user or an error wrapping account.ErrUserNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (account.User, error) {
	op := fmt.Sprintf("get user %q", username)
	u := account.User{Username: username}
	err := s.read(ctx, op, func() error {
		var created, lastLogin *int64
		err := s.pool.QueryRow(ctx, `SELECT password_hash, created_at, disabled, last_login_at FROM users WHERE username = $1`, username).
			Scan(&u.PasswordHash, &created, &u.Disabled, &lastLogin)
		if errors.Is(err, pgx.ErrNoRows) {
			return account.ErrUserNotFound
		}
		u.CreatedAt, u.LastLoginAt = decTime(created), decTime(lastLogin)
		return err
	})
	if err != nil {
		return account.User{}, err
	}
	return u, nil
}

// UpdatePasswordHash replaces the user's password hash; it returns an error
// wrapping account.ErrUserNotFound for an unknown username.
func (s *Store) UpdatePasswordHash(ctx context.Context, username, hash string) error {
	op := fmt.Sprintf("update password hash of %q", username)
	tag, err := s.exec(ctx, op, `UPDATE users SET password_hash = $1 WHERE username = $2`, hash, username)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, account.ErrUserNotFound)
	}
	return nil
}

// Keys.

const keyColumns = `kid, state, bits, private_key, created_at, published_at, activated_at, retired_at, remove_at, revoked_at`

// LoadKeys returns every key record, ordered by kid, and the key-set version
// they belong to, read in one statement (one snapshot).
func (s *Store) LoadKeys(ctx context.Context) ([]keys.Record, int64, error) {
	var (
		out     []keys.Record
		version int64
	)
	err := s.read(ctx, "load keys", func() error {
		out, version = nil, 0
		rows, err := s.pool.Query(ctx, `SELECT v.version, k.kid, k.state, k.bits, k.private_key,
			k.created_at, k.published_at, k.activated_at, k.retired_at, k.remove_at, k.revoked_at
			FROM key_set_version AS v LEFT JOIN signing_keys AS k ON true WHERE v.id = 1 ORDER BY k.kid`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				kid, state *string
				bits       *int32
				blob       []byte
				ts         [6]*int64
			)
			if err := rows.Scan(&version, &kid, &state, &bits, &blob, &ts[0], &ts[1], &ts[2], &ts[3], &ts[4], &ts[5]); err != nil {
				return err
			}
			if kid == nil { // the LEFT JOIN row of an empty key set
				continue
			}
			out = append(out, keys.Record{
				KID: *kid, State: keys.State(*state), Bits: int(*bits), PrivateKey: blob,
				CreatedAt: decTime(ts[0]), PublishedAt: decTime(ts[1]), ActivatedAt: decTime(ts[2]),
				RetiredAt: decTime(ts[3]), RemoveAt: decTime(ts[4]), RevokedAt: decTime(ts[5]),
			})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	return out, version, nil
}

// KeysVersion returns the key-set version (0 before the first ApplyKeys):
// one primary-key read of a one-row table, cheap enough to poll every second.
func (s *Store) KeysVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.read(ctx, "keys version", func() error {
		return s.pool.QueryRow(ctx, `SELECT version FROM key_set_version WHERE id = 1`).Scan(&v)
	})
	if err != nil {
		return 0, err
	}
	return v, nil
}

// ApplyKeys applies ch when the stored version equals expected and returns
// the new version, drawn by
// keys.NextVersion. In one transaction it locks the version row
// (SELECT … FOR UPDATE), so concurrent writers on any instance queue behind
// it, compares, inserts or replaces the Put records by kid, deletes the
// Delete kids (unknown kids are ignored), bumps the version and notifies
// NotifyChannel, delivered when the transaction commits. It returns an error
// wrapping keys.ErrConflict, changing nothing, when the version differs.
func (s *Store) ApplyKeys(ctx context.Context, expected int64, ch keys.Change) (int64, error) {
	op := fmt.Sprintf("apply keys at version %d", expected)
	puts := make([][]any, 0, len(ch.Put))
	for _, r := range ch.Put {
		if r.KID == "" {
			return 0, fmt.Errorf("postgres: %s: record without kid", op)
		}
		ts, err := encTimes(r.CreatedAt, r.PublishedAt, r.ActivatedAt, r.RetiredAt, r.RemoveAt, r.RevokedAt)
		if err != nil {
			return 0, fmt.Errorf("postgres: %s: key %s: %w", op, r.KID, err)
		}
		puts = append(puts, append([]any{r.KID, string(r.State), r.Bits, r.PrivateKey}, ts...))
	}
	var version int64
	err := s.write(ctx, op, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT version FROM key_set_version WHERE id = 1 FOR UPDATE`).Scan(&version); err != nil {
			return err
		}
		if version != expected {
			return fmt.Errorf("stored version %d: %w", version, keys.ErrConflict)
		}
		for _, args := range puts {
			if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (kid) DO UPDATE SET state = excluded.state, bits = excluded.bits,
				private_key = excluded.private_key, created_at = excluded.created_at,
				published_at = excluded.published_at, activated_at = excluded.activated_at,
				retired_at = excluded.retired_at, remove_at = excluded.remove_at, revoked_at = excluded.revoked_at`,
				args...); err != nil {
				return fmt.Errorf("put key %s: %w", args[0], err)
			}
		}
		if len(ch.Delete) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM signing_keys WHERE kid = ANY($1)`, ch.Delete); err != nil {
				return fmt.Errorf("delete keys: %w", err)
			}
		}
		version = keys.NextVersion(version)
		if _, err := tx.Exec(ctx, `UPDATE key_set_version SET version = $1 WHERE id = 1`, version); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, strconv.FormatInt(version, 10))
		return err
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

// LoadSchedule returns the servers' schedule stored beside the key-set
// version (nanoseconds), or the zero Schedule when none was stored; Retain
// is zero for a schedule stored before retention was part of it.
func (s *Store) LoadSchedule(ctx context.Context) (keys.Schedule, error) {
	var every, prepublish, retain *int64
	err := s.read(ctx, "load schedule", func() error {
		return s.pool.QueryRow(ctx, `SELECT rotate_every, prepublish, retain FROM key_set_version WHERE id = 1`).Scan(&every, &prepublish, &retain)
	})
	if err != nil {
		return keys.Schedule{}, err
	}
	d := func(v *int64) time.Duration {
		if v == nil {
			return 0
		}
		return time.Duration(*v)
	}
	return keys.Schedule{RotateEvery: d(every), Prepublish: d(prepublish), Retain: d(retain)}, nil
}

// SaveSchedule stores the servers' schedule (nanoseconds) beside the
// key-set version, which it leaves unchanged.
func (s *Store) SaveSchedule(ctx context.Context, sched keys.Schedule) error {
	_, err := s.exec(ctx, "save schedule", `UPDATE key_set_version SET rotate_every = $1, prepublish = $2, retain = $3 WHERE id = 1`,
		int64(sched.RotateEvery), int64(sched.Prepublish), int64(sched.Retain))
	return err
}

// Refresh tokens.
//
// Every family has a row in refresh_families, which holds its absolute end
// and its revocation. Whatever changes a family's tokens (a rotation, a
// revocation, reuse detection) first locks that row (SELECT … FOR UPDATE or
// an UPDATE of it) and only then reads or writes the tokens, in statements
// that start after the lock was granted. So a revocation waits for a
// rotation in progress and then, in a fresh READ COMMITTED snapshot, sees and
// revokes the successor it stored; and a rotation waiting for a revocation
// finds the family revoked when it gets the lock. SERIALIZABLE would have
// caught the same conflict, but by failing transactions that must then be
// retried (the single-statement exchange included), under load more often
// than not; a lock on one row per family costs one index lookup and
// serializes only calls on the same family, which conflict anyway.

// errNoExpiry is returned for a refresh token without ExpiresAt.
var errNoExpiry = errors.New("refresh token without expiry")

// errDuplicateHash is returned when a refresh token's hash is already stored.
var errDuplicateHash = errors.New("a refresh token with this hash is already stored")

// errDuplicateFamily is returned by CreateRefreshToken for a family id in use.
var errDuplicateFamily = errors.New("a refresh-token family with this id is already stored")

const refreshColumns = `hash, family_id, parent_hash, username, issued_at, expires_at, used_at, revoked_at`

// refreshArgs returns the INSERT arguments of t in refreshColumns order,
// followed by FamilyExpiresAt; ExpiresAt is capped at FamilyExpiresAt.
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
	ts, err := encTimes(t.IssuedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt, t.FamilyExpiresAt)
	if err != nil {
		return nil, err
	}
	return append([]any{t.Hash, t.FamilyID, t.ParentHash, t.Username}, ts...), nil
}

const insertRefreshSQL = `INSERT INTO refresh_tokens (` + refreshColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// createRefreshSQL inserts a family ($9: its absolute end, $10: its DPoP
// key thumbprint or NULL) and its first token in one statement; the foreign
// keys are checked at its end.
const createRefreshSQL = `WITH f AS (
		INSERT INTO refresh_families (family_id, username, created_at, expires_at, revoked_at, jkt)
		VALUES ($2, $4, $5, $9, $8, $10))
	INSERT INTO refresh_tokens (` + refreshColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// refreshInsertError maps the constraint violations of the refresh-token
// inserts.
func refreshInsertError(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case pe.Code == "23505" && pe.ConstraintName == "refresh_families_pkey":
		return errDuplicateFamily
	case pe.Code == "23505": // unique_violation on the hash
		return errDuplicateHash
	case pe.Code == "23503": // foreign_key_violation on the username
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
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	err = s.write(ctx, op, func(tx pgx.Tx) error {
		// FOR SHARE waits for a SetUserDisabled or DeleteUser in progress
		// and reads what it left: no family starts after either.
		var disabled bool
		err := tx.QueryRow(ctx, `SELECT disabled FROM users WHERE username = $1 FOR SHARE`, t.Username).Scan(&disabled)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return account.ErrUserNotFound
		case err != nil:
			return err
		case disabled:
			return account.ErrUserDisabled
		}
		var jkt *string
		if t.JKT != "" {
			jkt = &t.JKT
		}
		_, err = tx.Exec(ctx, createRefreshSQL, append(args, jkt)...)
		return err
	})
	if errors.Is(err, account.ErrUserNotFound) || errors.Is(err, account.ErrUserDisabled) {
		return err
	}
	if ierr := refreshInsertError(err); ierr != err {
		return fmt.Errorf("postgres: %s: %w", op, ierr)
	}
	return err
}

// RotateRefreshToken exchanges the token with hash for next, as
// account.RefreshTokenStore documents: of concurrent calls from any number of
// instances exactly one succeeds. next takes the family, username, parent
// (hash), family end and DPoP binding (JKT) of the old token, its ExpiresAt capped at that end;
// its UsedAt and RevokedAt are cleared. The returned record is the old token
// with UsedAt set to now. A token already used or revoked, or of a revoked
// family, revokes its whole family at now (tokens already revoked keep their
// time) and yields ErrRefreshReused, before its expiry is considered; an
// expired token (now not before ExpiresAt) yields ErrRefreshExpired and
// changes nothing; an unknown hash ErrRefreshNotFound. It is
// RotateRefreshTokenGrace with a grace of 0, which says how it runs.
func (s *Store) RotateRefreshToken(ctx context.Context, hash []byte, next account.RefreshToken, now time.Time) (account.RefreshToken, error) {
	old, err := s.RotateRefreshTokenGrace(ctx, hash, next, now, 0)
	if err != nil {
		return account.RefreshToken{}, err
	}
	return old, nil
}

// familyOfSQL is the family id of the token with hash $1. A family id never
// changes, so it may be read from any snapshot.
const familyOfSQL = `(SELECT family_id FROM refresh_tokens WHERE hash = $1)`

// rotateRefreshSQL is the exchange of a live token in one statement, so one
// round trip and one commit. It first locks the family's row, only while the
// family is not revoked (f, materialized so that it runs before the UPDATE
// locks the token); the UPDATE then marks token $1 used at $2 only while it
// is unused, unrevoked and unexpired, and the INSERT adds the successor
// (hash $3, issued $4, expiry $5 capped at the family's end) from the row
// the UPDATE returned. A concurrent exchange of the same token waits for the
// family lock, then finds the token used and matches nothing; a revocation
// that got the lock first leaves f empty; so does every presentation that is
// not a plain exchange, which RotateRefreshTokenGrace then decides in a
// transaction.
const rotateRefreshSQL = `WITH f AS MATERIALIZED (
		SELECT family_id, expires_at, jkt FROM refresh_families
		WHERE family_id = ` + familyOfSQL + ` AND revoked_at IS NULL
		FOR UPDATE),
	u AS (
		UPDATE refresh_tokens AS t SET used_at = $2 FROM f
		WHERE t.hash = $1 AND t.family_id = f.family_id
			AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > $2
		RETURNING t.family_id, t.parent_hash, t.username, t.issued_at, t.expires_at, f.expires_at AS family_expires_at, f.jkt),
	i AS (
		INSERT INTO refresh_tokens (` + refreshColumns + `)
		SELECT $3, family_id, $1, username, $4, LEAST($5, family_expires_at), NULL, NULL FROM u)
	SELECT family_id, parent_hash, username, issued_at, expires_at, family_expires_at, jkt FROM u`

// RotateRefreshTokenGrace is RotateRefreshToken with a reuse grace interval,
// as account.RefreshTokenGraceStore documents: a token used less than grace
// before now, whose family is not revoked and whose successor is next.Hash
// and neither used nor revoked, is exchanged again without any change; on
// ErrRefreshReused the presented token's record (after the revocation) is
// returned.
//
// A live token is exchanged by one statement (rotateRefreshSQL). Anything
// else — an unknown, used, revoked or expired token — is decided in a
// transaction that locks the family's row and then the token's (SELECT …
// FOR UPDATE): each of its statements sees every exchange committed before
// it, so a retry that lost the race for the lock finds the winner's
// successor, and a revocation covers it.
func (s *Store) RotateRefreshTokenGrace(ctx context.Context, hash []byte, next account.RefreshToken, now time.Time, grace time.Duration) (account.RefreshToken, error) {
	const op = "rotate refresh token"
	nowv, err := encTime(now)
	if err != nil {
		return account.RefreshToken{}, fmt.Errorf("postgres: %s: now: %w", op, err)
	}
	n := next
	n.ParentHash, n.UsedAt, n.RevokedAt, n.FamilyExpiresAt = hash, time.Time{}, time.Time{}, time.Time{}
	args, err := refreshArgs(n)
	if err != nil {
		return account.RefreshToken{}, fmt.Errorf("postgres: %s: next token: %w", op, err)
	}
	old, done, err := s.rotateLive(ctx, op, hash, nowv, args)
	if done || err != nil {
		return old, err
	}
	var reused error
	err = s.write(ctx, op, func(tx pgx.Tx) error {
		old, reused = account.RefreshToken{}, nil
		famRevoked, err := familyForUpdate(ctx, tx, hash)
		if err != nil {
			return err
		}
		t, err := refreshForUpdate(ctx, tx, hash)
		if err != nil {
			return err
		}
		if grace > 0 && !t.UsedAt.IsZero() && t.RevokedAt.IsZero() && !famRevoked && now.Before(t.UsedAt.Add(grace)) {
			succ, err := refreshByHash(ctx, tx, next.Hash)
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
				t.RevokedAt = time.Unix(0, *nowv).UTC()
			}
			old = t
			reused = fmt.Errorf("family %s: %w", t.FamilyID, account.ErrRefreshReused)
			return nil // commit the revocation, then report the reuse
		}
		if !now.Before(t.ExpiresAt) {
			return fmt.Errorf("family %s: %w", t.FamilyID, account.ErrRefreshExpired)
		}
		// Live: rotateLive matched nothing, and a used, revoked or missing
		// token never becomes live, so this is not reached in practice; it
		// keeps the transaction a complete implementation of the contract.
		expires := args[5]
		if fe, _ := encTime(t.FamilyExpiresAt); fe != nil && *fe < *expires.(*int64) {
			expires = fe
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2`, nowv, hash)
		b.Queue(insertRefreshSQL, args[0], t.FamilyID, hash, t.Username, args[4], expires, nil, nil)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("next token: %w", refreshInsertError(err))
		}
		t.UsedAt = time.Unix(0, *nowv).UTC()
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

// rotateLive runs rotateRefreshSQL. It reports done with the old record when
// the token was live and is now exchanged, and not done (with no error) when
// the statement matched nothing. It runs in a transaction of its own (see
// write), retried only when it certainly had no effect.
func (s *Store) rotateLive(ctx context.Context, op string, hash []byte, nowv *int64, args []any) (account.RefreshToken, bool, error) {
	var (
		t    account.RefreshToken
		done bool
	)
	err := s.write(ctx, op, func(tx pgx.Tx) error {
		t, done = account.RefreshToken{Hash: append([]byte(nil), hash...)}, false
		var issued, expires, famExpires *int64
		var jkt *string
		// args: hash, family, parent, username, issued, expires, used, revoked, family expires.
		err := tx.QueryRow(ctx, rotateRefreshSQL, hash, nowv, args[0], args[4], args[5]).
			Scan(&t.FamilyID, &t.ParentHash, &t.Username, &issued, &expires, &famExpires, &jkt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			if ierr := refreshInsertError(err); ierr != err {
				return fmt.Errorf("next token: %w", ierr)
			}
			return err
		}
		t.IssuedAt, t.ExpiresAt, t.UsedAt, t.FamilyExpiresAt = decTime(issued), decTime(expires), decTime(nowv), decTime(famExpires)
		if jkt != nil {
			t.JKT = *jkt
		}
		done = true
		return nil
	})
	if err != nil || !done {
		return account.RefreshToken{}, false, err
	}
	return t, true, nil
}

// familyForUpdate locks the row of the family of the token with hash and
// reports whether the family is revoked, or returns
// account.ErrRefreshNotFound for an unknown token. Every transaction that
// changes a family's tokens calls it first.
func familyForUpdate(ctx context.Context, tx pgx.Tx, hash []byte) (bool, error) {
	var revoked *int64
	err := tx.QueryRow(ctx, `SELECT revoked_at FROM refresh_families WHERE family_id = `+familyOfSQL+` FOR UPDATE`, hash).Scan(&revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, account.ErrRefreshNotFound
	}
	return revoked != nil, err
}

const refreshSelectSQL = `SELECT t.family_id, t.parent_hash, t.username, t.issued_at, t.expires_at, t.used_at, t.revoked_at, f.expires_at, f.jkt
	FROM refresh_tokens AS t JOIN refresh_families AS f ON f.family_id = t.family_id WHERE t.hash = $1`

// refreshForUpdate reads and locks one token (not its family) or returns
// account.ErrRefreshNotFound.
func refreshForUpdate(ctx context.Context, tx pgx.Tx, hash []byte) (account.RefreshToken, error) {
	return scanRefresh(tx.QueryRow(ctx, refreshSelectSQL+` FOR UPDATE OF t`, hash), hash)
}

// refreshByHash reads one token without locking it or returns
// account.ErrRefreshNotFound.
func refreshByHash(ctx context.Context, tx pgx.Tx, hash []byte) (account.RefreshToken, error) {
	return scanRefresh(tx.QueryRow(ctx, refreshSelectSQL, hash), hash)
}

// scanRefresh scans the row of the token with hash.
func scanRefresh(row pgx.Row, hash []byte) (account.RefreshToken, error) {
	t := account.RefreshToken{Hash: append([]byte(nil), hash...)}
	var issued, expires, used, revoked, famExpires *int64
	var jkt *string
	err := row.Scan(&t.FamilyID, &t.ParentHash, &t.Username, &issued, &expires, &used, &revoked, &famExpires, &jkt)
	if errors.Is(err, pgx.ErrNoRows) {
		return account.RefreshToken{}, account.ErrRefreshNotFound
	}
	if err != nil {
		return account.RefreshToken{}, err
	}
	t.IssuedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt = decTime(issued), decTime(expires), decTime(used), decTime(revoked)
	t.FamilyExpiresAt = decTime(famExpires)
	if jkt != nil {
		t.JKT = *jkt
	}
	return t, nil
}

// RefreshTokenByHash returns the token with hash as stored, or an error
// wrapping account.ErrRefreshNotFound.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (account.RefreshToken, error) {
	var t account.RefreshToken
	err := s.read(ctx, "get refresh token", func() (err error) {
		t, err = scanRefresh(s.pool.QueryRow(ctx, refreshSelectSQL, hash), hash)
		return err
	})
	if err != nil {
		return account.RefreshToken{}, err
	}
	return t, nil
}

// revokeFamily revokes family at now: its row, then, in a statement whose
// snapshot follows the lock that UPDATE took, every token of it not yet
// revoked (a successor committed while the lock was awaited included).
func revokeFamily(ctx context.Context, tx pgx.Tx, family string, nowv *int64) error {
	if _, err := tx.Exec(ctx, `UPDATE refresh_families SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`, family, nowv); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`, family, nowv)
	return err
}

// RevokeRefreshFamily revokes, at now, the family of the token with hash —
// its row and every token of it; tokens already revoked keep their time —
// and returns the family id; an error wrapping account.ErrRefreshNotFound
// for an unknown hash. It locks the family's row first, so a rotation in
// progress either finishes before it (and its successor is revoked too) or
// finds the family revoked. It is idempotent and retried after a lost
// connection.
func (s *Store) RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) (string, error) {
	const op = "revoke refresh family"
	nowv, err := encTime(now)
	if err != nil {
		return "", fmt.Errorf("postgres: %s: now: %w", op, err)
	}
	var family string
	err = s.write(ctx, op, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT family_id FROM refresh_families WHERE family_id = `+familyOfSQL+` FOR UPDATE`, hash).Scan(&family)
		if errors.Is(err, pgx.ErrNoRows) {
			return account.ErrRefreshNotFound
		}
		if err != nil {
			return err
		}
		return revokeFamily(ctx, tx, family, nowv)
	})
	if err != nil {
		return "", err
	}
	return family, nil
}

// RevokeUserRefreshFamilies revokes, at now, every family of username (their
// rows, locked as RevokeRefreshFamily locks one, and then their tokens) and
// returns how many were not revoked before; an error wrapping
// account.ErrUserNotFound for an unknown username.
func (s *Store) RevokeUserRefreshFamilies(ctx context.Context, username string, now time.Time) (int64, error) {
	op := fmt.Sprintf("revoke refresh families of %q", username)
	nowv, err := encTime(now)
	if err != nil {
		return 0, fmt.Errorf("postgres: %s: now: %w", op, err)
	}
	var n int64
	err = s.write(ctx, op, func(tx pgx.Tx) error {
		n = 0
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)`, username).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return account.ErrUserNotFound
		}
		rows, err := tx.Query(ctx, `UPDATE refresh_families SET revoked_at = $2 WHERE username = $1 AND revoked_at IS NULL RETURNING family_id`, username, nowv)
		if err != nil {
			return err
		}
		families, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		n = int64(len(families))
		if n == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = ANY($1) AND revoked_at IS NULL`, families, nowv)
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
		return 0, fmt.Errorf("postgres: %s: %w", op, err)
	}
	if b == nil { // nothing expired before the zero time
		return 0, s.check(ctx, op)
	}
	tag, err := s.exec(ctx, op, `WITH f AS (
			DELETE FROM refresh_families WHERE family_id IN (
				SELECT family_id FROM refresh_tokens GROUP BY family_id HAVING max(expires_at) < $1)
			RETURNING family_id)
		DELETE FROM refresh_tokens WHERE family_id IN (SELECT family_id FROM f)`, b)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
