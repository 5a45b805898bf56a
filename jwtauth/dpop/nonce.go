package dpop

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// NonceSource issues and checks server nonces (RFC 9449 §8 for
// authorization servers, §9 for resource servers). With one configured, a
// proof without an accepted nonce is refused with ErrUseNonce, carrying
// the nonce to send in the DPoP-Nonce header.
type NonceSource interface {
	// Nonce returns the nonce the server hands out now.
	Nonce(ctx context.Context) (string, error)
	// Valid reports whether nonce is accepted now.
	Valid(ctx context.Context, nonce string) bool
}

// RotatingNonces is a stateless NonceSource: the nonce of a period is the
// base64url HMAC-SHA256 of the period's number under a secret, and the
// nonces of the current and the previous period are accepted. Instances
// sharing the secret and roughly the clock share the nonces.
type RotatingNonces struct {
	secret []byte
	period time.Duration
	now    func() time.Time
}

// NewRotatingNonces returns nonces changing every period (at least 1 s)
// under secret (at least 32 bytes); now is the clock, time.Now if nil.
func NewRotatingNonces(secret []byte, period time.Duration, now func() time.Time) (*RotatingNonces, error) {
	if len(secret) < 32 {
		return nil, errors.New("dpop: nonce secret shorter than 32 bytes")
	}
	if period < time.Second {
		return nil, errors.New("dpop: nonce period under 1 s")
	}
	if now == nil {
		now = time.Now
	}
	return &RotatingNonces{secret: append([]byte(nil), secret...), period: period, now: now}, nil
}

func (s *RotatingNonces) at(n int64) string {
	m := hmac.New(sha256.New, s.secret)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// number is the current period's number.
func (s *RotatingNonces) number() int64 { return s.now().UnixNano() / int64(s.period) }

// Nonce implements NonceSource.
func (s *RotatingNonces) Nonce(context.Context) (string, error) { return s.at(s.number()), nil }

// Valid implements NonceSource: nonce is the current or the previous one.
func (s *RotatingNonces) Valid(_ context.Context, nonce string) bool {
	p := s.number()
	return hmac.Equal([]byte(nonce), []byte(s.at(p))) || hmac.Equal([]byte(nonce), []byte(s.at(p-1)))
}
