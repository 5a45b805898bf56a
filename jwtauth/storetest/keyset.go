package storetest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/keys"
)

var keyTests = []subtest{
	{"Empty", testKeysEmpty},
	{"PutAndDelete", testKeysPutAndDelete},
	{"Conflict", testKeysConflict},
	{"RoundTrip", testKeysRoundTrip},
	{"CopiesBytes", testKeysCopiesBytes},
	{"ParallelApply", testKeysParallelApply},
	{"Schedule", testKeysSchedule},
}

// record returns a plausible key record; the blob is random bytes, which a
// store must keep without interpreting them.
func record(kid string, state keys.State, created time.Time) keys.Record {
	blob := make([]byte, 1218)
	_, _ = rand.Read(blob)
	blob[0], blob[1] = 0, 0x30 // a NUL byte and an ASN.1 tag: binary, not text
	return keys.Record{KID: kid, State: state, Bits: 2048, PrivateKey: blob, CreatedAt: created, PublishedAt: created}
}

// utcRecord returns r with every time in UTC, as a store gives it back.
func utcRecord(r keys.Record) keys.Record {
	r.CreatedAt, r.PublishedAt, r.ActivatedAt = r.CreatedAt.UTC(), r.PublishedAt.UTC(), r.ActivatedAt.UTC()
	r.RetiredAt, r.RemoveAt, r.RevokedAt = r.RetiredAt.UTC(), r.RemoveAt.UTC(), r.RevokedAt.UTC()
	return r
}

// loadKeys reads the key set, checks that LoadKeys and KeysVersion agree,
// and returns the records sorted by kid (the port promises no order).
func loadKeys(t *testing.T, s account.Store) ([]keys.Record, int64) {
	t.Helper()
	recs, v, err := s.LoadKeys(t.Context())
	require.NoError(t, err)
	v2, err := s.KeysVersion(t.Context())
	require.NoError(t, err)
	require.Equal(t, v, v2, "LoadKeys and KeysVersion disagree")
	slices.SortFunc(recs, func(a, b keys.Record) int { return strings.Compare(a.KID, b.KID) })
	return recs, v
}

func testKeysEmpty(t *testing.T, s account.Store) {
	recs, v := loadKeys(t, s)
	assert.Empty(t, recs)
	assert.Equal(t, int64(0), v)
}

func testKeysPutAndDelete(t *testing.T, s account.Store) {
	ctx := t.Context()
	a, b := record("kid-a", keys.StateActive, t0), record("kid-b", keys.StateNext, t0.Add(time.Minute))
	a.ActivatedAt = t0
	v1, err := s.ApplyKeys(ctx, 0, keys.Change{Put: []keys.Record{a, b}})
	require.NoError(t, err)
	assert.NotZero(t, v1)
	recs, v := loadKeys(t, s)
	assert.Equal(t, v1, v)
	assert.Equal(t, []keys.Record{a, b}, recs)

	// Replace a (matched by kid), delete b, add c.
	a.State, a.RetiredAt, a.RemoveAt = keys.StateRetired, t0.Add(time.Hour), t0.Add(2*time.Hour)
	c := record("kid-c", keys.StateNext, t0.Add(time.Hour))
	v2, err := s.ApplyKeys(ctx, v1, keys.Change{Put: []keys.Record{a, c}, Delete: []string{"kid-b"}})
	require.NoError(t, err)
	assert.NotEqual(t, v2, v1)
	recs, v = loadKeys(t, s)
	assert.Equal(t, v2, v)
	assert.Equal(t, []keys.Record{a, c}, recs)

	// An empty change is still a change: the version changes.
	v3, err := s.ApplyKeys(ctx, v2, keys.Change{})
	require.NoError(t, err)
	assert.NotContains(t, []int64{0, v1, v2}, v3)
	recs, v = loadKeys(t, s)
	assert.Equal(t, v3, v)
	assert.Equal(t, []keys.Record{a, c}, recs)

	// Delete everything.
	v4, err := s.ApplyKeys(ctx, v3, keys.Change{Delete: []string{"kid-a", "kid-c"}})
	require.NoError(t, err)
	recs, v = loadKeys(t, s)
	assert.Equal(t, v4, v)
	assert.Empty(t, recs)
}

func testKeysConflict(t *testing.T, s account.Store) {
	ctx := t.Context()
	a := record("kid-a", keys.StateActive, t0)
	v1, err := s.ApplyKeys(ctx, 0, keys.Change{Put: []keys.Record{a}})
	require.NoError(t, err)

	for _, stale := range []int64{0, v1 - 1, v1 + 1, v1 + 100} {
		if stale == v1 {
			continue
		}
		b := record("kid-b", keys.StateNext, t0)
		aa := a
		aa.State = keys.StateRevoked
		_, err := s.ApplyKeys(ctx, stale, keys.Change{Put: []keys.Record{aa, b}, Delete: []string{"kid-a"}})
		require.ErrorIs(t, err, keys.ErrConflict, "expected version %d, stored %d", stale, v1)
		assert.NotContains(t, err.Error(), string(b.PrivateKey), "error message leaks the private key")
		recs, v := loadKeys(t, s)
		assert.Equal(t, v1, v, "a conflicting ApplyKeys changed the version")
		assert.Equal(t, []keys.Record{a}, recs, "a conflicting ApplyKeys changed the records")
	}
}

func testKeysRoundTrip(t *testing.T, s account.Store) {
	ctx := t.Context()
	full := keys.Record{
		KID:         "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
		State:       keys.StateRevoked,
		Bits:        4096,
		PrivateKey:  append([]byte("jwtauth-aes256gcm-v1:\x00\xff\x01"), bytes.Repeat([]byte{0, 0x80, 0xff}, 700)...),
		CreatedAt:   t0.In(elsewhere),
		PublishedAt: t0.Add(1),
		ActivatedAt: t0.Add(time.Hour + 2),
		RetiredAt:   t0.Add(25 * time.Hour).In(elsewhere),
		RemoveAt:    t0.Add(26*time.Hour + 20*time.Minute + 999999999),
		RevokedAt:   time.Date(2262, time.January, 1, 0, 0, 0, 1, time.UTC),
	}
	sparse := record("kid-sparse", keys.StateNext, t0) // ActivatedAt, RetiredAt, RemoveAt, RevokedAt zero
	old := record("kid-old", keys.StateRetired, time.Date(1970, time.January, 1, 0, 0, 1, 0, time.UTC))
	in := []keys.Record{full, sparse, old}
	_, err := s.ApplyKeys(ctx, 0, keys.Change{Put: in})
	require.NoError(t, err)

	recs, _ := loadKeys(t, s)
	want := []keys.Record{utcRecord(full), sparse, old}
	slices.SortFunc(want, func(a, b keys.Record) int { return strings.Compare(a.KID, b.KID) })
	require.Len(t, recs, len(want))
	for i := range want {
		assert.Equal(t, want[i], recs[i], "record %s does not round-trip", want[i].KID)
		for _, tm := range []time.Time{recs[i].CreatedAt, recs[i].PublishedAt, recs[i].ActivatedAt, recs[i].RetiredAt, recs[i].RemoveAt, recs[i].RevokedAt} {
			if !tm.IsZero() {
				assert.Equal(t, time.UTC, tm.Location(), "record %s: time not in UTC", want[i].KID)
			}
		}
	}
	assert.True(t, recs[slices.IndexFunc(recs, func(r keys.Record) bool { return r.KID == "kid-sparse" })].RevokedAt.IsZero())
}

func testKeysCopiesBytes(t *testing.T, s account.Store) {
	ctx := t.Context()
	a := record("kid-a", keys.StateActive, t0)
	want := bytes.Clone(a.PrivateKey)
	_, err := s.ApplyKeys(ctx, 0, keys.Change{Put: []keys.Record{a}})
	require.NoError(t, err)
	a.PrivateKey[5] ^= 0xff // the caller reuses its buffer

	recs, _ := loadKeys(t, s)
	require.Len(t, recs, 1)
	assert.Equal(t, want, recs[0].PrivateKey, "the store kept the caller's slice")
	recs[0].PrivateKey[7] ^= 0xff // the caller scribbles on what it got

	recs, _ = loadKeys(t, s)
	require.Len(t, recs, 1)
	assert.Equal(t, want, recs[0].PrivateKey, "the store handed out its own slice")
}

func testKeysParallelApply(t *testing.T, s account.Store) {
	ctx := t.Context()
	v1, err := s.ApplyKeys(ctx, 0, keys.Change{Put: []keys.Record{record("kid-base", keys.StateActive, t0)}})
	require.NoError(t, err)
	const n = 20
	versions := make([]int64, n)
	errs := race(n, func(i int) error {
		var err error
		versions[i], err = s.ApplyKeys(ctx, v1, keys.Change{
			Put:    []keys.Record{record(fmt.Sprintf("kid-%02d", i), keys.StateNext, t0.Add(time.Duration(i)))},
			Delete: []string{"kid-base"},
		})
		return err
	})
	winner := exactlyOneWins(t, errs, keys.ErrConflict)
	require.GreaterOrEqual(t, winner, 0)
	recs, v := loadKeys(t, s)
	assert.Equal(t, versions[winner], v)
	assert.NotEqual(t, v, v1)
	require.Len(t, recs, 1, "want exactly the winner's record")
	assert.Equal(t, fmt.Sprintf("kid-%02d", winner), recs[0].KID)
}

// testKeysSchedule checks keys.ScheduleStore, for a store that implements
// it: nothing stored at first, then the last schedule saved, retention
// included (to the nanosecond), the key-set version untouched.
func testKeysSchedule(t *testing.T, s account.Store) {
	ss, ok := s.(keys.ScheduleStore)
	if !ok {
		t.Skip("the store does not implement keys.ScheduleStore")
	}
	ctx := t.Context()
	got, err := ss.LoadSchedule(ctx)
	require.NoError(t, err)
	assert.Equal(t, keys.Schedule{}, got)
	assert.True(t, got.IsZero())

	v1, err := s.ApplyKeys(ctx, 0, keys.Change{Put: []keys.Record{record("kid-a", keys.StateActive, t0)}})
	require.NoError(t, err)
	require.NoError(t, ss.SaveSchedule(ctx, keys.DefaultPolicy().Schedule()))
	want := keys.Schedule{RotateEvery: 2*time.Second + 1, Prepublish: 5 * time.Second, Retain: 2*time.Minute + 30*time.Second + 7}
	require.NoError(t, ss.SaveSchedule(ctx, want))
	got, err = ss.LoadSchedule(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	_, v := loadKeys(t, s)
	assert.Equal(t, v1, v, "saving the schedule changed the key-set version")
}
