package keys

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Sentinel errors of the keys package; test them with errors.Is.
var (
	// ErrUnsupportedBits is returned for an RSA modulus size other than 2048, 3072 or 4096 bits.
	ErrUnsupportedBits = errors.New("keys: unsupported RSA key size (2048, 3072 or 4096 bits only)")
	// ErrUnknownKey is returned when no published key has the requested kid.
	ErrUnknownKey = errors.New("keys: unknown key")
	// ErrKeyRevoked is returned when the requested kid names a revoked key.
	ErrKeyRevoked = errors.New("keys: key revoked")
	// ErrNoActiveKey is returned when the key set has no signing key.
	ErrNoActiveKey = errors.New("keys: no active signing key")
	// ErrConflict is returned by Store.ApplyKeys when the stored key set changed
	// since the version the caller read.
	ErrConflict = errors.New("keys: key set changed concurrently")
	// ErrCorruptKey is returned when a stored key record cannot be decoded.
	ErrCorruptKey = errors.New("keys: corrupt key record")
	// ErrKeyEncryptionKey is returned when stored keys are encrypted and the
	// configured key-encryption key is missing or wrong.
	ErrKeyEncryptionKey = errors.New("keys: missing or wrong key-encryption key")
	// ErrInvalidTransition is returned for a lifecycle change the key's state does not allow.
	ErrInvalidTransition = errors.New("keys: invalid key state transition")
)

// State is a key's place in the lifecycle (see the package doc).
type State string

// The lifecycle states. A removed key has no state: its record is deleted.
const (
	StateNext    State = "next"    // published, not yet signing
	StateActive  State = "active"  // published, signs every new token
	StateRetired State = "retired" // published until RemoveAt, signs nothing
	StateRevoked State = "revoked" // unpublished at once, verifies nothing
)

// Valid reports whether s is one of the four lifecycle states.
func (s State) Valid() bool {
	switch s {
	case StateNext, StateActive, StateRetired, StateRevoked:
		return true
	}
	return false
}

// Published reports whether a key in state s appears in the JWKS and verifies tokens.
func (s State) Published() bool { return s == StateNext || s == StateActive || s == StateRetired }

// Algorithm is the only JWS algorithm (RFC 7518 §3.3) keys of this package sign with.
const Algorithm = "RS256"

// Key is one RSA key with its lifecycle state and timestamps. A Key read from
// a [Set] is shared and must not be modified.
type Key struct {
	KID         string          // RFC 7638 SHA-256 thumbprint of the public key, base64url without padding
	State       State           // lifecycle state
	Private     *rsa.PrivateKey // SECRET; nil for a revoked key known by its kid only. Never printed by Key's fmt and slog methods
	CreatedAt   time.Time       // when it was generated
	PublishedAt time.Time       // when it entered the JWKS
	ActivatedAt time.Time       // when it started signing; zero if it never did; for a next key, when a requested rotation promotes it
	RetiredAt   time.Time       // when it stopped signing; zero unless retired
	RemoveAt    time.Time       // stored removal time of a retired key, from the retiring process's Retain (see Policy.Retain)
	RevokedAt   time.Time       // when it was revoked; zero unless revoked

	public JWK
	blob   []byte // the stored private-key blob, reused while the key only changes state
}

// Bits returns the size of the RSA modulus in bits; 0 for a revoked key
// known by its kid only (see Manager.Err).
func (k *Key) Bits() int {
	if k.Private == nil {
		return 0
	}
	return k.Private.N.BitLen()
}

// Public returns the RSA public key; nil for a revoked key known by its kid only.
func (k *Key) Public() *rsa.PublicKey {
	if k.Private == nil {
		return nil
	}
	return &k.Private.PublicKey
}

// PublicJWK returns the public key as an RFC 7517 JWK with kid, "use":"sig" and
// "alg":"RS256", and no private member; the zero JWK for a revoked key known
// by its kid only.
func (k *Key) PublicJWK() JWK { return k.public }

// ValidateBits returns ErrUnsupportedBits unless bits is 2048, 3072 or 4096.
func ValidateBits(bits int) error {
	switch bits {
	case 2048, 3072, 4096:
		return nil
	}
	return fmt.Errorf("%w: %d", ErrUnsupportedBits, bits)
}

// GenerateRSA creates an RSA private key of the given size from crypto/rand.
// It returns ErrUnsupportedBits unless bits is 2048, 3072 or 4096.
func GenerateRSA(bits int) (*rsa.PrivateKey, error) {
	if err := ValidateBits(bits); err != nil {
		return nil, err
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("keys: generate %d-bit RSA key: %w", bits, err)
	}
	return priv, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url
// without padding (43 characters). It fails for a nil key, a modulus under
// 2048 bits, or an exponent that is not an odd integer of at least 3.
func Thumbprint(pub *rsa.PublicKey) (string, error) {
	n, e, err := rsaMembers(pub)
	if err != nil {
		return "", err
	}
	return thumbprint(n, e), nil
}

// NewKey wraps priv as a Key in state with kid set to its thumbprint. The
// modulus must be 2048, 3072 or 4096 bits.
func NewKey(priv *rsa.PrivateKey, state State, created time.Time) (*Key, error) {
	if priv == nil {
		return nil, errors.New("keys: nil private key")
	}
	if err := ValidateBits(priv.N.BitLen()); err != nil {
		return nil, err
	}
	if !state.Valid() {
		return nil, fmt.Errorf("%w: unknown state %q", ErrInvalidTransition, state)
	}
	k := &Key{State: state, Private: priv, CreatedAt: created}
	if err := k.init(); err != nil {
		return nil, err
	}
	return k, nil
}

// init computes the kid and the public JWK.
func (k *Key) init() error {
	k.Private.Precompute()
	pub, err := publicJWK(&k.Private.PublicKey)
	if err != nil {
		return err
	}
	if k.KID != "" && k.KID != pub.KID {
		return fmt.Errorf("%w: kid %s does not match its key's thumbprint", ErrCorruptKey, k.KID)
	}
	k.KID = pub.KID
	k.public = pub
	return nil
}

// clone returns a shallow copy that shares the private key and the public JWK.
func (k *Key) clone() *Key {
	c := *k
	return &c
}

// String describes k by state and kid, e.g. "active:NzbLsXh8…"; it never
// includes key material, so a Key may be printed with any fmt verb.
func (k *Key) String() string {
	if k == nil {
		return "<nil>"
	}
	return string(k.State) + ":" + k.KID
}

// GoString is String for the %#v verb: kid and state only, never the
// private key.
func (k *Key) GoString() string {
	if k == nil {
		return "(*keys.Key)(nil)"
	}
	return fmt.Sprintf("&keys.Key{KID:%q, State:%q}", k.KID, k.State)
}

// LogValue implements slog.LogValuer: a logged Key is the group
// {kid, state}, never its private key.
func (k *Key) LogValue() slog.Value {
	if k == nil {
		return slog.AnyValue(nil)
	}
	return slog.GroupValue(slog.String("kid", k.KID), slog.String("state", string(k.State)))
}

// Format implements fmt.Formatter so that every verb, %d and %x included,
// prints String (GoString for %#v) and never the private key.
func (k *Key) Format(f fmt.State, verb rune) { format(f, verb, k.String(), k.GoString()) }

// MarshalJSON encodes the key's identity, state and times (its Info, the
// members of `jwtauth keys list`), never the private key, so that a key
// that reaches a JSON log or document by accident leaks nothing.
func (k *Key) MarshalJSON() ([]byte, error) {
	if k == nil {
		return []byte("null"), nil
	}
	return json.Marshal(k.Info())
}

// Info describes a key without its private material: what `jwtauth keys
// list` shows, for an application's admin page (jwtauth.Service.ListKeys).
// Times are those of Key; a zero time did not happen (and is left out of
// the JSON form).
type Info struct {
	KID         string    `json:"kid"`          // RFC 7638 thumbprint, the kid of the JWKS and of the tokens it signs
	State       State     `json:"state"`        // next, active, retired or revoked
	Bits        int       `json:"bits"`         // RSA modulus size; 0 for a revoked key known by its kid only
	CreatedAt   time.Time `json:"created_at"`   // generated
	PublishedAt time.Time `json:"published_at"` // entered the JWKS
	// ActivatedAt is when the key started signing; for a next key, when a
	// requested rotation promotes it (Manager.Rotate without force).
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	RetiredAt   time.Time `json:"retired_at,omitzero"` // stopped signing
	RemoveAt    time.Time `json:"remove_at,omitzero"`  // a retired key's stored removal time (see Policy.Retain)
	RevokedAt   time.Time `json:"revoked_at,omitzero"` // revoked: out of the JWKS
}

// Info returns k's identity, state and times, without the private key.
func (k *Key) Info() Info {
	return Info{KID: k.KID, State: k.State, Bits: k.Bits(), CreatedAt: k.CreatedAt, PublishedAt: k.PublishedAt,
		ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt, RemoveAt: k.RemoveAt, RevokedAt: k.RevokedAt}
}

// format writes s (gs for %#v) with the flags and width of f.
func format(f fmt.State, verb rune, s, gs string) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, gs)
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), s)
}
