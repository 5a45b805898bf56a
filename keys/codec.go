package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
)

// sealedPrefix marks a private key blob sealed with AES-256-GCM. A clear blob
// is PKCS #8 DER and starts with an ASN.1 SEQUENCE tag (0x30), never with it.
var sealedPrefix = []byte("jwtauth-aes256gcm-v1:")

// fallback returns the key of record r when r does not decode: the key this
// codec decoded before under the same kid, with r's state and blob, or a
// kid-only placeholder when r is revoked; nil otherwise.
func (c *codec) fallback(r Record) *Key {
	c.mu.Lock()
	cached, ok := c.parsed[r.KID]
	c.mu.Unlock()
	var k *Key
	switch {
	case ok:
		k = cached.clone()
	case r.State == StateRevoked:
		k = &Key{KID: r.KID}
	default:
		return nil
	}
	k.State, k.CreatedAt, k.PublishedAt, k.ActivatedAt = r.State, r.CreatedAt, r.PublishedAt, r.ActivatedAt
	k.RetiredAt, k.RemoveAt, k.RevokedAt = r.RetiredAt, r.RemoveAt, r.RevokedAt
	k.blob = bytes.Clone(r.PrivateKey)
	return k
}

// isSealed reports whether a stored private-key blob is AES-256-GCM sealed.
func isSealed(blob []byte) bool { return bytes.HasPrefix(blob, sealedPrefix) }

// IsSealed reports whether r's private key is stored sealed with a
// key-encryption key (AES-256-GCM) rather than in clear.
func (r Record) IsSealed() bool { return isSealed(r.PrivateKey) }

// codec turns Keys into Records and back, sealing private keys when kek is set.
type codec struct {
	aead cipher.AEAD // nil: private keys stored in clear

	mu     sync.Mutex
	parsed map[string]*Key // kid → key last decoded, to skip re-parsing an unchanged blob
}

// newCodec returns a codec; kek must be empty or exactly 32 bytes (AES-256).
func newCodec(kek []byte) (*codec, error) {
	if len(kek) == 0 {
		return &codec{parsed: map[string]*Key{}}, nil
	}
	if len(kek) != 32 {
		return nil, fmt.Errorf("%w: must be 32 bytes, got %d", ErrKeyEncryptionKey, len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key: %w", err)
	}
	return &codec{aead: aead, parsed: map[string]*Key{}}, nil
}

// encode serializes k; the kid is the GCM additional data, so a sealed blob
// moved to another row does not open.
func (c *codec) encode(k *Key) (Record, error) {
	blob, err := c.seal(k)
	if err != nil {
		return Record{}, err
	}
	k.blob = blob
	c.remember(k)
	return Record{
		KID: k.KID, State: k.State, Bits: k.Bits(), PrivateKey: blob,
		CreatedAt: k.CreatedAt, PublishedAt: k.PublishedAt, ActivatedAt: k.ActivatedAt,
		RetiredAt: k.RetiredAt, RemoveAt: k.RemoveAt, RevokedAt: k.RevokedAt,
	}, nil
}

// seal returns the stored form of k's private key: the blob it was read
// from or last written as, else a new PKCS #8 DER, sealed when a KEK is set.
func (c *codec) seal(k *Key) ([]byte, error) {
	// A stored blob is written back as it is, unless it is clear and a KEK
	// is configured: a process without the KEK never unseals a sealed key.
	if k.blob != nil && (isSealed(k.blob) || c.aead == nil) {
		return k.blob, nil
	}
	if k.Private == nil {
		return nil, fmt.Errorf("%w: %s: no private key to store", ErrCorruptKey, k.KID)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal %s: %w", k.KID, err)
	}
	blob := der
	if c.aead != nil {
		nonce := make([]byte, c.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("keys: nonce: %w", err)
		}
		blob = append(append(append([]byte{}, sealedPrefix...), nonce...), c.aead.Seal(nil, nonce, der, []byte(k.KID))...)
	}
	return blob, nil
}

// decode parses r. Errors wrap ErrCorruptKey or ErrKeyEncryptionKey and never
// contain key material.
func (c *codec) decode(r Record) (*Key, error) {
	if !r.State.Valid() {
		return nil, fmt.Errorf("%w: %s: unknown state %q", ErrCorruptKey, r.KID, r.State)
	}
	c.mu.Lock()
	cached, ok := c.parsed[r.KID]
	c.mu.Unlock()
	if ok && bytes.Equal(cached.blob, r.PrivateKey) {
		// Only the state or timestamps changed: skip parsing and validating the key again.
		k := cached.clone()
		k.State, k.CreatedAt, k.PublishedAt, k.ActivatedAt = r.State, r.CreatedAt, r.PublishedAt, r.ActivatedAt
		k.RetiredAt, k.RemoveAt, k.RevokedAt = r.RetiredAt, r.RemoveAt, r.RevokedAt
		return k, nil
	}
	der := r.PrivateKey
	if isSealed(der) {
		if c.aead == nil {
			return nil, fmt.Errorf("%w: key %s is encrypted and no key-encryption key is configured", ErrKeyEncryptionKey, r.KID)
		}
		rest := der[len(sealedPrefix):]
		if len(rest) < c.aead.NonceSize()+c.aead.Overhead() {
			return nil, fmt.Errorf("%w: %s: sealed key too short", ErrCorruptKey, r.KID)
		}
		plain, err := c.aead.Open(nil, rest[:c.aead.NonceSize()], rest[c.aead.NonceSize():], []byte(r.KID))
		if err != nil {
			return nil, fmt.Errorf("%w: key %s does not open with it", ErrKeyEncryptionKey, r.KID)
		}
		der = plain
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: private key does not parse", ErrCorruptKey, r.KID)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s: not an RSA key (%T)", ErrCorruptKey, r.KID, parsed)
	}
	if err := priv.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: invalid RSA key", ErrCorruptKey, r.KID)
	}
	if err := ValidateBits(priv.N.BitLen()); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorruptKey, r.KID, err)
	}
	k := &Key{
		KID: r.KID, State: r.State, Private: priv,
		CreatedAt: r.CreatedAt, PublishedAt: r.PublishedAt, ActivatedAt: r.ActivatedAt,
		RetiredAt: r.RetiredAt, RemoveAt: r.RemoveAt, RevokedAt: r.RevokedAt,
	}
	if err := k.init(); err != nil {
		if errors.Is(err, ErrCorruptKey) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrCorruptKey, r.KID, err)
	}
	k.blob = bytes.Clone(r.PrivateKey)
	c.remember(k)
	return k, nil
}

// remember caches k (a key with its private part) under its kid.
func (c *codec) remember(k *Key) {
	if k.Private == nil {
		return
	}
	c.mu.Lock()
	if len(c.parsed) > 256 {
		clear(c.parsed)
	}
	c.parsed[k.KID] = k.clone()
	c.mu.Unlock()
}
