package jwtauth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

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

func (p Argon2Params) validate() error {
	if p.Iterations < 1 || p.Parallelism < 1 || p.Memory < 8*uint32(p.Parallelism) || p.SaltLength < 8 || p.KeyLength < 16 {
		return fmt.Errorf("jwtauth: argon2id parameters out of bounds (m=%d KiB, t=%d, p=%d, salt %d bytes, key %d bytes)",
			p.Memory, p.Iterations, p.Parallelism, p.SaltLength, p.KeyLength)
	}
	return nil
}

// hashObserver, when set (by tests only), is called once per argon2id or
// bcrypt computation: hashing a new password, verifying against a stored
// hash, and verifying against the dummy hash of an unknown user.
var hashObserver func()

// observeHash reports one password-hash computation to hashObserver.
func observeHash() {
	if hashObserver != nil {
		hashObserver()
	}
}

// ErrUnknownHashFormat is returned for a stored hash that is neither an
// argon2id PHC string nor a bcrypt hash.
var ErrUnknownHashFormat = errors.New("jwtauth: unknown password hash format")

// HashPassword returns the argon2id hash of password in PHC string format:
// "$argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<hash>", salt and
// hash in unpadded standard base64.
//
// It fails, rather than hashing weakly, for parameters outside RFC 9106's
// bounds or below these minimums: 1 iteration, 1 lane, 8 KiB per lane, an
// 8-byte salt and a 16-byte hash.
func HashPassword(password string, p Argon2Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("jwtauth: salt: %w", err)
	}
	observeHash()
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
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
		observeHash()
		got := argon2.IDKey([]byte(password), salt, stored.Iterations, stored.Memory, stored.Parallelism, uint32(len(key)))
		ok := subtle.ConstantTimeCompare(got, key) == 1
		stored.SaltLength, stored.KeyLength = uint32(len(salt)), uint32(len(key))
		return ok, ok && stored != p, nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if len(password) > 72 {
			return false, false, nil
		}
		observeHash()
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, false, nil
		}
		if err != nil {
			return false, false, ErrUnknownHashFormat
		}
		return true, true, nil
	}
	return false, false, ErrUnknownHashFormat
}

// parseArgon2id parses "$argon2id$v=19$m=…,t=…,p=…$salt$hash" (PHC string
// format), refusing parameters outside sane bounds so a stored hash cannot
// make verification allocate without limit.
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
	if p.Memory < 8 || p.Memory > 1<<21 || p.Iterations < 1 || p.Iterations > 64 || p.Parallelism < 1 {
		return p, nil, nil, ErrUnknownHashFormat
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, ErrUnknownHashFormat
	}
	return p, salt, key, nil
}
