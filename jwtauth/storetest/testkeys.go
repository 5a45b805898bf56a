package storetest

import (
	"crypto/rsa"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"fmt"
	"io/fs"
	"sync"
	"testing"
)

// testKeyFiles are fixed 2048-bit RSA test keys (PKCS #8 PEM). They are
// public test material: never use them outside tests.
//
//go:embed testdata/*.pem
var testKeyFiles embed.FS

var (
	testKeysOnce sync.Once
	testKeys     []*rsa.PrivateKey
	testKeysErr  error
)

// TestKeys returns the suite's fixed 2048-bit RSA test keys, distinct and
// parsed once per test binary. The keys are shared: do not modify them.
// Generating RSA keys takes seconds under the race detector; these do not.
func TestKeys(t testing.TB) []*rsa.PrivateKey {
	t.Helper()
	testKeysOnce.Do(func() { testKeys, testKeysErr = loadTestKeys() })
	if testKeysErr != nil {
		t.Fatalf("storetest: test keys: %v", testKeysErr)
	}
	return testKeys
}

func loadTestKeys() ([]*rsa.PrivateKey, error) {
	names, err := fs.Glob(testKeyFiles, "testdata/*.pem")
	if err != nil {
		return nil, err
	}
	out := make([]*rsa.PrivateKey, 0, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(testKeyFiles, name)
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("%s: want a PKCS #8 PEM block", name)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok || rk.N.BitLen() != 2048 {
			return nil, fmt.Errorf("%s: want a 2048-bit RSA key", name)
		}
		rk.Precompute() // now, once: later Precompute calls only read
		out = append(out, rk)
	}
	return out, nil
}

// Generator returns a keys.Config.Generate function that hands out the keys
// of TestKeys, each once, in order. It is safe for concurrent use; share one
// Generator between Managers of one store so that their kids stay distinct.
// It fails for a size other than 2048 bits and when the pool is exhausted.
func Generator(t testing.TB) func(bits int) (*rsa.PrivateKey, error) {
	t.Helper()
	pool := TestKeys(t)
	var (
		mu   sync.Mutex
		next int
	)
	return func(bits int) (*rsa.PrivateKey, error) {
		if bits != 2048 {
			return nil, fmt.Errorf("storetest: generator has %d-bit keys only, asked for %d", 2048, bits)
		}
		mu.Lock()
		defer mu.Unlock()
		if next == len(pool) {
			return nil, fmt.Errorf("storetest: all %d test keys handed out", len(pool))
		}
		next++
		return pool[next-1], nil
	}
}
