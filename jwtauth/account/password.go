package account

import (
	"context"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
)

// loginCheck is the outcome of checkPassword.
type loginCheck struct {
	ok bool
	// rehash, when ok and the stored hash was legacy, is the password hashed
	// with the current parameters, to store in its place.
	rehash    string
	rehashErr error
	// pad, when not ok, is how long the failure must still wait, after the
	// hash slot is released, to cost what a failure on a legacy hash costs.
	pad time.Duration
	// err is set when the stored hash is malformed (it never matches).
	err error
}

// checkPassword checks the password of one login attempt against stored,
// the user's hash, or "" when there is no such user, so that a failure
// costs the same whatever the stored hash is, and so cannot tell which
// users exist:
//
//   - Every attempt runs exactly one argon2id computation with the current
//     parameters: the user's own hash when it has them, else the dummy hash
//     (no user, a malformed hash, a password over bcrypt's 72 bytes that
//     can never match), and after a legacy hash (bcrypt, or argon2id with
//     other parameters) either the dummy (wrong password) or the rehash
//     with the current parameters (right password).
//   - A legacy hash costs its own verification on top, which nothing else
//     can match computationally (bcrypt cost 10 takes about twice the
//     default argon2id). Its time is measured (a streaming median), and every
//     failure that did not verify a legacy hash waits that long after
//     releasing its hash slot: a sleep, which costs no CPU and holds no
//     slot. Successes do not wait (the password was right).
//
// Until the first legacy hash has been verified after a start, the estimate
// is zero and that first failure is the slower one.
func (a *Accounts) checkPassword(stored, password string) loginCheck {
	switch {
	case strings.HasPrefix(stored, "$argon2id$"):
		p, salt, key, err := credential.ParseArgon2id(stored)
		if err != nil {
			return a.dummyCheck(password, err)
		}
		if p == a.argon {
			if credential.MatchArgon2id(password, p, salt, key) {
				return loginCheck{ok: true}
			}
			return loginCheck{pad: a.legacy.estimate()}
		}
		return a.legacyCheck(password, func() (bool, error) {
			return credential.MatchArgon2id(password, p, salt, key), nil
		})
	case strings.HasPrefix(stored, "$2a$"), strings.HasPrefix(stored, "$2b$"), strings.HasPrefix(stored, "$2y$"):
		if _, err := bcrypt.Cost([]byte(stored)); err != nil {
			return a.dummyCheck(password, credential.ErrUnknownHashFormat)
		}
		if len(password) > 72 { // bcrypt would compare only its first 72 bytes
			return a.dummyCheck(password, nil)
		}
		return a.legacyCheck(password, func() (bool, error) { return credential.MatchBcrypt(stored, password) })
	case stored == "":
		return a.dummyCheck(password, nil)
	}
	return a.dummyCheck(password, credential.ErrUnknownHashFormat)
}

// dummyCheck is a failure that verifies the dummy hash and waits for the
// legacy estimate.
func (a *Accounts) dummyCheck(password string, err error) loginCheck {
	_, _, _ = credential.VerifyPassword(a.dummyHash, password, a.argon)
	return loginCheck{pad: a.legacy.estimate(), err: err}
}

// legacyCheck runs verify, the verification of a legacy hash, measuring
// it, then the one current-parameter argon2id computation.
func (a *Accounts) legacyCheck(password string, verify func() (bool, error)) loginCheck {
	start := a.legacy.now()
	ok, err := verify()
	a.legacy.record(a.legacy.now().Sub(start))
	if !ok || err != nil {
		_, _, _ = credential.VerifyPassword(a.dummyHash, password, a.argon)
		return loginCheck{err: err}
	}
	h, herr := credential.HashPassword(password, a.argon)
	return loginCheck{ok: true, rehash: h, rehashErr: herr}
}

// legacyTiming estimates the time of a legacy-hash verification (a
// streaming median), which other login failures wait for (see
// checkPassword).
type legacyTiming struct {
	now    func() time.Time                           // time.Now
	sleep  func(ctx context.Context, d time.Duration) // sleepContext
	mu     sync.Mutex
	median time.Duration
}

func newLegacyTiming() *legacyTiming {
	return &legacyTiming{now: time.Now, sleep: sleepContext}
}

// record adds one measured legacy verification to the estimate, a
// streaming median: the first measurement sets it, each later one moves it
// towards itself by at most 1/32 of it. A median, not a mean: the timing an
// observer compares is a median too, and a few verifications slowed by
// load must not lengthen every failure.
func (l *legacyTiming) record(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	step := l.median / 32
	switch {
	case l.median == 0:
		l.median = d
	case d > l.median:
		l.median += min(step, d-l.median)
	default:
		l.median -= min(step, l.median-d)
	}
}

func (l *legacyTiming) estimate() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.median
}

// wait sleeps for d or until ctx is done.
func (l *legacyTiming) wait(ctx context.Context, d time.Duration) {
	if d > 0 {
		l.sleep(ctx, d)
	}
}

func sleepContext(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
