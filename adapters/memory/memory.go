// Package memory is an in-memory implementation of account.Store for tests
// and throwaway runs (`jwtauth serve --store memory:`). Nothing survives the
// process; several processes cannot share it.
//
// It follows the same contract as the persistent adapters, checked by the
// same conformance suite (jwtauth/storetest): byte slices are copied on the
// way in and out, times are kept in UTC without monotonic clock readings, and
// after Close every method fails with an error wrapping
// account.ErrStoreUnavailable.
package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/keys"
)

// Store is an in-memory account.Store guarded by one mutex. The zero value is
// not usable; call New. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	closed  bool
	users   map[string]account.User
	deleted map[string]time.Time // tombstones of deleted users (account.UserAdminStore)
	keys    map[string]keys.Record
	version int64
	refresh map[string]account.RefreshToken // by string(Hash)
	family  map[string]family               // by FamilyID

	schedule keys.Schedule // the servers' schedule (keys.ScheduleStore)

	throttle map[[2]string]*throttleBucket // by kind and key (account.ThrottleStore)

	replay *dpop.MemoryReplayCache // dpop.ReplayCache; nil after Close
}

// family is what a refresh-token family holds beside its tokens.
type family struct {
	username  string
	expiresAt time.Time // absolute end; zero: none
	revokedAt time.Time
}

var (
	_ account.Store                  = (*Store)(nil)
	_ account.RefreshTokenGraceStore = (*Store)(nil)
	_ account.UserAdminStore         = (*Store)(nil)
	_ keys.ScheduleStore             = (*Store)(nil)
	_ dpop.ReplayCache               = (*Store)(nil)
)

// New returns an empty store: no users, no refresh tokens, and key-set version 0.
func New() *Store {
	return &Store{
		users:   map[string]account.User{},
		deleted: map[string]time.Time{},
		keys:    map[string]keys.Record{},
		refresh: map[string]account.RefreshToken{},
		family:  map[string]family{},
		replay:  dpop.NewMemoryReplayCache(dpop.DefaultReplayCacheSize),
	}
}

// errClosed is returned by every method after Close.
var errClosed = fmt.Errorf("memory: %w: store closed", account.ErrStoreUnavailable)

// lock checks ctx, takes the mutex and checks that the store is open. On
// success the caller must unlock s.mu.
func (s *Store) lock(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	return nil
}

// Ping returns nil while the store is open, an error wrapping
// account.ErrStoreUnavailable after Close, and ctx's error when ctx is done.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.lock(ctx, "ping"); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// Close drops every record. Later calls of every method, Close excepted,
// return an error wrapping account.ErrStoreUnavailable. Close is idempotent
// and always returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.users, s.keys, s.refresh, s.family, s.deleted = nil, nil, nil, nil, nil
	s.replay = nil
	return nil
}

// Seen implements dpop.ReplayCache with a dpop.MemoryReplayCache of
// dpop.DefaultReplayCacheSize keys that every user of the store shares (the
// Services of a test on one store, say), in this process only. It fails
// with ctx's error when ctx is done and with an error wrapping
// account.ErrStoreUnavailable after Close, recording nothing.
func (s *Store) Seen(ctx context.Context, key string, expires, now time.Time) (bool, error) {
	if err := s.lock(ctx, "dpop replay cache"); err != nil {
		return false, err
	}
	c := s.replay
	s.mu.Unlock()
	return c.Seen(ctx, key, expires, now)
}

// CreateUser inserts u, its CreatedAt normalized to UTC. It returns
// account.ErrUserExists, changing nothing, when the username is taken or
// was deleted (a tombstone).
func (s *Store) CreateUser(ctx context.Context, u account.User) error {
	if err := s.lock(ctx, "create user"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	_, gone := s.deleted[u.Username]
	if _, ok := s.users[u.Username]; ok || gone {
		return fmt.Errorf("memory: create user %q: %w", u.Username, account.ErrUserExists)
	}
	u.CreatedAt, u.LastLoginAt = u.CreatedAt.UTC(), u.LastLoginAt.UTC()
	s.users[u.Username] = u
	return nil
}

// UserByName returns the user or an error wrapping account.ErrUserNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (account.User, error) {
	if err := s.lock(ctx, "get user"); err != nil {
		return account.User{}, err
	}
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok {
		return account.User{}, fmt.Errorf("memory: get user %q: %w", username, account.ErrUserNotFound)
	}
	return u, nil
}

// UpdatePasswordHash replaces the user's password hash; it returns an error
// wrapping account.ErrUserNotFound for an unknown username.
func (s *Store) UpdatePasswordHash(ctx context.Context, username, hash string) error {
	if err := s.lock(ctx, "update password hash"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok {
		return fmt.Errorf("memory: update password hash of %q: %w", username, account.ErrUserNotFound)
	}
	u.PasswordHash = hash
	s.users[username] = u
	return nil
}

// LoadKeys returns copies of every key record, ordered by kid, and the
// key-set version (0 for a store that never applied a change).
func (s *Store) LoadKeys(ctx context.Context) ([]keys.Record, int64, error) {
	if err := s.lock(ctx, "load keys"); err != nil {
		return nil, 0, err
	}
	defer s.mu.Unlock()
	out := make([]keys.Record, 0, len(s.keys))
	for _, r := range s.keys {
		out = append(out, copyRecord(r))
	}
	slices.SortFunc(out, func(a, b keys.Record) int { return strings.Compare(a.KID, b.KID) })
	return out, s.version, nil
}

// KeysVersion returns the key-set version.
func (s *Store) KeysVersion(ctx context.Context) (int64, error) {
	if err := s.lock(ctx, "keys version"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return s.version, nil
}

// ApplyKeys applies ch when the version still equals expected and returns
// the new version, drawn by keys.NextVersion. Puts replace records with the same kid;
// deletes of unknown kids are ignored; a kid both put and deleted ends up
// deleted. It returns an error wrapping keys.ErrConflict, changing nothing,
// when the version differs, and an error for a record without a kid.
func (s *Store) ApplyKeys(ctx context.Context, expected int64, ch keys.Change) (int64, error) {
	if err := s.lock(ctx, "apply keys"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if s.version != expected {
		return 0, fmt.Errorf("memory: apply keys at version %d (stored %d): %w", expected, s.version, keys.ErrConflict)
	}
	for _, r := range ch.Put {
		if r.KID == "" {
			return 0, errors.New("memory: apply keys: record without kid")
		}
	}
	for _, r := range ch.Put {
		s.keys[r.KID] = copyRecord(r)
	}
	for _, kid := range ch.Delete {
		delete(s.keys, kid)
	}
	s.version = keys.NextVersion(s.version)
	return s.version, nil
}

// LoadSchedule returns the schedule SaveSchedule stored, or the zero Schedule.
func (s *Store) LoadSchedule(ctx context.Context) (keys.Schedule, error) {
	if err := s.lock(ctx, "load schedule"); err != nil {
		return keys.Schedule{}, err
	}
	defer s.mu.Unlock()
	return s.schedule, nil
}

// SaveSchedule stores the servers' schedule (rotation period,
// pre-publication lead, retention).
func (s *Store) SaveSchedule(ctx context.Context, sched keys.Schedule) error {
	if err := s.lock(ctx, "save schedule"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.schedule = sched
	return nil
}

// CreateRefreshToken stores a copy of t and its family, whose absolute end is
// t.FamilyExpiresAt (ExpiresAt is capped at it) and whose DPoP binding is
// t.JKT. It returns an error wrapping
// account.ErrUserNotFound when t.Username names no user, and an error when a
// token with the same hash or a family with the same id exists, the hash is
// empty or ExpiresAt is zero.
func (s *Store) CreateRefreshToken(ctx context.Context, t account.RefreshToken) error {
	if err := s.lock(ctx, "create refresh token"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.family[t.FamilyID]; ok {
		return errors.New("memory: create refresh token: a family with this id exists")
	}
	if s.users[t.Username].Disabled {
		return fmt.Errorf("memory: create refresh token for %q: %w", t.Username, account.ErrUserDisabled)
	}
	if err := s.insertRefresh(t); err != nil {
		return err
	}
	s.family[t.FamilyID] = family{username: t.Username, expiresAt: t.FamilyExpiresAt.UTC(), revokedAt: t.RevokedAt.UTC()}
	return nil
}

// insertRefresh inserts t, its ExpiresAt capped at FamilyExpiresAt; s.mu
// must be held.
func (s *Store) insertRefresh(t account.RefreshToken) error {
	if len(t.Hash) == 0 {
		return errors.New("memory: create refresh token: empty hash")
	}
	if t.ExpiresAt.IsZero() {
		return errors.New("memory: create refresh token: no expiry")
	}
	if _, ok := s.users[t.Username]; !ok {
		return fmt.Errorf("memory: create refresh token for %q: %w", t.Username, account.ErrUserNotFound)
	}
	if _, ok := s.refresh[string(t.Hash)]; ok {
		return errors.New("memory: create refresh token: a token with this hash exists")
	}
	if !t.FamilyExpiresAt.IsZero() && t.ExpiresAt.After(t.FamilyExpiresAt) {
		t.ExpiresAt = t.FamilyExpiresAt
	}
	s.refresh[string(t.Hash)] = copyRefresh(t)
	return nil
}

// RotateRefreshToken exchanges the token with hash for next, as
// account.RefreshTokenStore documents. next takes the family, username,
// parent (hash) and family end of the old token, its ExpiresAt capped at
// that end; its UsedAt and RevokedAt are cleared. The returned record is the
// old token with UsedAt set to now. A token already used or revoked, or of a
// revoked family, revokes its family (ErrRefreshReused) before its expiry is
// considered.
func (s *Store) RotateRefreshToken(ctx context.Context, hash []byte, next account.RefreshToken, now time.Time) (account.RefreshToken, error) {
	old, err := s.RotateRefreshTokenGrace(ctx, hash, next, now, 0)
	if err != nil {
		return account.RefreshToken{}, err
	}
	return old, nil
}

// RotateRefreshTokenGrace is RotateRefreshToken with a reuse grace interval,
// as account.RefreshTokenGraceStore documents: a token used less than grace
// before now, whose successor is next.Hash and neither used nor revoked, is
// exchanged again without any change; on ErrRefreshReused the presented
// token's record (after the revocation) is returned.
func (s *Store) RotateRefreshTokenGrace(ctx context.Context, hash []byte, next account.RefreshToken, now time.Time, grace time.Duration) (account.RefreshToken, error) {
	if err := s.lock(ctx, "rotate refresh token"); err != nil {
		return account.RefreshToken{}, err
	}
	defer s.mu.Unlock()
	old, ok := s.refresh[string(hash)]
	if !ok {
		return account.RefreshToken{}, fmt.Errorf("memory: rotate refresh token: %w", account.ErrRefreshNotFound)
	}
	now = now.UTC()
	famRevoked := !s.family[old.FamilyID].revokedAt.IsZero()
	if grace > 0 && !old.UsedAt.IsZero() && old.RevokedAt.IsZero() && !famRevoked && now.Before(old.UsedAt.Add(grace)) {
		succ, ok := s.refresh[string(next.Hash)]
		if ok && bytes.Equal(succ.ParentHash, hash) && succ.UsedAt.IsZero() && succ.RevokedAt.IsZero() {
			if !now.Before(old.ExpiresAt) {
				return account.RefreshToken{}, fmt.Errorf("memory: rotate refresh token of family %s: %w", old.FamilyID, account.ErrRefreshExpired)
			}
			return copyRefresh(old), nil // a retry within the grace: same successor, nothing changes
		}
	}
	if !old.UsedAt.IsZero() || !old.RevokedAt.IsZero() || famRevoked {
		s.revokeFamily(old.FamilyID, now)
		return copyRefresh(s.refresh[string(hash)]), fmt.Errorf("memory: rotate refresh token of family %s: %w", old.FamilyID, account.ErrRefreshReused)
	}
	if !now.Before(old.ExpiresAt) {
		return account.RefreshToken{}, fmt.Errorf("memory: rotate refresh token of family %s: %w", old.FamilyID, account.ErrRefreshExpired)
	}
	next.FamilyID, next.Username, next.ParentHash, next.FamilyExpiresAt, next.JKT = old.FamilyID, old.Username, hash, old.FamilyExpiresAt, old.JKT
	next.UsedAt, next.RevokedAt = time.Time{}, time.Time{}
	if err := s.insertRefresh(next); err != nil {
		return account.RefreshToken{}, err
	}
	old.UsedAt = now
	s.refresh[string(hash)] = old
	return copyRefresh(old), nil
}

// revokeFamily marks the family revoked and sets RevokedAt to now on every
// token of it not yet revoked; s.mu must be held.
func (s *Store) revokeFamily(id string, now time.Time) {
	if f, ok := s.family[id]; ok && f.revokedAt.IsZero() {
		f.revokedAt = now
		s.family[id] = f
	}
	for h, t := range s.refresh {
		if t.FamilyID == id && t.RevokedAt.IsZero() {
			t.RevokedAt = now
			s.refresh[h] = t
		}
	}
}

// RefreshTokenByHash returns the token with hash as stored, or an error
// wrapping account.ErrRefreshNotFound.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (account.RefreshToken, error) {
	if err := s.lock(ctx, "get refresh token"); err != nil {
		return account.RefreshToken{}, err
	}
	defer s.mu.Unlock()
	t, ok := s.refresh[string(hash)]
	if !ok {
		return account.RefreshToken{}, fmt.Errorf("memory: get refresh token: %w", account.ErrRefreshNotFound)
	}
	return copyRefresh(t), nil
}

// RevokeRefreshFamily revokes, at now, every token of the family of the
// token with hash (tokens already revoked keep their time) and returns the
// family id; an error wrapping account.ErrRefreshNotFound for an unknown hash.
func (s *Store) RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) (string, error) {
	if err := s.lock(ctx, "revoke refresh family"); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	t, ok := s.refresh[string(hash)]
	if !ok {
		return "", fmt.Errorf("memory: revoke refresh family: %w", account.ErrRefreshNotFound)
	}
	s.revokeFamily(t.FamilyID, now.UTC())
	return t.FamilyID, nil
}

// RevokeUserRefreshFamilies revokes, at now, every family of username and
// returns how many were not revoked before; an error wrapping
// account.ErrUserNotFound for an unknown username.
func (s *Store) RevokeUserRefreshFamilies(ctx context.Context, username string, now time.Time) (int64, error) {
	if err := s.lock(ctx, "revoke refresh families"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if _, ok := s.users[username]; !ok {
		return 0, fmt.Errorf("memory: revoke refresh families of %q: %w", username, account.ErrUserNotFound)
	}
	var n int64
	for id, f := range s.family {
		if f.username == username && f.revokedAt.IsZero() {
			s.revokeFamily(id, now.UTC())
			n++
		}
	}
	return n, nil
}

// PurgeRefreshTokens deletes every family all of whose tokens have an
// ExpiresAt before before, and returns how many tokens it deleted.
func (s *Store) PurgeRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	if err := s.lock(ctx, "purge refresh tokens"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	live := map[string]bool{}
	for _, t := range s.refresh {
		if !t.ExpiresAt.Before(before) {
			live[t.FamilyID] = true
		}
	}
	var n int64
	for h, t := range s.refresh {
		if !live[t.FamilyID] {
			delete(s.refresh, h)
			delete(s.family, t.FamilyID)
			n++
		}
	}
	return n, nil
}

func copyRecord(r keys.Record) keys.Record {
	r.PrivateKey = bytes.Clone(r.PrivateKey)
	r.CreatedAt = r.CreatedAt.UTC()
	r.PublishedAt = r.PublishedAt.UTC()
	r.ActivatedAt = r.ActivatedAt.UTC()
	r.RetiredAt = r.RetiredAt.UTC()
	r.RemoveAt = r.RemoveAt.UTC()
	r.RevokedAt = r.RevokedAt.UTC()
	return r
}

func copyRefresh(t account.RefreshToken) account.RefreshToken {
	t.Hash = bytes.Clone(t.Hash)
	t.ParentHash = bytes.Clone(t.ParentHash)
	t.IssuedAt = t.IssuedAt.UTC()
	t.ExpiresAt = t.ExpiresAt.UTC()
	t.UsedAt = t.UsedAt.UTC()
	t.RevokedAt = t.RevokedAt.UTC()
	t.FamilyExpiresAt = t.FamilyExpiresAt.UTC()
	return t
}

// ListUsers returns every user ordered by username, without password
// hashes; tombstones are not listed.
func (s *Store) ListUsers(ctx context.Context) ([]account.User, error) {
	if err := s.lock(ctx, "list users"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]account.User, 0, len(s.users))
	for _, u := range s.users {
		u.PasswordHash = ""
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b account.User) int { return strings.Compare(a.Username, b.Username) })
	return out, nil
}

// SetUserDisabled sets the user's Disabled flag; disabling revokes every
// family of the user at now, as account.UserAdminStore documents.
func (s *Store) SetUserDisabled(ctx context.Context, username string, disabled bool, now time.Time) error {
	if err := s.lock(ctx, "set user disabled"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok {
		return fmt.Errorf("memory: set user disabled %q: %w", username, account.ErrUserNotFound)
	}
	u.Disabled = disabled
	s.users[username] = u
	if disabled {
		for id, f := range s.family {
			if f.username == username && f.revokedAt.IsZero() {
				s.revokeFamily(id, now.UTC())
			}
		}
	}
	return nil
}

// DeleteUser deletes the user and its refresh tokens and families, and
// keeps a tombstone of the name, as account.UserAdminStore documents.
func (s *Store) DeleteUser(ctx context.Context, username string, now time.Time) error {
	if err := s.lock(ctx, "delete user"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.users[username]; !ok {
		return fmt.Errorf("memory: delete user %q: %w", username, account.ErrUserNotFound)
	}
	delete(s.users, username)
	for h, t := range s.refresh {
		if t.Username == username {
			delete(s.refresh, h)
		}
	}
	for id, f := range s.family {
		if f.username == username {
			delete(s.family, id)
		}
	}
	s.deleted[username] = now.UTC()
	return nil
}

// RecordLogin sets the user's LastLoginAt; an error wrapping
// account.ErrUserNotFound for an unknown username.
func (s *Store) RecordLogin(ctx context.Context, username string, at time.Time) error {
	if err := s.lock(ctx, "record login"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok {
		return fmt.Errorf("memory: record login of %q: %w", username, account.ErrUserNotFound)
	}
	u.LastLoginAt = at.UTC()
	s.users[username] = u
	return nil
}
