package keys

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"time"
)

// Record is a Key as a Store keeps it: the private key is an opaque blob
// (PKCS #8 DER, or that DER sealed with AES-256-GCM when a key-encryption key
// is configured). Stores never interpret PrivateKey.
type Record struct {
	// KID is the key's RFC 7638 SHA-256 thumbprint, base64url without
	// padding; it identifies the record (Change.Put replaces by KID).
	KID string
	// State is the key's lifecycle state (next, active, retired, revoked).
	State State
	// Bits is the RSA modulus size in bits (2048, 3072 or 4096), stored so
	// that listing keys needs no private key.
	Bits int
	// PrivateKey is SECRET: the private key as PKCS #8 DER, or that DER
	// sealed with AES-256-GCM when a key-encryption key is configured (see
	// IsSealed). Stores keep it opaque and must never log or print it;
	// Record's String, GoString, Format and LogValue leave it out.
	PrivateKey []byte
	// CreatedAt is when the key was generated.
	CreatedAt time.Time
	// PublishedAt is when the key entered the JWKS.
	PublishedAt time.Time
	// ActivatedAt is when the key started signing; zero if it never did.
	// For a next key it is the time a requested rotation promotes it
	// (Manager.Rotate without force), or zero.
	ActivatedAt time.Time
	// RetiredAt is when the key stopped signing; zero unless retired.
	RetiredAt time.Time
	// RemoveAt is when the retiring process scheduled the retired key's
	// removal from the JWKS (RetiredAt + its Policy.Retain); a Manager with
	// a longer Retain keeps the key until RetiredAt + its own Retain. Zero
	// unless retired.
	RemoveAt time.Time
	// RevokedAt is when an operator revoked the key; zero unless revoked.
	RevokedAt time.Time
}

// Change is one atomic update of the stored key set: records to insert or
// replace (matched by KID) and kids whose records are deleted.
type Change struct {
	// Put holds the records to insert, or to replace when the store holds
	// one with the same KID.
	Put []Record
	// Delete holds the kids of the records to delete (removed keys).
	Delete []string
}

// Store is the persistence port of the key set. Implementations must make
// ApplyKeys atomic (all of a Change or none of it) and linearizable across
// processes sharing the store: of two ApplyKeys calls with the same expected
// version, at most one succeeds.
type Store interface {
	// LoadKeys returns every stored record and the key-set version they belong to.
	LoadKeys(ctx context.Context) ([]Record, int64, error)
	// KeysVersion returns the key-set version: 0 for a store that never
	// applied a Change, then an opaque value that every applied Change
	// replaces with one never used before (stores draw it at random), so
	// that a store restored from a backup, or a lagging replica, never
	// gives a set another process already holds under the same version.
	// Versions are compared for equality only; they need not grow. It is
	// cheap enough to poll every second.
	KeysVersion(ctx context.Context) (int64, error)
	// ApplyKeys applies ch if the stored version still equals expected and
	// returns the new version (see KeysVersion). It returns ErrConflict, and
	// changes nothing, when the version differs.
	ApplyKeys(ctx context.Context, expected int64, ch Change) (int64, error)
}

// ChangeNotifier is an optional interface of a Store that can tell when
// another process changed the key set (PostgreSQL LISTEN/NOTIFY, say).
// Manager.Run reloads at once on a signal and keeps polling as the fallback,
// so a notifier that misses a change only delays it to the next poll.
type ChangeNotifier interface {
	// KeyChanges returns a channel that receives a value after the key set
	// changed; it is closed when ctx ends.
	KeyChanges(ctx context.Context) <-chan struct{}
}

// String describes r by state and kid, e.g. "retired:NzbLsXh8…"; it never
// includes PrivateKey, so a Record may be printed with any fmt verb.
func (r Record) String() string { return string(r.State) + ":" + r.KID }

// GoString is String for the %#v verb: kid, state and size only, never the
// private key.
func (r Record) GoString() string {
	return fmt.Sprintf("keys.Record{KID:%q, State:%q, Bits:%d, PrivateKey:<%d bytes redacted>}", r.KID, r.State, r.Bits, len(r.PrivateKey))
}

// LogValue implements slog.LogValuer: a logged Record is the group
// {kid, state}, never its private key.
func (r Record) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", r.KID), slog.String("state", string(r.State)))
}

// Format implements fmt.Formatter so that every verb, %d and %x included,
// prints String (GoString for %#v) and never the private key.
func (r Record) Format(f fmt.State, verb rune) { format(f, verb, r.String(), r.GoString()) }

// MarshalJSON encodes the record like Key.MarshalJSON: never the private-key blob.
func (r Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(Info{KID: r.KID, State: r.State, Bits: r.Bits, CreatedAt: r.CreatedAt, PublishedAt: r.PublishedAt,
		ActivatedAt: r.ActivatedAt, RetiredAt: r.RetiredAt, RemoveAt: r.RemoveAt, RevokedAt: r.RevokedAt})
}

// NextVersion returns a key-set version for a store to write in place of
// stored as it applies a Change: a random positive int64 other than stored
// (see Store.KeysVersion). Two writes draw the same one with probability
// 2^-63, so a store restored from a backup and written again does not
// repeat a version a running process holds.
func NextVersion(stored int64) int64 {
	for {
		if v := mrand.Int64N(math.MaxInt64) + 1; v != stored {
			return v
		}
	}
}

// Schedule is the part of a Policy that is stored with the key set (SPEC
// §3): when a key may sign, retire and leave. Key size is not part of it:
// it only shapes keys yet to be generated.
type Schedule struct {
	// RotateEvery is Policy.RotateEvery; zero when no server stored a schedule.
	RotateEvery time.Duration
	// Prepublish is Policy.Prepublish.
	Prepublish time.Duration
	// Retain is Policy.Retain; zero when the schedule was stored before
	// retention was part of it (then it is unknown).
	Retain time.Duration
}

// IsZero reports whether no schedule is stored.
func (s Schedule) IsZero() bool { return s.RotateEvery <= 0 }

// Schedule returns the part of p that is stored with the key set.
func (p Policy) Schedule() Schedule {
	return Schedule{RotateEvery: p.RotateEvery, Prepublish: p.Prepublish, Retain: p.Retain}
}

// ScheduleStore is an optional interface of a Store that keeps, beside the
// key set, the policy the servers run with (Schedule: rotation period,
// pre-publication lead, retention), so that a tool acting on the store
// (the keys CLI verbs) decides as the servers do whether the next key may
// sign yet and when a key it retires leaves the JWKS. A Manager that runs
// the schedule (Config.NoSchedule unset) saves its Policy's Schedule at
// Open; a NoSchedule Manager loads it and uses it in place of its own.
// Which of several servers on one store may replace it is for the caller
// to decide before Open (LoadSchedule): `jwtauth serve` adopts it, or
// refuses to start with explicit settings that differ unless told to
// replace it.
type ScheduleStore interface {
	// LoadSchedule returns the stored schedule; its IsZero reports true
	// when no server stored one yet.
	LoadSchedule(ctx context.Context) (Schedule, error)
	// SaveSchedule stores s, replacing what was stored. It does not
	// change the key-set version.
	SaveSchedule(ctx context.Context, s Schedule) error
}
