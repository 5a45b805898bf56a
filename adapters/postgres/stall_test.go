package postgres_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/postgres"
	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// TestFrozenDatabaseWritesRollBack stalls the path to the database (a proxy
// that stops forwarding without closing anything, as a stopped middlebox
// does) while a write is in flight. The write fails when its context ends
// instead of hanging, and when the stall ends and the queued bytes reach
// the server, nothing of it commits: the caller was told it failed.
//
// Each case runs on a store with one connection on which the same
// statement already ran, so that pgx has it prepared and sends it at once:
// an implicit transaction sent into the stall committed when it ended.
func TestFrozenDatabaseWritesRollBack(t *testing.T) {
	db := newDB(t)
	setup := db.open(t, "jwtauth-frozen-setup")
	ctx := t.Context()
	require.NoError(t, setup.CreateUser(ctx, account.User{Username: "alice", PasswordHash: "h", CreatedAt: t0}))
	tok := func(name string) account.RefreshToken {
		return account.RefreshToken{Hash: hashOf(name), FamilyID: name, Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	}
	for _, name := range []string{"rotate-live", "rotate-warm", "revoke-live", "revoke-warm"} {
		require.NoError(t, setup.CreateRefreshToken(ctx, tok(name)))
	}
	p := newProxy(t)
	host, port, err := net.SplitHostPort(p.Addr())
	require.NoError(t, err)

	count := func(sql string, args ...any) int {
		var n int
		require.NoError(t, db.admin.QueryRow(ctx, sql, args...).Scan(&n))
		return n
	}
	cases := []struct {
		name string
		// call runs the write; warm runs it once before the stall.
		call, warm func(context.Context, *postgres.Store) error
		// committed counts what call left in the database.
		committed func() int
	}{{
		name: "register",
		warm: func(ctx context.Context, s *postgres.Store) error {
			return s.CreateUser(ctx, account.User{Username: "warm", PasswordHash: "h", CreatedAt: t0})
		},
		call: func(ctx context.Context, s *postgres.Store) error {
			return s.CreateUser(ctx, account.User{Username: "bob", PasswordHash: "h", CreatedAt: t0})
		},
		committed: func() int { return count(`SELECT count(*) FROM ` + db.schema + `.users WHERE username = 'bob'`) },
	}, {
		name: "rehash",
		warm: func(ctx context.Context, s *postgres.Store) error { return s.UpdatePasswordHash(ctx, "alice", "h") },
		call: func(ctx context.Context, s *postgres.Store) error { return s.UpdatePasswordHash(ctx, "alice", "h2") },
		committed: func() int {
			return count(`SELECT count(*) FROM ` + db.schema + `.users WHERE username = 'alice' AND password_hash = 'h2'`)
		},
	}, {
		name: "login refresh token",
		warm: func(ctx context.Context, s *postgres.Store) error {
			return s.CreateRefreshToken(ctx, tok("create-warm"))
		},
		call: func(ctx context.Context, s *postgres.Store) error {
			return s.CreateRefreshToken(ctx, tok("create-live"))
		},
		committed: func() int {
			return count(`SELECT count(*) FROM `+db.schema+`.refresh_tokens WHERE hash = $1`, hashOf("create-live"))
		},
	}, {
		name: "refresh",
		warm: func(ctx context.Context, s *postgres.Store) error {
			_, err := s.RotateRefreshToken(ctx, hashOf("rotate-warm"), tok("rotate-warm-next"), t0)
			return err
		},
		call: func(ctx context.Context, s *postgres.Store) error {
			_, err := s.RotateRefreshToken(ctx, hashOf("rotate-live"), tok("rotate-live-next"), t0)
			return err
		},
		committed: func() int {
			return count(`SELECT count(*) FROM `+db.schema+`.refresh_tokens WHERE hash = $1 AND used_at IS NOT NULL OR hash = $2`,
				hashOf("rotate-live"), hashOf("rotate-live-next"))
		},
	}, {
		name: "logout",
		warm: func(ctx context.Context, s *postgres.Store) error {
			_, err := s.RevokeRefreshFamily(ctx, hashOf("revoke-warm"), t0)
			return err
		},
		call: func(ctx context.Context, s *postgres.Store) error {
			_, err := s.RevokeRefreshFamily(ctx, hashOf("revoke-live"), t0)
			return err
		},
		committed: func() int {
			return count(`SELECT count(*) FROM `+db.schema+`.refresh_tokens WHERE hash = $1 AND revoked_at IS NOT NULL`, hashOf("revoke-live"))
		},
	}}
	const deadline = time.Second
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := randomName("jwtauth_frozen_")
			s, err := postgres.Open(ctx, withParams(t, db.dsn(t, app), map[string]string{"host": host, "port": port, "pool_max_conns": "1"}))
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, tc.warm(ctx, s))
			var pid int
			require.NoError(t, db.admin.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&pid))

			p.Freeze()
			cctx, cancel := context.WithTimeout(ctx, deadline)
			start := time.Now()
			err = tc.call(cctx, s)
			took := time.Since(start)
			cancel()
			p.Thaw()
			require.Error(t, err, "a write through a frozen path succeeded")
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			t.Logf("failed after %s with a deadline of %s: %v", took.Round(time.Millisecond), deadline, err)
			assert.Less(t, took, deadline+10*time.Second, "the write outlived its context by far")

			// The server process of the abandoned connection ends once the
			// queued bytes and the close reached it: by then its
			// transaction committed or rolled back.
			require.Eventually(t, func() bool {
				return count(`SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid) == 0
			}, 20*time.Second, 20*time.Millisecond, "the server process of the abandoned connection lives on")
			assert.Zero(t, tc.committed(), "the abandoned write committed after the stall")
			require.NoError(t, s.Ping(ctx), "the store recovers after the stall")
		})
	}
}
