package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

var _ account.ThrottleStore = (*Store)(nil)

// available returns the tokens of a bucket holding tokens at time at, at
// now (Unix nanoseconds), for shape k: at most k.Burst.
func available(k account.ThrottleBucket, tokens float64, at, now int64) float64 {
	if now <= at {
		return tokens
	}
	return min(float64(k.Burst), tokens+float64(now-at)/float64(k.Every))
}

// putBucket stores tokens at time at (the later of at and now) with the
// time the bucket is full again.
func putBucket(ctx context.Context, tx *sql.Tx, k account.ThrottleBucket, tokens float64, at, now int64) error {
	at = max(at, now)
	full := at + int64(math.Ceil((float64(k.Burst)-tokens)*float64(k.Every)))
	_, err := tx.ExecContext(ctx, `INSERT INTO throttle_buckets (kind, key, tokens, at, full_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, key) DO UPDATE SET tokens = excluded.tokens, at = excluded.at, full_at = excluded.full_at`,
		k.Kind, k.Key, tokens, at, full)
	return err
}

// getBucket returns a bucket's tokens and time; ok is false when absent.
func getBucket(ctx context.Context, tx *sql.Tx, k account.ThrottleBucket) (tokens float64, at int64, ok bool, err error) {
	err = tx.QueryRowContext(ctx, `SELECT tokens, at FROM throttle_buckets WHERE kind = ? AND key = ?`, k.Kind, k.Key).Scan(&tokens, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	return tokens, at, err == nil, err
}

// TakeThrottle implements account.ThrottleStore in one BEGIN IMMEDIATE
// transaction, so that it is atomic across every process on the file.
func (s *Store) TakeThrottle(ctx context.Context, now time.Time, buckets []account.ThrottleBucket) (time.Duration, error) {
	var wait time.Duration
	n := now.UnixNano()
	err := s.write(ctx, "take throttle", func(tx *sql.Tx) error {
		wait = 0
		for _, k := range buckets {
			tokens, at, ok, err := getBucket(ctx, tx, k)
			if err != nil {
				return err
			}
			if !ok {
				tokens, at = float64(k.Burst), n
			}
			avail := available(k, tokens, at, n)
			if avail < 1 {
				wait = time.Duration(math.Ceil((1 - avail) * float64(k.Every)))
				return nil
			}
			if err := putBucket(ctx, tx, k, avail-1, at, n); err != nil {
				return err
			}
		}
		return nil
	})
	return wait, err
}

// RefundThrottle implements account.ThrottleStore in one BEGIN IMMEDIATE
// transaction.
func (s *Store) RefundThrottle(ctx context.Context, now time.Time, buckets []account.ThrottleBucket) error {
	n := now.UnixNano()
	return s.write(ctx, "refund throttle", func(tx *sql.Tx) error {
		for _, k := range buckets {
			tokens, at, ok, err := getBucket(ctx, tx, k)
			if err != nil {
				return err
			}
			if ok {
				if err := putBucket(ctx, tx, k, min(float64(k.Burst), available(k, tokens, at, n)+1), at, n); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// PurgeThrottle implements account.ThrottleStore.
func (s *Store) PurgeThrottle(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, "purge throttle", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM throttle_buckets WHERE full_at <= ?`, now.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
