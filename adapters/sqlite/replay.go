package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

var _ dpop.ReplayCache = (*Store)(nil)

// replaySweepEvery is how many Seen calls of a Store record a proof
// between two deletions of the expired rows of dpop_proofs: the table holds
// at most the proofs accepted within one IATWindow (of every process on the
// file) and the rows recorded since the last sweep.
var replaySweepEvery uint64 = 1000

// Seen implements dpop.ReplayCache on the table dpop_proofs, shared by every
// process on the file: one BEGIN IMMEDIATE transaction inserts key until
// expires, or renews a record that expired before now (INSERT … ON CONFLICT
// DO UPDATE … WHERE expires_at < now); no row changed means the key was
// seen. Every replaySweepEvery-th call first deletes the expired rows. A
// done ctx fails with its error, a closed or unusable store with an error
// wrapping account.ErrStoreUnavailable; both record nothing. A zero time or
// one outside the years 1678 to 2262 is an error.
func (s *Store) Seen(ctx context.Context, key string, expires, now time.Time) (bool, error) {
	const op = "dpop replay cache"
	exp, err := encTime(expires)
	if err != nil || exp == nil {
		return false, fmt.Errorf("sqlite: %s: expiry %v: %w", op, expires, errTimeRange)
	}
	at, err := encTime(now)
	if err != nil || at == nil {
		return false, fmt.Errorf("sqlite: %s: now %v: %w", op, now, errTimeRange)
	}
	var seen bool
	err = s.write(ctx, op, func(tx *sql.Tx) error {
		if s.replayInserts.Add(1)%replaySweepEvery == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM dpop_proofs WHERE expires_at < ?`, at); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO dpop_proofs (key, expires_at) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_proofs.expires_at < ?`, key, exp, at)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		seen = n == 0
		return err
	})
	if err != nil {
		return false, err
	}
	return seen, nil
}
