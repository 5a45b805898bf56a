package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// SchemaDSN returns a DSN for a fresh schema, named prefix + 12 random hex
// digits, of the test database that JWTAUTH_TEST_POSTGRES_DSN names; the
// schema is dropped when the test ends. Without that variable the test is
// skipped, or fails when JWTAUTH_REQUIRE_POSTGRES=1 (as in CI).
func SchemaDSN(tb testing.TB, prefix string) string {
	tb.Helper()
	base := os.Getenv("JWTAUTH_TEST_POSTGRES_DSN")
	if base == "" {
		if os.Getenv("JWTAUTH_REQUIRE_POSTGRES") == "1" {
			tb.Fatal("JWTAUTH_REQUIRE_POSTGRES=1 but JWTAUTH_TEST_POSTGRES_DSN is not set: the PostgreSQL tests must run")
		}
		tb.Skip("PostgreSQL tests skipped: set JWTAUTH_TEST_POSTGRES_DSN (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	u, err := url.Parse(base)
	require.NoError(tb, err, "JWTAUTH_TEST_POSTGRES_DSN must be a postgres:// URL")
	conn, err := pgx.Connect(tb.Context(), base)
	require.NoError(tb, err)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := prefix + hex.EncodeToString(b)
	_, err = conn.Exec(tb.Context(), "CREATE SCHEMA "+schema)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(ctx)
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
