package keys

import (
	"context"
	"crypto/rsa"
	"fmt"
	"sort"
)

// Set is an immutable snapshot of the key set at one store version. It is
// safe for concurrent use; a new Set replaces it on every change.
type Set struct {
	version int64
	keys    []*Key // sorted: active, next, retired, revoked; newest first within a state
	byKID   map[string]*Key
	active  *Key
}

var stateOrder = map[State]int{StateActive: 0, StateNext: 1, StateRetired: 2, StateRevoked: 3}

func newSet(version int64, ks []*Key) *Set {
	s := &Set{version: version, keys: ks, byKID: make(map[string]*Key, len(ks))}
	sort.SliceStable(s.keys, func(i, j int) bool {
		a, b := s.keys[i], s.keys[j]
		if stateOrder[a.State] != stateOrder[b.State] {
			return stateOrder[a.State] < stateOrder[b.State]
		}
		return a.CreatedAt.After(b.CreatedAt)
	})
	for _, k := range s.keys {
		s.byKID[k.KID] = k
		if k.State == StateActive && s.active == nil {
			s.active = k
		}
	}
	return s
}

// Version returns the store version this snapshot was read at.
func (s *Set) Version() int64 { return s.version }

// Active returns the signing key, or nil when the set has none.
func (s *Set) Active() *Key { return s.active }

// Next returns the newest next key, or nil.
func (s *Set) Next() *Key {
	for _, k := range s.keys {
		if k.State == StateNext {
			return k
		}
	}
	return nil
}

// Keys returns every key of the set, removed keys excepted: active first,
// then next, retired and revoked, newest first within a state.
func (s *Set) Keys() []*Key { return append([]*Key(nil), s.keys...) }

// Published returns the keys that belong in the JWKS (next, active, retired).
func (s *Set) Published() []*Key {
	out := make([]*Key, 0, len(s.keys))
	for _, k := range s.keys {
		if k.State.Published() {
			out = append(out, k)
		}
	}
	return out
}

// Lookup returns the key with kid in any state.
func (s *Set) Lookup(kid string) (*Key, bool) {
	k, ok := s.byKID[kid]
	return k, ok
}

// VerificationKey returns the public key for kid if that key is published.
// It returns an error wrapping ErrUnknownKey for a kid it does not hold and
// ErrKeyRevoked for a revoked key.
func (s *Set) VerificationKey(_ context.Context, kid string) (*rsa.PublicKey, error) {
	k, ok := s.byKID[kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	if k.State == StateRevoked {
		return nil, ErrKeyRevoked
	}
	return k.Public(), nil
}

// String describes the set by kid and state, e.g. "v3[active:abc next:def]".
func (s *Set) String() string {
	out := fmt.Sprintf("v%d[", s.version)
	for i, k := range s.keys {
		if i > 0 {
			out += " "
		}
		out += string(k.State) + ":" + k.KID
	}
	return out + "]"
}
