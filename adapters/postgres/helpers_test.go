package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/postgres"
	"github.com/jwtauth/jwtauth/adapters/postgres/pgtest"
)

// dsnEnv names the variable with the DSN of the test database; each test
// works in a schema of its own inside it.
const dsnEnv = "JWTAUTH_TEST_POSTGRES_DSN"

// requireEnv, set to 1 (as .ci/run does), turns the skip without dsnEnv into
// a failure, so that CI cannot pass without running these tests.
const requireEnv = "JWTAUTH_REQUIRE_POSTGRES"

// baseDSN returns the test database's DSN or skips the test.
func baseDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		if os.Getenv(requireEnv) == "1" {
			tb.Fatalf("%s=1 but %s is not set: the PostgreSQL tests must run", requireEnv, dsnEnv)
		}
		tb.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", dsnEnv)
	}
	return dsn
}

// withParams returns dsn with the given connection parameters set, for URL
// and key=value DSNs alike.
func withParams(tb testing.TB, dsn string, params map[string]string) string {
	tb.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		require.NoError(tb, err)
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		dsn += " " + k + "=" + v
	}
	return dsn
}

// admin connects to the test database outside any store, for setup and for
// terminating a store's connections.
func admin(tb testing.TB) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), baseDSN(tb))
	require.NoError(tb, err, "connect to %s", dsnEnv)
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// testDB is one schema of the test database, dropped when the test ends.
type testDB struct {
	schema string
	admin  *pgx.Conn
	base   string
}

// newDB creates a fresh schema for one test.
func newDB(tb testing.TB) *testDB {
	tb.Helper()
	base := baseDSN(tb)
	conn := admin(tb)
	schema := randomName("jwtauth_test_")
	_, err := conn.Exec(tb.Context(), "CREATE SCHEMA "+schema)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	return &testDB{schema: schema, admin: conn, base: base}
}

// dsn returns a DSN whose connections use the test's schema and carry app as
// their application_name (so a test can find them in pg_stat_activity).
func (d *testDB) dsn(tb testing.TB, app string) string {
	return withParams(tb, d.base, map[string]string{"search_path": d.schema, "application_name": app})
}

// open opens a store on the test's schema, closed when the test ends.
func (d *testDB) open(tb testing.TB, app string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), withParams(tb, d.dsn(tb, app), map[string]string{"pool_max_conns": "4"}))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// terminate ends every server process of application app and returns how
// many it ended, as an operator's pg_terminate_backend or a failover would.
func (d *testDB) terminate(tb testing.TB, app string) int {
	tb.Helper()
	var n int
	require.NoError(tb, d.admin.QueryRow(tb.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n))
	return n
}

// newProxy starts a proxy to the test database's host and port.
func newProxy(tb testing.TB) *pgtest.Proxy {
	tb.Helper()
	cfg, err := pgx.ParseConfig(baseDSN(tb))
	require.NoError(tb, err)
	return pgtest.NewProxy(tb, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
}
