package memory

import (
	"context"
	"math"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

var _ account.ThrottleDeleteStore = (*Store)(nil)

// throttleBucket is one token bucket of the login throttle: tokens at time
// at, and the time it is full again.
type throttleBucket struct {
	tokens float64
	at     int64 // Unix nanoseconds
	full   int64 // Unix nanoseconds
}

// available returns b's tokens at now (Unix nanoseconds) for bucket shape k:
// its tokens plus those that came back since at, at most k.Burst.
func available(b *throttleBucket, k account.ThrottleBucket, now int64) float64 {
	if now <= b.at {
		return b.tokens
	}
	return min(float64(k.Burst), b.tokens+float64(now-b.at)/float64(k.Every))
}

// set stores tokens at time at (the later of b.at and now) and the time b
// is full again.
func (b *throttleBucket) set(k account.ThrottleBucket, tokens float64, now int64) {
	b.tokens, b.at = tokens, max(b.at, now)
	b.full = b.at + int64(math.Ceil((float64(k.Burst)-tokens)*float64(k.Every)))
}

// TakeThrottle implements account.ThrottleStore in process, under the
// store's mutex.
func (s *Store) TakeThrottle(ctx context.Context, now time.Time, buckets []account.ThrottleBucket) (time.Duration, error) {
	if err := s.lock(ctx, "take throttle"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if s.throttle == nil {
		s.throttle = map[[2]string]*throttleBucket{}
	}
	n := now.UnixNano()
	for _, k := range buckets {
		b, ok := s.throttle[[2]string{k.Kind, k.Key}]
		if !ok {
			b = &throttleBucket{tokens: float64(k.Burst), at: n}
			s.throttle[[2]string{k.Kind, k.Key}] = b
		}
		avail := available(b, k, n)
		if avail < 1 {
			return time.Duration(math.Ceil((1 - avail) * float64(k.Every))), nil
		}
		b.set(k, avail-1, n)
	}
	return 0, nil
}

// RefundThrottle implements account.ThrottleStore.
func (s *Store) RefundThrottle(ctx context.Context, now time.Time, buckets []account.ThrottleBucket) error {
	if err := s.lock(ctx, "refund throttle"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	n := now.UnixNano()
	for _, k := range buckets {
		if b, ok := s.throttle[[2]string{k.Kind, k.Key}]; ok {
			b.set(k, min(float64(k.Burst), available(b, k, n)+1), n)
		}
	}
	return nil
}

// PurgeThrottle implements account.ThrottleStore.
func (s *Store) PurgeThrottle(ctx context.Context, now time.Time) (int64, error) {
	if err := s.lock(ctx, "purge throttle"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	var n int64
	for k, b := range s.throttle {
		if b.full <= now.UnixNano() {
			delete(s.throttle, k)
			n++
		}
	}
	return n, nil
}

// DeleteThrottle implements account.ThrottleDeleteStore.
func (s *Store) DeleteThrottle(ctx context.Context, buckets []account.ThrottleBucket) error {
	if err := s.lock(ctx, "delete throttle"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, k := range buckets {
		delete(s.throttle, [2]string{k.Kind, k.Key})
	}
	return nil
}
