// Package credential holds the credential rules of package account that
// need no account state: password hashing (argon2id in PHC string format,
// RFC 9106, and verification of legacy bcrypt hashes), the password policy
// (NIST SP 800-63B §3.1.1.2) and username normalization (PRECIS, RFC 8265,
// with a script-mixing rule from Unicode Technical Standard #39). It
// imports nothing of jwtauth; package account builds on it.
package credential

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

	"github.com/jwtauth/jwtauth/jwtauth/account/internal/hashhook"
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

// WithDefaults returns p with each zero field taken from DefaultArgon2Params.
func (p Argon2Params) WithDefaults() Argon2Params {
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
// account.New) and for verifying a stored hash, so that every hash made here
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

// Validate checks p against the bounds HashPassword documents; the error
// names the parameters.
func (p Argon2Params) Validate() error {
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
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("jwtauth: salt: %w", err)
	}
	key := argon2idKey(password, salt, p, p.KeyLength)
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
		stored, salt, key, err := ParseArgon2id(hash)
		if err != nil {
			return false, false, err
		}
		ok := MatchArgon2id(password, stored, salt, key)
		return ok, ok && stored != p, nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if len(password) > 72 {
			return false, false, nil
		}
		ok, err := MatchBcrypt(hash, password)
		return ok, ok, err
	}
	return false, false, ErrUnknownHashFormat
}

// ParseArgon2id parses "$argon2id$v=19$m=…,t=…,p=…$salt$hash" (PHC string
// format) into its parameters, salt and hash, refusing parameters outside the bounds HashPassword keeps, so a
// stored hash cannot make verification allocate without limit. The
// returned parameters include the salt and hash lengths. The error is
// ErrUnknownHashFormat.
func ParseArgon2id(s string) (Argon2Params, []byte, []byte, error) {
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
	if p.Validate() != nil {
		return p, nil, nil, ErrUnknownHashFormat
	}
	return p, salt, key, nil
}

// MatchArgon2id reports in constant time whether password hashes to key
// with salt and the parameters p, as ParseArgon2id returns them: one
// argon2id computation with p whatever the outcome.
func MatchArgon2id(password string, p Argon2Params, salt, key []byte) bool {
	return subtle.ConstantTimeCompare(argon2idKey(password, salt, p, uint32(len(key))), key) == 1
}

func argon2idKey(password string, salt []byte, p Argon2Params, keyLen uint32) []byte {
	hashhook.Report(hashhook.Argon2id, p.Memory, p.Iterations, p.Parallelism)
	return argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, keyLen)
}

// MatchBcrypt compares password (at most 72 bytes: bcrypt compares only
// those) with a bcrypt hash ("$2a$", "$2b$" or "$2y$"). A malformed hash
// gives ErrUnknownHashFormat.
func MatchBcrypt(hash, password string) (bool, error) {
	hashhook.Report(hashhook.Bcrypt, 0, 0, 0)
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	if err != nil {
		return false, ErrUnknownHashFormat
	}
	return true, nil
}
