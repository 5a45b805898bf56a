package jwtauth_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
)

func bearerTo(access string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+access) }
}

// TestDeleteAccount: DELETE /account with the access token and the
// password deletes the user and its sessions, keeps the name reserved, and
// refuses what SPEC §2 says it refuses.
func TestDeleteAccount(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		var events []account.AuditEvent
		var mu sync.Mutex
		s := newServer(t, open(t), options{accounts: func(c *account.Config) {
			c.Audit = func(_ context.Context, e account.AuditEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }
		}})
		s.register("alice", alicePW)
		s.register("bob", alicePW)
		alice := s.login("alice", alicePW)
		access, refresh := alice.str("access_token"), alice.str("refresh_token")
		bob := s.login("bob", alicePW).str("refresh_token")
		wrongLogin := s.do("POST", "/login", creds("bob", "not the password"))

		// Refusals that change nothing.
		res := s.do("DELETE", "/account", map[string]string{"password": "not the password"}, bearerTo(access))
		assert.Equal(t, http.StatusUnauthorized, res.Code)
		assert.Equal(t, wrongLogin.Raw, res.Raw, "a wrong password answers as at /login")
		for _, tc := range []struct {
			name string
			body any
			edit []func(*http.Request)
			want int
		}{
			{"no token", map[string]string{"password": alicePW}, nil, http.StatusUnauthorized},
			{"bad token", map[string]string{"password": alicePW}, []func(*http.Request){bearerTo(access + "x")}, http.StatusUnauthorized},
			{"bad JSON", `{"password":`, []func(*http.Request){bearerTo(access)}, http.StatusBadRequest},
			{"missing password", `{}`, []func(*http.Request){bearerTo(access)}, http.StatusBadRequest},
			{"wrong content type", map[string]string{"password": alicePW}, []func(*http.Request){bearerTo(access), func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }}, http.StatusUnsupportedMediaType},
			{"oversized", `{"password":"` + strings.Repeat("a", jwtauth.MaxBodySize) + `"}`, []func(*http.Request){bearerTo(access)}, http.StatusRequestEntityTooLarge},
		} {
			res := s.do("DELETE", "/account", tc.body, tc.edit...)
			assert.Equal(t, tc.want, res.Code, "%s: %s", tc.name, res.Raw)
		}
		assert.Equal(t, http.StatusOK, s.refresh(refresh).Code, "nothing was deleted")
		refresh = s.login("alice", alicePW).str("refresh_token")

		res = s.do("DELETE", "/account", map[string]string{"password": alicePW}, bearerTo(access))
		require.Equal(t, http.StatusNoContent, res.Code, res.Raw)
		assert.Empty(t, res.Raw)
		assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))

		assertInvalidGrant(t, s.refresh(refresh), "a session of the deleted user")
		res = s.do("POST", "/login", creds("alice", alicePW))
		assert.Equal(t, http.StatusUnauthorized, res.Code)
		assert.Equal(t, wrongLogin.Raw, res.Raw, "a deleted user's login answers as a wrong password")
		res = s.do("POST", "/register", creds("alice", "another password"))
		assert.Equal(t, http.StatusConflict, res.Code, "the name stays reserved")
		assert.Equal(t, "user_exists", res.str("error"))
		res = s.do("DELETE", "/account", map[string]string{"password": alicePW}, bearerTo(access))
		assert.Equal(t, http.StatusUnauthorized, res.Code, "a repeated delete: the user is gone")
		assert.Equal(t, "invalid_credentials", res.str("error"))
		assert.Equal(t, http.StatusOK, s.refresh(bob).Code, "another user's session")
		users, err := s.accounts.ListUsers(context.Background())
		require.NoError(t, err)
		require.Len(t, users, 1)
		assert.Equal(t, "bob", users[0].Username)

		mu.Lock()
		defer mu.Unlock()
		var kinds []string
		for _, e := range events {
			if e.Kind == account.AuditUserDeleted {
				kinds = append(kinds, e.Kind+":"+e.Username)
			}
		}
		assert.Equal(t, []string{"user_deleted:alice"}, kinds)
	})
}

// TestDeleteAccountIsThrottledAsLogin: wrong passwords at DELETE /account
// are charged to the same per-user budget as failed logins.
func TestDeleteAccountIsThrottledAsLogin(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	s.register("alice", alicePW)
	access := s.login("alice", alicePW).str("access_token")
	for i := range 5 {
		res := s.do("POST", "/login", creds("alice", "wrong password"), from("198.51.100.1:1"))
		require.Equal(t, http.StatusUnauthorized, res.Code, "login failure %d", i)
		res = s.do("DELETE", "/account", map[string]string{"password": "wrong password"}, bearerTo(access), from("198.51.100.2:1"))
		require.Equal(t, http.StatusUnauthorized, res.Code, "delete failure %d", i)
	}
	res := s.do("DELETE", "/account", map[string]string{"password": alicePW}, bearerTo(access), from("198.51.100.3:1"))
	assert.Equal(t, http.StatusTooManyRequests, res.Code, "the 11th failure of the name: throttled, even with the right password")
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
	assert.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("alice", alicePW), from("198.51.100.3:1")).Code)
	s.clock.Advance(time.Hour)
	access = s.login("alice", alicePW).str("access_token")
	assert.Equal(t, http.StatusNoContent, s.do("DELETE", "/account", map[string]string{"password": alicePW}, bearerTo(access)).Code)
}

// TestDisabledUser: a disabled user's login answers exactly as a wrong
// password, after the same password-hash work; its sessions end at once;
// enabling lets it log in again.
func TestDisabledUser(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		var hashes atomic.Int64
		s := newServer(t, open(t), options{accounts: func(c *account.Config) {
			c.Trace = &account.Trace{HashDone: func(time.Duration) { hashes.Add(1) }}
		}})
		s.register("alice", alicePW)
		s.register("carol", alicePW)
		refresh := s.login("alice", alicePW).str("refresh_token")
		carol := s.login("carol", alicePW).str("refresh_token")
		wrong := s.do("POST", "/login", creds("carol", "not the password"))

		ctx := context.Background()
		require.NoError(t, s.accounts.DisableUser(ctx, "ALICE"))
		assertInvalidGrant(t, s.refresh(refresh), "a session of a disabled user ends at once")
		before := hashes.Load()
		res := s.do("POST", "/login", creds("alice", alicePW))
		assert.Equal(t, int64(1), hashes.Load()-before, "the same password-hash work as a wrong password")
		assert.Equal(t, wrong.Code, res.Code)
		assert.Equal(t, wrong.Raw, res.Raw, "the same body as a wrong password")
		assert.Equal(t, wrong.Header, res.Header, "the same headers as a wrong password")
		assert.Equal(t, http.StatusOK, s.refresh(carol).Code, "another user's session")
		for i := 2; i <= 10; i++ { // charged to the throttle as a wrong password is
			require.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds("alice", alicePW)).Code, "failure %d", i)
		}
		assert.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("alice", alicePW)).Code, "the 11th: throttled")
		s.clock.Advance(time.Hour)
		carol = s.login("carol", alicePW).str("refresh_token")

		users, err := s.accounts.ListUsers(ctx)
		require.NoError(t, err)
		require.Len(t, users, 2)
		assert.True(t, users[0].Disabled)
		assert.Empty(t, users[0].PasswordHash)
		assert.Equal(t, s.clock.Now().UTC(), users[1].LastLoginAt, "carol's last login")

		require.NoError(t, s.accounts.EnableUser(ctx, "alice"))
		assertInvalidGrant(t, s.refresh(refresh), "enabling restores no session")
		s.login("alice", alicePW)

		require.ErrorIs(t, s.accounts.DisableUser(ctx, "nobody"), account.ErrUserNotFound)
		require.ErrorIs(t, s.accounts.EnableUser(ctx, "nobody"), account.ErrUserNotFound)
		require.ErrorIs(t, s.accounts.DeleteUser(ctx, "nobody"), account.ErrUserNotFound)
		require.ErrorIs(t, s.accounts.SetPassword(ctx, "nobody", "a good long password"), account.ErrUserNotFound)
	})
}

// TestSetPassword: an operator's reset checks the policy, changes the
// password and ends every session.
func TestSetPassword(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	s.register("alice", alicePW)
	refresh := s.login("alice", alicePW).str("refresh_token")
	ctx := context.Background()
	var e *account.Error
	require.ErrorAs(t, s.accounts.SetPassword(ctx, "alice", "short"), &e)
	assert.Equal(t, "invalid_request", e.Code)
	assert.Equal(t, http.StatusOK, s.refresh(refresh).Code, "a refused reset changes nothing")
	refresh = s.login("alice", alicePW).str("refresh_token")

	require.NoError(t, s.accounts.SetPassword(ctx, "Alice", "the new long password"))
	assertInvalidGrant(t, s.refresh(refresh), "sessions end")
	assert.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds("alice", alicePW)).Code, "the old password")
	s.login("alice", "the new long password")
}

// userStoreOnly is a UserStore of an application's own, without the
// UserAdminStore extension.
type userStoreOnly struct{ account.UserStore }

func TestUserAdminNeedsTheExtension(t *testing.T) {
	store := memory.New()
	s := newServer(t, store, options{accounts: func(c *account.Config) { c.Users = userStoreOnly{store} }})
	s.register("alice", alicePW)
	access := s.login("alice", alicePW).str("access_token")
	_, err := s.accounts.ListUsers(context.Background())
	require.ErrorIs(t, err, account.ErrUserAdminUnsupported)
	require.ErrorIs(t, s.accounts.DisableUser(context.Background(), "alice"), account.ErrUserAdminUnsupported)
	res := s.do("DELETE", "/account", map[string]string{"password": alicePW}, bearerTo(access))
	assert.Equal(t, http.StatusNotImplemented, res.Code, res.Raw)
	assert.Equal(t, "not_implemented", res.str("error"))
	require.NoError(t, s.accounts.SetPassword(context.Background(), "alice", "the new long password"), "needs only a UserStore")
}

// TestDeleteUserDropsItsThrottleState: the per-user bucket of a deleted
// name goes with the user, in process and in a shared ThrottleStore.
func TestDeleteUserDropsItsThrottleState(t *testing.T) {
	for _, shared := range []bool{false, true} {
		store := memory.New()
		s := newServer(t, store, options{accounts: func(c *account.Config) {
			c.Throttle.IPFailures = -1
			if shared {
				c.Throttle.Store = store
			}
		}})
		s.register("alice", alicePW)
		for range 10 {
			require.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds("alice", "wrong password")).Code)
		}
		require.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("alice", "wrong password")).Code, "shared %v", shared)
		require.NoError(t, s.accounts.DeleteUser(context.Background(), "alice"))
		res := s.do("POST", "/login", creds("alice", "wrong password"))
		assert.Equal(t, http.StatusUnauthorized, res.Code, "shared %v: the name's bucket is gone: %s", shared, res.Raw)
	}
}
