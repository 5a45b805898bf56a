package sqlite_test

import (
	"crypto/sha256"
	"encoding/binary"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth"
)

// The benchmarks measure the store round trips of the account flow, without
// password hashing: login reads the user (UserByName) and stores a refresh
// token, refresh rotates one (RotateRefreshToken), register inserts a user
// (CreateUser). adapters/postgres has the same three for comparison.

func benchStore(b *testing.B) jwtauth.Store {
	b.Helper()
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "jwtauth.db"))
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func BenchmarkStoreUserByName(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	require.NoError(b, s.CreateUser(ctx, jwtauth.User{Username: "alice", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", CreatedAt: time.Now()}))
	for b.Loop() {
		if _, err := s.UserByName(ctx, "alice"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStoreRotateRefreshToken(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	now := time.Now()
	require.NoError(b, s.CreateUser(ctx, jwtauth.User{Username: "alice", PasswordHash: "h", CreatedAt: now}))
	hash := func(i uint64) []byte {
		h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, i))
		return h[:]
	}
	require.NoError(b, s.CreateRefreshToken(ctx, jwtauth.RefreshToken{Hash: hash(0), FamilyID: "fam", Username: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}))
	var i uint64
	for b.Loop() {
		next := jwtauth.RefreshToken{Hash: hash(i + 1), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if _, err := s.RotateRefreshToken(ctx, hash(i), next, now); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkStoreCreateUser(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	now := time.Now()
	i := 0
	for b.Loop() {
		if err := s.CreateUser(ctx, jwtauth.User{Username: "user-" + strconv.Itoa(i), PasswordHash: "h", CreatedAt: now}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
