package account_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// TestChangePasswordLibrary: Accounts.ChangePassword called directly. A new
// password outside the policy is refused before any hash is computed or
// throttle token spent; an unknown user and a wrong current password get
// the login's invalid_credentials after one hash each, and an audit event
// with the client address of the context; a success computes two hashes
// (the check and the new hash), works without a RefreshTokenStore (no
// refresh token then), and reports "change_password" to the trace.
func TestChangePasswordLibrary(t *testing.T) {
	f := newFixture(t)
	store := memory.New()
	var events []account.AuditEvent
	ops := map[string]int{}
	a, err := account.New(account.Config{Users: store, Issuer: f.issuer, Argon2: fastArgon, Logger: quiet,
		Audit: func(_ context.Context, e account.AuditEvent) { events = append(events, e) },
		Trace: &account.Trace{Operation: func(op, result string) { ops[op+" "+result]++ }}})
	require.NoError(t, err)
	ctx := account.ContextWithClient(t.Context(), netip.MustParseAddr("192.0.2.1"))
	require.NoError(t, a.Register(ctx, "alice", "correct horse battery"))
	events = nil
	hashes := account.CountHashes(t)

	_, err = a.ChangePassword(ctx, "alice", "correct horse battery", "short")
	var e *account.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "invalid_request", e.Code)
	assert.Zero(t, hashes.Load(), "a refused new password costs no hash")

	for _, tc := range []struct{ user, current string }{{"carol", "correct horse battery"}, {"alice", "wrong password"}} {
		hashes.Store(0)
		_, err = a.ChangePassword(ctx, tc.user, tc.current, "a brand new passphrase")
		assert.ErrorIs(t, err, account.ErrInvalidCredentials, tc.user)
		assert.Equal(t, int64(1), hashes.Load(), "%s: one verification, as a login", tc.user)
	}
	require.Len(t, events, 2)
	for _, ev := range events {
		assert.Equal(t, account.AuditPasswordChangeFailed, ev.Kind)
		assert.Equal(t, "invalid_credentials", ev.Reason)
		assert.Equal(t, "192.0.2.1", ev.Client.String())
	}
	assert.Empty(t, events[0].Username, "an unknown name is not reported")
	assert.Equal(t, "alice", events[1].Username)

	hashes.Store(0)
	resp, err := a.ChangePassword(ctx, "ALICE", "correct horse battery", "a brand new passphrase")
	require.NoError(t, err)
	assert.Equal(t, int64(2), hashes.Load(), "the check and the new hash")
	assert.NotEmpty(t, resp.AccessToken)
	assert.Empty(t, resp.RefreshToken, "no RefreshTokenStore")
	assert.NotEmpty(t, resp.DeviceToken)
	require.Len(t, events, 3)
	assert.Equal(t, account.AuditEvent{Kind: account.AuditPasswordChange, Username: "alice", Client: netip.MustParseAddr("192.0.2.1")}, events[2])
	_, err = a.Login(ctx, "alice", "correct horse battery")
	assert.ErrorIs(t, err, account.ErrInvalidCredentials)
	_, err = a.Login(ctx, "alice", "a brand new passphrase")
	assert.NoError(t, err)
	assert.Equal(t, map[string]int{"change_password invalid_request": 1, "change_password invalid_credentials": 2, "change_password ok": 1,
		"login invalid_credentials": 1, "login ok": 1, "register ok": 1}, ops)
}
