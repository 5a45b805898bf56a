package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

var _ account.ThrottleStore = (*Store)(nil)

// throttleArgs returns the arrays of the throttle functions' arguments.
func throttleArgs(buckets []account.ThrottleBucket) (kinds, keys []string, bursts, everys []int64) {
	for _, b := range buckets {
		kinds = append(kinds, b.Kind)
		keys = append(keys, b.Key)
		bursts = append(bursts, int64(b.Burst))
		everys = append(everys, int64(b.Every))
	}
	return kinds, keys, bursts, everys
}

// statement runs fn, one statement in an implicit transaction of its own,
// and wraps its error with op. It runs fn again (maxAttempts in all) only
// when the statement cannot have taken effect: pgx never sent it, or the
// server rolled it back as a deadlock's victim.
//
// The throttle's statements run this way, unlike the store's other writes
// (see write), so that a login costs one round trip: a take sent to a
// stalled server may still commit after the caller gave up, which spends
// at most one token of an attempt that was refused with 503 anyway.
func (s *Store) statement(ctx context.Context, op string, fn func() error) error {
	if err := s.check(ctx, op); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		retry := pgconn.SafeToRetry(err) || pgCode(err) == "40P01"
		s.lost(err)
		if attempt < maxAttempts && retry && ctx.Err() == nil && !s.closed.Load() {
			continue
		}
		return s.fail(op, err)
	}
}

// TakeThrottle implements account.ThrottleStore in one statement (the
// function throttle_take of migration 0004), which locks the buckets' rows
// in the order given, so it is atomic across every instance on the
// database.
func (s *Store) TakeThrottle(ctx context.Context, now time.Time, buckets []account.ThrottleBucket) (time.Duration, error) {
	kinds, keys, bursts, everys := throttleArgs(buckets)
	var wait int64
	err := s.statement(ctx, "take throttle", func() error {
		return s.pool.QueryRow(ctx, `SELECT throttle_take($1, $2, $3, $4, $5)`,
			kinds, keys, bursts, everys, now.UnixNano()).Scan(&wait)
	})
	return time.Duration(wait), err
}

// RefundThrottle implements account.ThrottleStore in one statement (the
// function throttle_refund of migration 0004).
func (s *Store) RefundThrottle(ctx context.Context, now time.Time, buckets []account.ThrottleBucket) error {
	kinds, keys, bursts, everys := throttleArgs(buckets)
	return s.statement(ctx, "refund throttle", func() error {
		_, err := s.pool.Exec(ctx, `SELECT throttle_refund($1, $2, $3, $4, $5)`,
			kinds, keys, bursts, everys, now.UnixNano())
		return err
	})
}

// PurgeThrottle implements account.ThrottleStore. It skips rows a take or
// refund holds locked (they are in use, not full), so it never waits for
// nor deadlocks with a login.
func (s *Store) PurgeThrottle(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.statement(ctx, "purge throttle", func() error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM throttle_buckets WHERE (kind, key) IN (
				SELECT kind, key FROM throttle_buckets WHERE full_at <= $1 FOR UPDATE SKIP LOCKED)`, now.UnixNano())
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
