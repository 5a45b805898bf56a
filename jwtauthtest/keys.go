package jwtauthtest

import (
	"crypto/rsa"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jwtauth/jwtauth/keys"
)

// The fixed 2048-bit test keys, so that no test pays for RSA generation
// (seconds under -race). They are public: tests only.
//
//go:embed testdata/*.pem
var keyFiles embed.FS

const poolSize = 16 // testdata/rsa2048-1.pem … rsa2048-16.pem

var (
	parseOnce sync.Once
	fixedKeys []*rsa.PrivateKey
	parseErr  error
	servers   atomic.Uint32 // servers started, to vary each one's first key
)

func parseKeys() {
	for i := 1; i <= poolSize; i++ {
		name := fmt.Sprintf("testdata/rsa2048-%d.pem", i)
		b, err := keyFiles.ReadFile(name)
		if err != nil {
			parseErr = err
			return
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			parseErr = fmt.Errorf("%s: no PEM block", name)
			return
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			parseErr = fmt.Errorf("%s: %w", name, err)
			return
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			parseErr = fmt.Errorf("%s: not an RSA key", name)
			return
		}
		rk.Precompute()
		fixedKeys = append(fixedKeys, rk)
	}
}

// keyPool hands one server's key manager the fixed keys, each at most
// once, starting at an offset that differs from server to server (so two
// servers in one test publish different kids), and keeps the last one as
// the key the server never publishes. Once they are used up it generates
// keys (slowly).
type keyPool struct {
	outsider    *rsa.PrivateKey
	outsiderKID string

	mu       sync.Mutex
	order    []*rsa.PrivateKey // the fixed keys still to hand out
	generate func(bits int) (*rsa.PrivateKey, error)
}

func newKeyPool() (*keyPool, error) {
	parseOnce.Do(parseKeys)
	if parseErr != nil {
		return nil, parseErr
	}
	start := int(servers.Add(1)-1) * 3
	order := make([]*rsa.PrivateKey, poolSize)
	for i := range order {
		order[i] = fixedKeys[(start+i)%poolSize]
	}
	p := &keyPool{outsider: order[poolSize-1], order: order[:poolSize-1], generate: keys.GenerateRSA}
	kid, err := keys.Thumbprint(&p.outsider.PublicKey)
	if err != nil {
		return nil, err
	}
	p.outsiderKID = kid
	return p, nil
}

// next is keys.Config.Generate.
func (p *keyPool) next(bits int) (*rsa.PrivateKey, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if bits != 2048 || len(p.order) == 0 {
		return p.generate(bits)
	}
	k := p.order[0]
	p.order = p.order[1:]
	return k, nil
}
