// Package keystest gives tests fixed RSA keys, so that they do not pay for
// RSA generation (slow under -race) and stay reproducible.
package keystest

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	once   sync.Once
	loaded []*rsa.PrivateKey
	weak   *rsa.PrivateKey
	errLd  error
)

func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "keys")
}

// count is the number of fixed 2048-bit keys in testdata/keys (rsa2048-N.pem).
const count = 20

func load() {
	for i := 1; i <= count; i++ {
		k, err := readPEM(filepath.Join(dir(), fmt.Sprintf("rsa2048-%d.pem", i)))
		if err != nil {
			errLd = err
			return
		}
		k.Precompute() // once, here: later Precompute calls only read
		loaded = append(loaded, k)
	}
	weak, errLd = readPEM(filepath.Join(dir(), "rsa1024.pem"))
}

func readPEM(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not RSA", path)
	}
	return rk, nil
}

// Keys returns the fixed 2048-bit keys of testdata/keys, distinct, parsed
// once per test binary. They are shared: do not modify them.
func Keys(tb testing.TB) []*rsa.PrivateKey {
	tb.Helper()
	once.Do(load)
	if errLd != nil {
		tb.Fatalf("keystest: %v", errLd)
	}
	return loaded
}

// Weak returns a fixed 1024-bit key, which every part of jwtauth must refuse.
func Weak(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	once.Do(load)
	if errLd != nil {
		tb.Fatalf("keystest: %v", errLd)
	}
	return weak
}

var counter atomic.Int64 // shared, so that managers of one test draw different keys

// Generator returns a keys.Config.Generate function that hands out the fixed
// keys in turn, cycling after the last: fine for tests in which fewer than
// len(Keys) keys are stored at once (a manager skips a key its set already holds). It refuses sizes other than 2048.
func Generator(tb testing.TB) func(bits int) (*rsa.PrivateKey, error) {
	ks := Keys(tb)
	return func(bits int) (*rsa.PrivateKey, error) {
		if bits != 2048 {
			return nil, fmt.Errorf("keystest: only 2048-bit test keys, asked for %d", bits)
		}
		return ks[int(counter.Add(1)-1)%len(ks)], nil
	}
}

// Clock is a clock that tests move by hand, safe for concurrent use: pass
// its Now as the Now of keys.Config, token.VerifierConfig and the other
// configurations that take one. It stands still until Advance moves it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d (back when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
