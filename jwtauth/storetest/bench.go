package storetest

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// The benchmarks measure the store round trips of the account flow, without
// password hashing: login reads the user (UserByName) and stores a refresh
// token, refresh rotates one (RotateRefreshToken), register inserts a user
// (CreateUser). Every store adapter runs them on a fresh store, so their
// figures compare directly.

// BenchmarkUserByName measures one UserByName of an existing user.
func BenchmarkUserByName(b *testing.B, s account.Store) {
	ctx := b.Context()
	if err := s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.UserByName(ctx, "alice"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRotateRefreshToken measures one RotateRefreshToken along a chain.
func BenchmarkRotateRefreshToken(b *testing.B, s account.Store) {
	ctx := b.Context()
	now := time.Now()
	if err := s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: "h", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	hash := func(i uint64) []byte {
		h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, i))
		return h[:]
	}
	if err := s.CreateRefreshToken(ctx, account.RefreshToken{Hash: hash(0), FamilyID: "fam", Username: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	var i uint64
	b.ReportAllocs()
	for b.Loop() {
		next := account.RefreshToken{Hash: hash(i + 1), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if _, err := s.RotateRefreshToken(ctx, hash(i), next, now); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCreateUser measures one CreateUser of a new username.
func BenchmarkCreateUser(b *testing.B, s account.Store) {
	ctx := b.Context()
	now := time.Now()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := s.CreateUser(ctx, account.User{Username: "user-" + strconv.Itoa(i), PasswordHash: "h", CreatedAt: now}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
