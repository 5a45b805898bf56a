package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

var _ dpop.ReplayCache = (*Store)(nil)

// replaySweepEvery is how many Seen calls of a Store record a proof
// between two deletions of the expired rows of dpop_proofs: the table holds
// at most the proofs accepted within one IATWindow (of every instance on
// the database) and the rows recorded since the last sweeps.
var replaySweepEvery uint64 = 1000

// Seen implements dpop.ReplayCache on the table dpop_proofs, shared by every
// instance on the database, in one statement (one round trip): it inserts
// key until expires, or renews a record that expired before now (INSERT …
// ON CONFLICT DO UPDATE … WHERE expires_at < now, atomic under concurrent
// inserts of the same key); no row changed means the key was seen. Every
// replaySweepEvery-th call also deletes the expired rows no other statement
// holds (FOR UPDATE SKIP LOCKED), in the same statement.
//
// A done ctx fails with its error, a closed or unreachable database with an
// error wrapping account.ErrStoreUnavailable. Like the throttle's, the
// statement runs in an implicit transaction: one sent to a stalled server
// may still commit after the caller answered 503, recording a proof that
// was refused, which its client must not send again anyway (RFC 9449
// §11.1: a fresh proof for every request). A zero time or one outside the
// years 1678 to 2262 is an error.
func (s *Store) Seen(ctx context.Context, key string, expires, now time.Time) (bool, error) {
	const op = "dpop replay cache"
	exp, err := encTime(expires)
	if err != nil || exp == nil {
		return false, fmt.Errorf("postgres: %s: expiry %v: %w", op, expires, errTimeRange)
	}
	at, err := encTime(now)
	if err != nil || at == nil {
		return false, fmt.Errorf("postgres: %s: now %v: %w", op, now, errTimeRange)
	}
	sweep := s.replayInserts.Add(1)%replaySweepEvery == 0
	var seen bool
	err = s.statement(ctx, op, func() error {
		// The sweep leaves key's own row alone: the INSERT decides it.
		tag, err := s.pool.Exec(ctx, `WITH swept AS (
				DELETE FROM dpop_proofs WHERE key IN (
					SELECT key FROM dpop_proofs WHERE $4 AND expires_at < $3 AND key <> $1 FOR UPDATE SKIP LOCKED))
			INSERT INTO dpop_proofs AS p (key, expires_at) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE p.expires_at < $3`,
			key, exp, at, sweep)
		seen = err == nil && tag.RowsAffected() == 0
		return err
	})
	if err != nil {
		return false, err
	}
	return seen, nil
}
