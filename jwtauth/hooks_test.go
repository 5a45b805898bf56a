package jwtauth_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// roleBook is a claims hook over a mutable table of roles, which can be
// told to fail or to return bad claims.
type roleBook struct {
	mu    sync.Mutex
	roles map[string][]string
	calls []string
	bad   map[string]any // returned instead when set
	err   error
}

func (b *roleBook) claims(_ context.Context, username string) (map[string]any, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, username)
	if b.err != nil {
		return nil, b.err
	}
	if b.bad != nil {
		return b.bad, nil
	}
	return map[string]any{"roles": b.roles[username], "scope": "orders:read"}, nil
}

func (b *roleBook) set(f func(b *roleBook)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

func (s *server) claims(access string) *token.Claims {
	s.t.Helper()
	c, err := s.verifier.Verify(context.Background(), access)
	require.NoError(s.t, err)
	return c
}

// TestClaimsHookAtLoginAndRefresh: the hook's claims reach the token at
// login, and a role change reaches it at the next refresh.
func TestClaimsHookAtLoginAndRefresh(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		book := &roleBook{roles: map[string][]string{"alice": {"user"}}}
		s := newServer(t, open(t), options{accounts: func(c *account.Config) { c.Claims = book.claims }})
		s.register("Alice", alicePW)
		res := s.login("ALICE", alicePW)
		c := s.claims(res.str("access_token"))
		assert.Equal(t, []string{"user"}, c.Roles())
		assert.Equal(t, []string{"orders:read"}, c.Scopes())
		assert.Equal(t, []string{"alice"}, book.calls, "the hook gets the normalized username")

		book.set(func(b *roleBook) { b.roles["alice"] = []string{"user", "admin"} })
		res = s.refresh(res.str("refresh_token"))
		require.Equal(t, http.StatusOK, res.Code, res.Raw)
		assert.Equal(t, []string{"user", "admin"}, s.claims(res.str("access_token")).Roles())
		assert.Equal(t, []string{"alice", "alice"}, book.calls)
	})
}

// TestClaimsHookFailureSpendsNothing: a hook error or bad claims fail the
// login or refresh with a clear error, issue nothing, and leave the refresh
// token presented valid: it refreshes once the hook works again, with no
// reuse detected.
func TestClaimsHookFailureSpendsNothing(t *testing.T) {
	many := map[string]any{}
	for i := range 200 {
		many[fmt.Sprintf("claim%03d", i)] = strings.Repeat("x", 60)
	}
	for _, tc := range []struct {
		name   string
		broken func(b *roleBook)
		status int
		is     error
		msg    string
	}{
		{"hook error", func(b *roleBook) { b.err = errors.New("role directory down") }, 500, nil, `claims hook for "alice": role directory down`},
		{"hook outage", func(b *roleBook) { b.err = fmt.Errorf("roles: %w", account.ErrStoreUnavailable) }, 503, account.ErrStoreUnavailable, `claims hook for "alice"`},
		{"registered claim", func(b *roleBook) { b.bad = map[string]any{"sub": "admin"} }, 500, token.ErrInvalidClaims, `"sub" is a registered claim`},
		{"non-string role", func(b *roleBook) { b.bad = map[string]any{"roles": []any{"admin", 42}} }, 500, token.ErrInvalidClaims, `"roles" must be an array of strings`},
		{"null role", func(b *roleBook) { b.bad = map[string]any{"roles": []any{nil, "admin"}} }, 500, token.ErrInvalidClaims, `"roles" must be an array of strings`},
		{"not JSON-encodable", func(b *roleBook) { b.bad = map[string]any{"ratio": math.Inf(1)} }, 500, token.ErrInvalidClaims, `claim "ratio" is not JSON-encodable`},
		{"token too large", func(b *roleBook) { b.bad = map[string]any{"blob": strings.Repeat("y", 7000)} }, 500, token.ErrTokenTooLarge, "over the 8192 bytes"},
		{"too many claims", func(b *roleBook) { b.bad = many }, 500, token.ErrInvalidClaims, "at most 57"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
				book := &roleBook{roles: map[string][]string{"alice": {"user"}}}
				var events []account.AuditEvent
				s := newServer(t, open(t), options{accounts: func(c *account.Config) {
					c.Claims = book.claims
					c.Audit = func(_ context.Context, e account.AuditEvent) { events = append(events, e) }
				}})
				s.register("alice", alicePW)
				good := s.login("alice", alicePW)
				book.set(tc.broken)

				// Through the API: the error names the cause.
				_, err := s.accounts.Refresh(context.Background(), good.str("refresh_token"))
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.msg)
				if !errors.Is(err, account.ErrStoreUnavailable) { // that one quotes the hook's own error
					assert.True(t, strings.HasPrefix(err.Error(), "jwtauth: refresh: "), err)
					assert.Equal(t, 1, strings.Count(err.Error(), "jwtauth: "), "one prefix: %v", err)
				}
				if tc.is != nil {
					assert.ErrorIs(t, err, tc.is)
				}
				_, err = s.accounts.Login(context.Background(), "alice", alicePW)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.msg)

				// Through HTTP: a server error, never a token.
				res := s.refresh(good.str("refresh_token"))
				assert.Equal(t, tc.status, res.Code, res.Raw)
				assert.Empty(t, res.str("access_token"))
				assert.NotContains(t, res.Raw, "role directory", "the hook's error stays in the log")
				res = s.do("POST", "/login", creds("alice", alicePW))
				assert.Equal(t, tc.status, res.Code, res.Raw)
				assert.Empty(t, res.str("access_token"))
				assert.Equal(t, "unavailable", events[len(events)-1].Reason)

				// The refresh token was not spent: it works once the hook does.
				book.set(func(b *roleBook) { b.err, b.bad = nil, nil })
				res = s.refresh(good.str("refresh_token"))
				require.Equal(t, http.StatusOK, res.Code, "the refresh token presented must stay valid: %s", res.Raw)
				assert.Equal(t, []string{"user"}, s.claims(res.str("access_token")).Roles())
				for _, e := range events {
					assert.NotEqual(t, account.AuditRefreshReuse, e.Kind)
				}
			})
		})
	}
}

// TestAuditEvents: each event of the flow reaches the Audit hook once, with
// the username, client address and family id, and never a secret.
func TestAuditEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		var mu sync.Mutex
		var events []account.AuditEvent
		s := newServer(t, open(t), options{accounts: func(c *account.Config) {
			c.Audit = func(_ context.Context, e account.AuditEvent) {
				mu.Lock()
				defer mu.Unlock()
				events = append(events, e)
			}
			c.Throttle = account.LoginThrottle{IPFailures: 2}
		}})
		take := func() []account.AuditEvent {
			mu.Lock()
			defer mu.Unlock()
			out := events
			events = nil
			return out
		}
		client := netip.MustParseAddr("192.0.2.7")
		at := from("192.0.2.7:4242")
		res := s.do("POST", "/register", creds("Alice", alicePW), at)
		require.Equal(t, http.StatusCreated, res.Code, res.Raw)
		assert.Equal(t, []account.AuditEvent{{Kind: account.AuditRegister, Username: "alice", Client: client}}, take())

		first := s.login("alice", alicePW, at)
		ev := take()
		require.Len(t, ev, 1)
		fam := ev[0].FamilyID
		assert.NotEmpty(t, fam)
		assert.Equal(t, account.AuditEvent{Kind: account.AuditLogin, Username: "alice", Client: client, FamilyID: fam}, ev[0])

		second := s.do("POST", "/refresh", map[string]string{"refresh_token": first.str("refresh_token")}, at)
		require.Equal(t, http.StatusOK, second.Code, second.Raw)
		assert.Equal(t, []account.AuditEvent{{Kind: account.AuditRefresh, Username: "alice", Client: client, FamilyID: fam}}, take())

		// Reuse of the first token revokes the family.
		assertInvalidGrant(t, s.do("POST", "/refresh", map[string]string{"refresh_token": first.str("refresh_token")}, at))
		assert.Equal(t, []account.AuditEvent{{Kind: account.AuditRefreshReuse, Username: "alice", Client: client, FamilyID: fam}}, take())

		third := s.login("alice", alicePW, at)
		fam3 := take()[0].FamilyID
		res = s.do("POST", "/logout", map[string]string{"refresh_token": third.str("refresh_token")}, at)
		require.Equal(t, http.StatusNoContent, res.Code, res.Raw)
		assert.Equal(t, []account.AuditEvent{{Kind: account.AuditLogout, Username: "alice", Client: client, FamilyID: fam3}}, take())

		// Failures: a wrong password names the existing account; an unknown
		// name (perhaps a password typed in the wrong field) is not passed on.
		assert.Equal(t, 401, s.do("POST", "/login", creds("alice", "wrong password"), at).Code)
		assert.Equal(t, 401, s.do("POST", "/login", creds("hunter2hunter2", alicePW), at).Code)
		res = s.do("POST", "/login", creds("alice", "wrong password"), at)
		assert.Equal(t, http.StatusTooManyRequests, res.Code, res.Raw)
		ev = take()
		assert.Equal(t, []account.AuditEvent{
			{Kind: account.AuditLoginFailed, Username: "alice", Client: client, Reason: "invalid_credentials"},
			{Kind: account.AuditLoginFailed, Client: client, Reason: "invalid_credentials"},
			{Kind: account.AuditLoginFailed, Client: client, Reason: "throttled"},
		}, ev)
		for _, e := range ev {
			assert.NotContains(t, fmt.Sprintf("%+v", e), alicePW)
			assert.NotContains(t, fmt.Sprintf("%+v", e), "hunter2")
		}
	})
}

// TestHooksThatPanicOrBlock: an application hook can neither crash a
// request nor hold it. A panicking claims hook gets 500 server_error and a
// blocking one 503 temporarily_unavailable after the store timeout (5 s,
// on the bubble's clock), each spending nothing; an audit hook that panics
// or blocks after a refresh was committed costs the client at most the
// timeout, never its new refresh token (found by trying to break issue 10's
// hooks: the connection used to drop, or the request to hang forever).
func TestHooksThatPanicOrBlock(t *testing.T) {
	type hook int
	const (
		fine hook = iota
		panics
		blocks
	)
	run := func(h hook, release <-chan struct{}) {
		switch h {
		case panics:
			panic("hook bug")
		case blocks:
			<-release // ignores its context, as a careless hook would
		}
	}
	for _, tc := range []struct {
		name          string
		claims, audit hook
		status        int
		took          time.Duration
	}{
		{"claims hook panics", panics, fine, http.StatusInternalServerError, 0},
		{"claims hook blocks", blocks, fine, http.StatusServiceUnavailable, 5 * time.Second},
		{"audit hook panics", fine, panics, http.StatusOK, 0},
		{"audit hook blocks", fine, blocks, http.StatusOK, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				var mu sync.Mutex
				armed := false
				on := func() bool { mu.Lock(); defer mu.Unlock(); return armed }
				s := newServer(t, memory.New(), options{accounts: func(c *account.Config) {
					c.Claims = func(context.Context, string) (map[string]any, error) {
						if on() {
							run(tc.claims, release)
						}
						return map[string]any{"roles": []string{"user"}}, nil
					}
					c.Audit = func(context.Context, account.AuditEvent) {
						if on() {
							run(tc.audit, release)
						}
					}
				}})
				s.register("alice", alicePW)
				rt := s.login("alice", alicePW).str("refresh_token")
				mu.Lock()
				armed = true
				mu.Unlock()

				start := time.Now()
				res := s.refresh(rt)
				assert.Equal(t, tc.status, res.Code, res.Raw)
				assert.Equal(t, tc.took, time.Since(start), "answered after, on the bubble's clock")
				mu.Lock()
				armed = false
				mu.Unlock()
				if res.Code == http.StatusOK {
					next := s.refresh(res.str("refresh_token"))
					assert.Equal(t, http.StatusOK, next.Code, "the new refresh token reached the client and works: %s", next.Raw)
					assert.Contains(t, s.logs.String(), "audit hook failed")
				} else {
					again := s.refresh(rt)
					assert.Equal(t, http.StatusOK, again.Code, "nothing was spent: %s", again.Raw)
				}
			})
		})
	}
}
