package keys

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Record is a Key as a Store keeps it: the private key is an opaque blob
// (PKCS #8 DER, or that DER sealed with AES-256-GCM when a key-encryption key
// is configured). Stores never interpret PrivateKey.
type Record struct {
	KID         string
	State       State
	Bits        int
	PrivateKey  []byte
	CreatedAt   time.Time
	PublishedAt time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
	RemoveAt    time.Time
	RevokedAt   time.Time
}

// Change is one atomic update of the stored key set: records to insert or
// replace (matched by KID) and kids whose records are deleted.
type Change struct {
	Put    []Record
	Delete []string
}

// Store is the persistence port of the key set. Implementations must make
// ApplyKeys atomic (all of a Change or none of it) and linearizable across
// processes sharing the store: of two ApplyKeys calls with the same expected
// version, at most one succeeds.
type Store interface {
	// LoadKeys returns every stored record and the key-set version they belong to.
	LoadKeys(ctx context.Context) ([]Record, int64, error)
	// KeysVersion returns the key-set version: a counter that grows with every
	// applied Change. It is cheap enough to poll every second.
	KeysVersion(ctx context.Context) (int64, error)
	// ApplyKeys applies ch if the stored version still equals expected and
	// returns the new version. It returns ErrConflict, and changes nothing,
	// when the version differs.
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
