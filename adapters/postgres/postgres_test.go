package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/postgres"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/storetest"
	"github.com/jwtauth/jwtauth/keys"
)

func TestConformance(t *testing.T) {
	baseDSN(t)
	storetest.Run(t, func(t *testing.T) account.Store {
		return newDB(t).open(t, "jwtauth-conformance")
	})
}

var t0 = time.Date(2025, time.March, 14, 15, 9, 26, 535897932, time.UTC)

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestTwoInstancesRegisterSameUser registers one username through two stores
// (two pools, as two server instances have) at once: the UNIQUE constraint
// lets exactly one through.
func TestTwoInstancesRegisterSameUser(t *testing.T) {
	db := newDB(t)
	stores := []*postgres.Store{db.open(t, "jwtauth-a"), db.open(t, "jwtauth-b")}
	ctx := t.Context()
	for round := range 5 {
		name := fmt.Sprintf("user-%d", round)
		const n = 8
		start := make(chan struct{})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = stores[i%2].CreateUser(ctx, account.User{Username: name, PasswordHash: "h" + strconv.Itoa(i), CreatedAt: t0})
			})
		}
		close(start)
		wg.Wait()
		wins, exists := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, account.ErrUserExists):
				exists++
			default:
				t.Errorf("round %d: unexpected error %v", round, err)
			}
		}
		assert.Equal(t, 1, wins, "round %d", round)
		assert.Equal(t, n-1, exists, "round %d", round)
	}
}

// waitListening waits until a store of application app holds a LISTEN
// connection.
func waitListening(t *testing.T, db *testDB, app string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		err := db.admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND query ILIKE 'LISTEN%'`, app).Scan(&n)
		return err == nil && n > 0
	}, 10*time.Second, 10*time.Millisecond, "no LISTEN connection of %s", app)
}

// waitActive waits up to within for m's active key to be kid and returns
// how long it took.
func waitActive(t *testing.T, m *keys.Manager, kid string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if a := m.Current().Active(); a != nil && a.KID == kid {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("instance B did not adopt active key %s within %s (has %s)", kid, within, m.Current().Active().KID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// notifyBound is how long a change may take to reach another instance
// through LISTEN/NOTIFY before a test fails. The figure issue 6 asks for,
// 1 s, is the latency measured and logged (t.Logf) by the tests; the bound
// asserted is looser because a loaded 2-core CI machine stalls for seconds
// at times, and it stays far below the one-minute poll of the receiving
// Manager, so only a notification can explain a change that arrives in time.
const notifyBound = 5 * time.Second

// TestKeyChangesAcrossInstances rotates on instance A and expects instance B,
// whose Manager polls only once a minute, to serve the new key within
// notifyBound (it normally takes milliseconds, logged): only LISTEN/NOTIFY
// can explain it. Then B's listener is killed with pg_terminate_backend; it
// reconnects and the next rotation arrives as fast.
func TestKeyChangesAcrossInstances(t *testing.T) {
	db := newDB(t)
	a, b := db.open(t, "jwtauth-notify-a"), db.open(t, "jwtauth-notify-b")
	gen := storetest.Generator(t)
	ctx := t.Context()
	ma, err := keys.Open(ctx, keys.Config{Store: a, Generate: gen, Logger: quiet()})
	require.NoError(t, err)
	mb, err := keys.Open(ctx, keys.Config{Store: b, Generate: gen, Logger: quiet()})
	require.NoError(t, err)
	require.Equal(t, ma.Current().Active().KID, mb.Current().Active().KID)

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { mb.Run(runCtx, time.Minute) })
	t.Cleanup(func() { stop(); wg.Wait() })
	waitListening(t, db, "jwtauth-notify-b")

	res, err := ma.Rotate(ctx, true)
	require.NoError(t, err)
	took := waitActive(t, mb, res.Promoted, notifyBound)
	t.Logf("B adopted the rotation after %s", took)

	// Kill every connection of B, the listener's included.
	require.Positive(t, db.terminate(t, "jwtauth-notify-b"))
	waitListening(t, db, "jwtauth-notify-b")
	res, err = ma.Rotate(ctx, true)
	require.NoError(t, err)
	took = waitActive(t, mb, res.Promoted, notifyBound)
	t.Logf("after the listener reconnected, B adopted the rotation after %s", took)
}

// TestNotifyPayload checks the notification itself: channel jwtauth_keys,
// the new version as payload, sent on commit only.
func TestNotifyPayload(t *testing.T) {
	db := newDB(t)
	s := db.open(t, "jwtauth-payload")
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, db.dsn(t, "jwtauth-payload-listener"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, "LISTEN "+postgres.NotifyChannel)
	require.NoError(t, err)

	// A conflicting ApplyKeys notifies nothing …
	_, err = s.ApplyKeys(ctx, 7, keys.Change{})
	require.ErrorIs(t, err, keys.ErrConflict)
	// … a committed one notifies its version. (Other tests on this database
	// notify too: look for ours.)
	v, err := s.ApplyKeys(ctx, 0, keys.Change{})
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(wctx)
	require.NoError(t, err)
	assert.Equal(t, postgres.NotifyChannel, n.Channel)
	assert.Equal(t, strconv.FormatInt(v, 10), n.Payload)
}

// commitCounter counts the key-set changes committed through it.
type commitCounter struct {
	*postgres.Store
	n *atomic.Int64
}

func (c commitCounter) ApplyKeys(ctx context.Context, expected int64, ch keys.Change) (int64, error) {
	v, err := c.Store.ApplyKeys(ctx, expected, ch)
	if err == nil {
		c.n.Add(1)
	}
	return v, err
}

// TestScheduledRotationAcrossInstances runs two Managers on two pools with a
// short rotation period: every period exactly one of them performs the
// rotation (one committed change, one retired key, activations a full
// period apart), and both serve the same active key.
func TestScheduledRotationAcrossInstances(t *testing.T) {
	db := newDB(t)
	a, b := db.open(t, "jwtauth-sched-a"), db.open(t, "jwtauth-sched-b")
	gen := storetest.Generator(t)
	ctx := t.Context()
	policy := keys.Policy{RotateEvery: 400 * time.Millisecond, Prepublish: time.Nanosecond}
	var commits atomic.Int64
	ma, err := keys.Open(ctx, keys.Config{Store: commitCounter{a, &commits}, Generate: gen, Policy: policy, Logger: quiet()})
	require.NoError(t, err)
	mb, err := keys.Open(ctx, keys.Config{Store: commitCounter{b, &commits}, Generate: gen, Policy: policy, Logger: quiet()})
	require.NoError(t, err)
	v0 := commits.Load()

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ma.Run(runCtx, 20*time.Millisecond) })
	wg.Go(func() { mb.Run(runCtx, 20*time.Millisecond) })
	// Wait (bounded) until three rotations happened: a loaded machine may
	// need more than three periods for them, and the count is not the point.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		recs, _, err := a.LoadKeys(ctx)
		require.NoError(t, err)
		if n := len(slices.DeleteFunc(recs, func(r keys.Record) bool { return r.State != keys.StateRetired })); n >= 3 {
			break
		}
	}
	stop()
	wg.Wait()

	recs, _, err := a.LoadKeys(ctx)
	require.NoError(t, err)
	v := commits.Load()
	var retired int
	var activations []time.Time
	for _, r := range recs {
		if r.State == keys.StateRetired {
			retired++
		}
		if !r.ActivatedAt.IsZero() {
			activations = append(activations, r.ActivatedAt)
		}
	}
	t.Logf("%d rotations, %d commits", retired, v-v0)
	assert.GreaterOrEqual(t, retired, 3, "three rotations within 30 s")
	assert.Equal(t, v0+int64(retired), v, "one committed change per rotation")
	slices.SortFunc(activations, func(x, y time.Time) int { return x.Compare(y) })
	for i := 1; i < len(activations); i++ {
		assert.GreaterOrEqual(t, activations[i].Sub(activations[i-1]), policy.RotateEvery,
			"two rotations within one period (activations %d and %d)", i-1, i)
	}
	_, err = ma.Refresh(ctx)
	require.NoError(t, err)
	_, err = mb.Refresh(ctx)
	require.NoError(t, err)
	assert.Equal(t, ma.Current().Active().KID, mb.Current().Active().KID)
}

// everyCall exercises each kind of store call once; it returns the first
// error.
func everyCall(ctx context.Context, s *postgres.Store, i int) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	if _, err := s.UserByName(ctx, "alice"); err != nil {
		return err
	}
	if err := s.CreateUser(ctx, account.User{Username: fmt.Sprintf("user-%d", i), PasswordHash: "h", CreatedAt: t0}); err != nil && !errors.Is(err, account.ErrUserExists) {
		return err
	}
	if _, _, err := s.LoadKeys(ctx); err != nil {
		return err
	}
	tok := fmt.Sprintf("tok-%d", i)
	if err := s.CreateRefreshToken(ctx, account.RefreshToken{Hash: hashOf(tok), FamilyID: tok, Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		return err
	}
	_, err := s.RotateRefreshToken(ctx, hashOf(tok), account.RefreshToken{Hash: hashOf(tok + "-next"), IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0)
	if errors.Is(err, account.ErrRefreshNotFound) {
		err = nil // CreateRefreshToken's error was retried … nothing to rotate
	}
	return err
}

// TestTerminatedConnections kills the pool's server processes with
// pg_terminate_backend between and during calls: each call succeeds (pgx
// dials anew) or fails with account.ErrStoreUnavailable, nothing panics,
// and the same Store works again without being reopened. While the server
// refuses the store's role any connection (too many connections, SQLSTATE
// 53300), a terminated connection cannot be replaced: then every call
// fails, and with account.ErrStoreUnavailable.
func TestTerminatedConnections(t *testing.T) {
	db := newDB(t)
	const app = "jwtauth-terminate"
	// A role of its own (not a superuser: a connection limit does not
	// bind those), so that its connections can be refused without touching
	// other tests' connections.
	role := randomName("jwtauth_term_")
	_, err := db.admin.Exec(t.Context(), "CREATE ROLE "+role+" LOGIN")
	require.NoError(t, err)
	_, err = db.admin.Exec(t.Context(), "GRANT ALL ON SCHEMA "+db.schema+" TO "+role)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = db.admin.Exec(ctx, "DROP OWNED BY "+role)
		_, _ = db.admin.Exec(ctx, "DROP ROLE "+role)
	})
	s, err := postgres.Open(t.Context(), withParams(t, db.dsn(t, app), map[string]string{"pool_max_conns": "4", "user": role}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: "h", CreatedAt: t0}))

	var failures, successes, killed int
	for i := range 30 {
		if i%3 == 0 {
			n := db.terminate(t, app)
			assert.Positive(t, n, "call %d: no connection of the store to terminate", i)
			killed += n
		}
		var err error
		assert.NotPanics(t, func() { err = everyCall(ctx, s, i) })
		if err != nil {
			failures++
			assert.ErrorIs(t, err, account.ErrStoreUnavailable, "call %d", i)
		} else {
			successes++
		}
	}
	// Terminations while calls are in flight.
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() { errs[i] = everyCall(ctx, s, 100+i) })
	}
	for range 5 {
		killed += db.terminate(t, app)
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			failures++
			assert.ErrorIs(t, err, account.ErrStoreUnavailable, "concurrent call %d", i)
		} else {
			successes++
		}
	}
	t.Logf("%d connections terminated; %d calls succeeded, %d failed with ErrStoreUnavailable", killed, successes, failures)
	assert.Equal(t, 46, successes+failures)

	// Terminated, and no new connection possible: the calls fail, each
	// with ErrStoreUnavailable (the store does not hide the outage).
	_, err = db.admin.Exec(ctx, "ALTER ROLE "+role+" CONNECTION LIMIT 0")
	require.NoError(t, err)
	assert.Positive(t, db.terminate(t, app), "no connection of the store to terminate")
	for i := range 3 {
		err := everyCall(ctx, s, 200+i)
		if assert.Error(t, err, "call %d while the server refuses connections", i) {
			assert.ErrorIs(t, err, account.ErrStoreUnavailable, "call %d while the server refuses connections", i)
		}
	}
	_, err = db.admin.Exec(ctx, "ALTER ROLE "+role+" CONNECTION LIMIT -1")
	require.NoError(t, err)
	db.terminate(t, app)
	require.NoError(t, everyCall(ctx, s, 1000), "the store did not recover")
}

// TestDatabaseOutage takes the database away (a proxy in front of it stops)
// and brings it back: calls fail fast with account.ErrStoreUnavailable while
// it is gone and work again, through the same Store, once it is back.
func TestDatabaseOutage(t *testing.T) {
	db := newDB(t)
	p := newProxy(t)
	host, port, err := net.SplitHostPort(p.Addr())
	require.NoError(t, err)
	dsn := withParams(t, db.dsn(t, "jwtauth-outage"), map[string]string{"host": host, "port": port, "connect_timeout": "2"})
	s, err := postgres.Open(t.Context(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: "h", CreatedAt: t0}))

	p.Down()
	for i := range 5 {
		start := time.Now()
		err := everyCall(ctx, s, i)
		require.ErrorIs(t, err, account.ErrStoreUnavailable, "call %d while the database is down", i)
		assert.Less(t, time.Since(start), 3*time.Second, "a call hung while the database is down")
	}
	require.ErrorIs(t, s.Ping(ctx), account.ErrStoreUnavailable)

	p.Up()
	require.Eventually(t, func() bool { return s.Ping(ctx) == nil }, 10*time.Second, 20*time.Millisecond, "no recovery")
	require.NoError(t, everyCall(ctx, s, 100))
	u, err := s.UserByName(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, "h", u.PasswordHash)
}

// TestOpenErrors covers the start-up failures an operator meets: each error
// says what is wrong and never shows the password.
func TestOpenErrors(t *testing.T) {
	const pw = "s3cret-Pa55"
	t.Run("DSNDoesNotParse", func(t *testing.T) {
		for _, dsn := range []string{
			"postgres://app:" + pw + "@db.example:notaport/auth",
			"postgres://app:" + pw + "@[::1/auth",
			"host=db.example port=x password=" + pw + " dbname=auth",
			"host=db.example password='" + pw + "' sslmode=bogus",
			"postgres://app:" + pw + "@db.example/auth?sslmode=bogus",
		} {
			_, err := postgres.Open(t.Context(), dsn)
			require.Error(t, err, "%s", dsn)
			assert.ErrorIs(t, err, postgres.ErrInvalidDSN, "%s", dsn)
			assert.NotContains(t, err.Error(), pw, "the error shows the password")
			assert.NotErrorIs(t, err, account.ErrStoreUnavailable)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		start := time.Now()
		_, err := postgres.Open(t.Context(), "postgres://app:"+pw+"@127.0.0.1:1/auth?connect_timeout=3")
		require.ErrorIs(t, err, account.ErrStoreUnavailable)
		assert.NotContains(t, err.Error(), pw)
		assert.Contains(t, err.Error(), "cannot reach")
		assert.Less(t, time.Since(start), 5*time.Second)
	})
}

// TestOpenRejected covers a server that answers but refuses: an unknown
// role, a database that does not exist, a role without the privileges to
// create the tables — and that a role with table privileges only can run on
// a schema an owner migrated.
func TestOpenRejected(t *testing.T) {
	db := newDB(t)
	ctx := t.Context()
	t.Run("UnknownRole", func(t *testing.T) {
		_, err := postgres.Open(ctx, withParams(t, db.dsn(t, "x"), map[string]string{"user": "no_such_role_jwtauth"}))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "rejected the login")
	})
	t.Run("UnknownDatabase", func(t *testing.T) {
		cfg, err := pgx.ParseConfig(db.base)
		require.NoError(t, err)
		dsn := fmt.Sprintf("host=%s port=%d user=%s dbname=no_such_db_jwtauth sslmode=disable", cfg.Host, cfg.Port, cfg.User)
		_, err = postgres.Open(ctx, dsn)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "does not exist")
	})
	t.Run("NoPrivileges", func(t *testing.T) {
		role := randomName("jwtauth_test_role_")
		_, err := db.admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN")
		require.NoError(t, err)
		t.Cleanup(func() {
			c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = db.admin.Exec(c, "REVOKE ALL ON ALL TABLES IN SCHEMA "+db.schema+" FROM "+role)
			_, _ = db.admin.Exec(c, "REVOKE ALL ON SCHEMA "+db.schema+" FROM "+role)
			_, _ = db.admin.Exec(c, "DROP ROLE IF EXISTS "+role)
		})
		dsn := withParams(t, db.dsn(t, "jwtauth-noperm"), map[string]string{"user": role})

		_, err = postgres.Open(ctx, dsn)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "GRANT USAGE, CREATE ON SCHEMA")
		assert.NotErrorIs(t, err, account.ErrStoreUnavailable)

		_, err = db.admin.Exec(ctx, "GRANT USAGE ON SCHEMA "+db.schema+" TO "+role)
		require.NoError(t, err)
		_, err = postgres.Open(ctx, dsn)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "lacks the privileges")
		assert.NotErrorIs(t, err, account.ErrStoreUnavailable)

		// An owner migrates; the role gets table privileges only and runs.
		owner := db.open(t, "jwtauth-owner")
		require.NoError(t, owner.Close())
		_, err = db.admin.Exec(ctx, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "+db.schema+" TO "+role)
		require.NoError(t, err)
		s, err := postgres.Open(ctx, dsn)
		require.NoError(t, err)
		defer s.Close()
		require.NoError(t, s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: "h", CreatedAt: t0}))
	})
}

// TestSchemaNewerThanBinary: a database migrated by a newer jwtauth is
// refused, with a message that says to upgrade, and left untouched.
func TestSchemaNewerThanBinary(t *testing.T) {
	db := newDB(t)
	ctx := t.Context()
	s := db.open(t, "jwtauth-newer")
	require.NoError(t, s.Close())
	newer := postgres.SchemaVersion() + 1
	_, err := db.admin.Exec(ctx, "INSERT INTO "+db.schema+".jwtauth_schema_migrations (version, name) VALUES ($1, 'from the future')", newer)
	require.NoError(t, err)

	_, err = postgres.Open(ctx, db.dsn(t, "jwtauth-newer"))
	require.ErrorIs(t, err, postgres.ErrSchemaTooNew)
	assert.Contains(t, err.Error(), fmt.Sprintf("schema version %d", newer))
	assert.Contains(t, err.Error(), "upgrade")
	var max int
	require.NoError(t, db.admin.QueryRow(ctx, "SELECT max(version) FROM "+db.schema+".jwtauth_schema_migrations").Scan(&max))
	assert.Equal(t, newer, max)
}

// TestConcurrentOpenMigratesOnce starts several instances on an empty schema
// at once: the advisory lock lets one migrate, and all of them open.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	db := newDB(t)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := postgres.Open(t.Context(), db.dsn(t, "jwtauth-migrate"))
			if err == nil {
				err = s.Ping(t.Context())
				s.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "instance %d", i)
	}
	var rows, version int
	require.NoError(t, db.admin.QueryRow(t.Context(), "SELECT count(*), max(version) FROM "+db.schema+".jwtauth_schema_migrations").Scan(&rows, &version))
	assert.Equal(t, postgres.SchemaVersion(), rows)
	assert.Equal(t, postgres.SchemaVersion(), version)
}

// TestKeyChangesClosed: the channel closes with its context and with the store.
func TestKeyChangesClosed(t *testing.T) {
	db := newDB(t)
	s := db.open(t, "jwtauth-kc")
	ctx, cancel := context.WithCancel(t.Context())
	ch := s.KeyChanges(ctx)
	cancel()
	for range ch { // drains a pending signal, ends when closed
	}
	ch = s.KeyChanges(t.Context())
	require.NoError(t, s.Close())
	for range ch {
	}
	_, ok := <-s.KeyChanges(t.Context())
	assert.False(t, ok, "KeyChanges of a closed store")
}

// TestConformanceShared runs the suite's races over two stores on one
// schema, two pools as two server instances have.
func TestConformanceShared(t *testing.T) {
	baseDSN(t)
	storetest.RunShared(t, func(t *testing.T) (account.Store, account.Store) {
		db := newDB(t)
		return db.open(t, "jwtauth-shared-a"), db.open(t, "jwtauth-shared-b")
	})
}

// TestMigrationRefreshFamilies upgrades a schema-1 database holding a
// family that a logout racing a refresh left half revoked (a revoked used
// token, a live successor) and a token valid for longer than the family
// lifetime: the migration revokes the family whole and caps the token at
// 90 days after its family's first token.
func TestMigrationRefreshFamilies(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	schema1, err := os.ReadFile(filepath.Join("migrations", "0001_init.sql"))
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, db.dsn(t, "jwtauth-legacy"))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, string(schema1))
	require.NoError(t, err)
	ns := func(tm time.Time) int64 { return tm.UnixNano() }
	const day = 24 * time.Hour
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (username, password_hash, created_at) VALUES ('alice', 'h', $1)`, []any{ns(t0)}},
		{`INSERT INTO refresh_tokens (hash, family_id, username, issued_at, expires_at, used_at, revoked_at) VALUES ($1, 'fam-leak', 'alice', $2, $3, $4, $5)`,
			[]any{hashOf("r1"), ns(t0), ns(t0.Add(30 * day)), ns(t0.Add(time.Hour)), ns(t0.Add(time.Hour))}},
		{`INSERT INTO refresh_tokens (hash, family_id, parent_hash, username, issued_at, expires_at) VALUES ($1, 'fam-leak', $2, 'alice', $3, $4)`,
			[]any{hashOf("s1"), hashOf("r1"), ns(t0.Add(time.Hour)), ns(t0.Add(30*day + time.Hour))}},
		{`INSERT INTO refresh_tokens (hash, family_id, username, issued_at, expires_at) VALUES ($1, 'fam-long', 'alice', $2, $3)`,
			[]any{hashOf("l1"), ns(t0), ns(t0.Add(100 * day))}},
		{`CREATE TABLE jwtauth_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`, nil},
		{`INSERT INTO jwtauth_schema_migrations (version, name) VALUES (1, '0001_init.sql')`, nil},
	} {
		_, err := conn.Exec(ctx, q.sql, q.args...)
		require.NoError(t, err, q.sql)
	}

	s := db.open(t, "jwtauth-upgraded")
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
	var version int
	require.NoError(t, conn.QueryRow(ctx, `SELECT max(version) FROM jwtauth_schema_migrations`).Scan(&version))
	assert.Equal(t, postgres.SchemaVersion(), version)
}

// TestOpenReadOnlyCreatesNothing: what `jwtauth keys list` opens. On an
// empty database it refuses with ErrNoSchema and creates no table (Open
// used to create all of them first); on jwtauth's schema it reads and
// cannot write.
func TestOpenReadOnlyCreatesNothing(t *testing.T) {
	d := newDB(t)
	ctx := t.Context()
	tables := func() int {
		var n int
		require.NoError(t, d.admin.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, d.schema).Scan(&n))
		return n
	}
	_, err := postgres.OpenReadOnly(ctx, d.dsn(t, "jwtauth-ro"))
	require.ErrorIs(t, err, postgres.ErrNoSchema)
	assert.Zero(t, tables(), "a read-only open created tables")

	rw := d.open(t, "jwtauth-rw")
	v, err := rw.ApplyKeys(ctx, 0, keys.Change{Put: []keys.Record{{KID: "kid-a", State: keys.StateActive, Bits: 2048, PrivateKey: []byte{0x30}, CreatedAt: t0}}})
	require.NoError(t, err)
	n := tables()
	ro, err := postgres.OpenReadOnly(ctx, d.dsn(t, "jwtauth-ro"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = ro.Close() })
	recs, got, err := ro.LoadKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, v, got)
	require.Len(t, recs, 1)
	_, err = ro.ApplyKeys(ctx, v, keys.Change{})
	require.Error(t, err, "a read-only store wrote")
	assert.Equal(t, n, tables())
}

// TestSharedThrottle runs three Accounts on three pools on one schema, as
// three servers have: the login budgets hold for all of them together.
func TestSharedThrottle(t *testing.T) {
	db := newDB(t)
	storetest.SharedThrottle(t, []account.Store{db.open(t, "jwtauth-a"), db.open(t, "jwtauth-b"), db.open(t, "jwtauth-c")})
}

// TestMigrationScheduleRetain upgrades a schema-4 database whose servers
// stored their schedule before retention was part of it: the schedule
// reads back with Retain zero (unknown), and a server then stores it whole.
func TestMigrationScheduleRetain(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	conn, err := pgx.Connect(ctx, db.dsn(t, "jwtauth-legacy"))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, `CREATE TABLE jwtauth_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`)
	require.NoError(t, err)
	for i, f := range []string{"0001_init.sql", "0002_refresh_families.sql", "0003_schedule.sql", "0004_throttle.sql"} {
		b, err := os.ReadFile(filepath.Join("migrations", f))
		require.NoError(t, err)
		_, err = conn.Exec(ctx, string(b))
		require.NoError(t, err, f)
		_, err = conn.Exec(ctx, `INSERT INTO jwtauth_schema_migrations (version, name) VALUES ($1, $2)`, i+1, f)
		require.NoError(t, err)
	}
	_, err = conn.Exec(ctx, `UPDATE key_set_version SET rotate_every = $1, prepublish = $2 WHERE id = 1`, int64(24*time.Hour), int64(5*time.Second))
	require.NoError(t, err)

	s := db.open(t, "jwtauth-upgraded")
	got, err := s.LoadSchedule(ctx)
	require.NoError(t, err)
	assert.Equal(t, keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 5 * time.Second}, got)
	want := keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 5 * time.Second, Retain: 2*time.Minute + 30*time.Second}
	require.NoError(t, s.SaveSchedule(ctx, want))
	got, err = s.LoadSchedule(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	var version int
	require.NoError(t, conn.QueryRow(ctx, `SELECT max(version) FROM jwtauth_schema_migrations`).Scan(&version))
	assert.Equal(t, postgres.SchemaVersion(), version)
}
