package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2Params are argon2id parameters (RFC 9106). Memory is in KiB.
type Argon2Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// DefaultArgon2Params are the OWASP Password Storage Cheat Sheet's argon2id
// parameters: 19 MiB, 2 iterations, 1 lane, 16-byte salt, 32-byte hash.
var DefaultArgon2Params = Argon2Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// withDefaults fills each zero field from DefaultArgon2Params.
func (p Argon2Params) withDefaults() Argon2Params {
	d := DefaultArgon2Params
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Iterations == 0 {
		p.Iterations = d.Iterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = d.Parallelism
	}
	if p.SaltLength == 0 {
		p.SaltLength = d.SaltLength
	}
	if p.KeyLength == 0 {
		p.KeyLength = d.KeyLength
	}
	return p
}

// The bounds of argon2id parameters, one table for hashing (HashPassword,
// New) and for verifying a stored hash, so that every hash made here
// can be verified later and a stored hash cannot make verification allocate
// or loop without limit. RFC 9106 §3.1 allows wider ranges.
const (
	argon2MinIterations    = 1
	argon2MaxIterations    = 64
	argon2MinParallelism   = 1       // lanes; at most 255 (uint8)
	argon2MinMemoryPerLane = 8       // KiB: RFC 9106 §3.1, m >= 8*p
	argon2MaxMemory        = 1 << 21 // KiB: 2 GiB
	argon2MinSaltLength    = 8       // bytes
	argon2MaxSaltLength    = 64      // bytes
	argon2MinKeyLength     = 16      // bytes
	argon2MaxKeyLength     = 128     // bytes
)

// validate checks p against the bounds above.
func (p Argon2Params) validate() error {
	if p.Iterations < argon2MinIterations || p.Iterations > argon2MaxIterations ||
		p.Parallelism < argon2MinParallelism ||
		p.Memory < argon2MinMemoryPerLane*uint32(p.Parallelism) || p.Memory > argon2MaxMemory ||
		p.SaltLength < argon2MinSaltLength || p.SaltLength > argon2MaxSaltLength ||
		p.KeyLength < argon2MinKeyLength || p.KeyLength > argon2MaxKeyLength {
		return fmt.Errorf("jwtauth: argon2id parameters out of bounds (m=%d KiB, t=%d, p=%d, salt %d bytes, key %d bytes)",
			p.Memory, p.Iterations, p.Parallelism, p.SaltLength, p.KeyLength)
	}
	return nil
}

// ErrUnknownHashFormat is returned for a stored hash that is neither an
// argon2id PHC string nor a bcrypt hash.
var ErrUnknownHashFormat = errors.New("jwtauth: unknown password hash format")

// HashPassword returns the argon2id hash of password in PHC string format:
// "$argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<hash>", salt and
// hash in unpadded standard base64.
//
// It fails, rather than hashing weakly or making a hash VerifyPassword
// would refuse, for parameters outside these bounds: 1 to 64 iterations, at
// least 1 lane, 8 KiB per lane to 2 GiB of memory, a salt of 8 to 64 bytes
// and a hash of 16 to 128 bytes. VerifyPassword refuses a stored hash
// outside the same bounds.
func HashPassword(password string, p Argon2Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("jwtauth: salt: %w", err)
	}
	key := argon2idKey(password, salt, p, p.KeyLength, hashArgon2id)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches hash, an argon2id PHC
// string or a bcrypt hash, in constant time for a given hash. needsRehash is
// true for a match whose hash is bcrypt or uses parameters other than p. A
// malformed hash gives ErrUnknownHashFormat and never a match. Passwords over
// 72 bytes never match a bcrypt hash (bcrypt would silently truncate them).
func VerifyPassword(hash, password string, p Argon2Params) (ok, needsRehash bool, err error) {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		stored, salt, key, err := parseArgon2id(hash)
		if err != nil {
			return false, false, err
		}
		ok := argon2idMatch(password, stored, salt, key, hashArgon2id)
		return ok, ok && stored != p, nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if len(password) > 72 {
			return false, false, nil
		}
		ok, err := bcryptMatch(hash, password)
		return ok, ok, err
	}
	return false, false, ErrUnknownHashFormat
}

// Kinds of password-hash computation, as hashHook reports them.
const (
	hashArgon2id       = "argon2id"        // with the parameters new hashes get
	hashArgon2idLegacy = "argon2id-legacy" // a stored hash of other parameters
	hashBcrypt         = "bcrypt"
)

// hashHook, when set (by tests only, never concurrently with logins), is
// called before every password-hash computation with its kind. It is the
// one seam through which tests count the hashing work of a request.
var hashHook func(kind string)

func argon2idKey(password string, salt []byte, p Argon2Params, keyLen uint32, kind string) []byte {
	if h := hashHook; h != nil {
		h(kind)
	}
	return argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, keyLen)
}

// argon2idMatch reports in constant time whether password hashes to key
// with salt and the parameters p.
func argon2idMatch(password string, p Argon2Params, salt, key []byte, kind string) bool {
	return subtle.ConstantTimeCompare(argon2idKey(password, salt, p, uint32(len(key)), kind), key) == 1
}

// bcryptMatch compares password (at most 72 bytes) with a bcrypt hash.
func bcryptMatch(hash, password string) (bool, error) {
	if h := hashHook; h != nil {
		h(hashBcrypt)
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	if err != nil {
		return false, ErrUnknownHashFormat
	}
	return true, nil
}

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
		p, salt, key, err := parseArgon2id(stored)
		if err != nil {
			return a.dummyCheck(password, err)
		}
		if p == a.argon {
			if argon2idMatch(password, p, salt, key, hashArgon2id) {
				return loginCheck{ok: true}
			}
			return loginCheck{pad: a.legacy.estimate()}
		}
		return a.legacyCheck(password, func() (bool, error) {
			return argon2idMatch(password, p, salt, key, hashArgon2idLegacy), nil
		})
	case strings.HasPrefix(stored, "$2a$"), strings.HasPrefix(stored, "$2b$"), strings.HasPrefix(stored, "$2y$"):
		if _, err := bcrypt.Cost([]byte(stored)); err != nil {
			return a.dummyCheck(password, ErrUnknownHashFormat)
		}
		if len(password) > 72 { // bcrypt would compare only its first 72 bytes
			return a.dummyCheck(password, nil)
		}
		return a.legacyCheck(password, func() (bool, error) { return bcryptMatch(stored, password) })
	case stored == "":
		return a.dummyCheck(password, nil)
	}
	return a.dummyCheck(password, ErrUnknownHashFormat)
}

// dummyCheck is a failure that verifies the dummy hash and waits for the
// legacy estimate.
func (a *Accounts) dummyCheck(password string, err error) loginCheck {
	_, _, _ = VerifyPassword(a.dummyHash, password, a.argon)
	return loginCheck{pad: a.legacy.estimate(), err: err}
}

// legacyCheck runs verify, the verification of a legacy hash, measuring
// it, then the one current-parameter argon2id computation.
func (a *Accounts) legacyCheck(password string, verify func() (bool, error)) loginCheck {
	start := a.legacy.now()
	ok, err := verify()
	a.legacy.record(a.legacy.now().Sub(start))
	if !ok || err != nil {
		_, _, _ = VerifyPassword(a.dummyHash, password, a.argon)
		return loginCheck{err: err}
	}
	h, herr := HashPassword(password, a.argon)
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

// parseArgon2id parses "$argon2id$v=19$m=…,t=…,p=…$salt$hash" (PHC string
// format), refusing parameters outside the bounds HashPassword keeps, so a
// stored hash cannot make verification allocate without limit. The
// returned parameters include the salt and hash lengths.
func parseArgon2id(s string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, ErrUnknownHashFormat
	}
	for _, kv := range strings.Split(parts[3], ",") {
		name, val, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return p, nil, nil, ErrUnknownHashFormat
		}
		switch name {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Iterations = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, ErrUnknownHashFormat
			}
			p.Parallelism = uint8(n)
		default:
			return p, nil, nil, ErrUnknownHashFormat
		}
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) > argon2MaxSaltLength || len(key) > argon2MaxKeyLength {
		return p, nil, nil, ErrUnknownHashFormat
	}
	p.SaltLength, p.KeyLength = uint32(len(salt)), uint32(len(key))
	if p.validate() != nil {
		return p, nil, nil, ErrUnknownHashFormat
	}
	return p, salt, key, nil
}
