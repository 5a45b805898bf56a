package jwtauth_test

import (
	"context"
	"fmt"
	"net/http"
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

// stallingStore is a store whose named methods, while stalled, neither
// answer nor fail until their context ends (as a database behind a frozen
// network path does), and then return the context's error having changed
// nothing.
type stallingStore struct {
	account.Store
	mu      sync.Mutex
	stalled map[string]bool
}

func (s *stallingStore) stall(methods ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalled = map[string]bool{}
	for _, m := range methods {
		s.stalled[m] = true
	}
}

func (s *stallingStore) wait(ctx context.Context, method string) error {
	s.mu.Lock()
	stalled := s.stalled[method]
	s.mu.Unlock()
	if !stalled {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *stallingStore) CreateUser(ctx context.Context, u account.User) error {
	if err := s.wait(ctx, "CreateUser"); err != nil {
		return err
	}
	return s.Store.CreateUser(ctx, u)
}

func (s *stallingStore) UserByName(ctx context.Context, name string) (account.User, error) {
	if err := s.wait(ctx, "UserByName"); err != nil {
		return account.User{}, err
	}
	return s.Store.UserByName(ctx, name)
}

func (s *stallingStore) CreateRefreshToken(ctx context.Context, t account.RefreshToken) error {
	if err := s.wait(ctx, "CreateRefreshToken"); err != nil {
		return err
	}
	return s.Store.CreateRefreshToken(ctx, t)
}

func (s *stallingStore) RotateRefreshToken(ctx context.Context, hash []byte, next account.RefreshToken, now time.Time) (account.RefreshToken, error) {
	if err := s.wait(ctx, "RotateRefreshToken"); err != nil {
		return account.RefreshToken{}, err
	}
	return s.Store.RotateRefreshToken(ctx, hash, next, now)
}

func (s *stallingStore) RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) (string, error) {
	if err := s.wait(ctx, "RevokeRefreshFamily"); err != nil {
		return "", err
	}
	return s.Store.RevokeRefreshFamily(ctx, hash, now)
}

// TestStalledStoreAnswers503InTime: a store that stops answering holds no
// request longer than the store timeout (5 s by default): each endpoint
// that needs it answers 503 temporarily_unavailable with Retry-After, the
// log says once that the store is unavailable and once that it is back, and
// the refresh token a stalled refresh presented still works afterwards.
// Each case runs on a server of its own (a call that succeeds between two
// stalled ones is a change of state, logged as such), in a synctest
// bubble, so the 5 s are measured on the bubble's clock, exactly.
func TestStalledStoreAnswers503InTime(t *testing.T) {
	for _, tc := range []struct {
		name, method, path string
		body               func(refresh string) any
	}{
		{"login refresh token", "CreateRefreshToken", "/login", func(string) any { return creds("alice", alicePW) }},
		{"register", "CreateUser", "/register", func(string) any { return creds("bob", alicePW) }},
		{"login", "UserByName", "/login", func(string) any { return creds("alice", alicePW) }},
		{"refresh", "RotateRefreshToken", "/refresh", func(r string) any { return map[string]string{"refresh_token": r} }},
		{"logout", "RevokeRefreshFamily", "/logout", func(r string) any { return map[string]string{"refresh_token": r} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &stallingStore{Store: memory.New()}
				s := newServer(t, st, options{})
				s.register("alice", alicePW)
				refresh := s.login("alice", alicePW).str("refresh_token")

				st.stall(tc.method)
				start := time.Now()
				res := s.do("POST", tc.path, tc.body(refresh))
				took := time.Since(start)
				assert.Equal(t, http.StatusServiceUnavailable, res.Code, res.Raw)
				assert.Equal(t, "temporarily_unavailable", res.str("error"))
				assert.Equal(t, "5", res.Header.Get("Retry-After"))
				assert.Equal(t, 5*time.Second, took, "answered after the store timeout, on the bubble's clock")
				st.stall()
				assert.Equal(t, 1, strings.Count(s.logs.String(), `"msg":"store unavailable`), s.logs.String())
				assert.NotContains(t, s.logs.String(), "store available again")

				res = s.refresh(refresh) // a stalled refresh or logout changed nothing
				require.Equal(t, http.StatusOK, res.Code, res.Raw)
				assert.Equal(t, 1, strings.Count(s.logs.String(), `"msg":"store available again"`), s.logs.String())
				s.register("bob", alicePW)
			})
		})
	}
}

// TestStoreTimeoutConfig: StoreTimeout sets the bound, and a negative one
// is refused.
func TestStoreTimeoutConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &stallingStore{Store: memory.New()}
		s := newServer(t, st, options{accounts: func(c *account.Config) { c.StoreTimeout = 1500 * time.Millisecond }})
		st.stall("CreateUser")
		start := time.Now()
		res := s.do("POST", "/register", creds("bob", alicePW))
		assert.Equal(t, http.StatusServiceUnavailable, res.Code, res.Raw)
		assert.Equal(t, 1500*time.Millisecond, time.Since(start))
	})
	_, err := account.New(account.Config{Users: memory.New(), Issuer: &token.Issuer{}, StoreTimeout: -time.Second})
	require.ErrorContains(t, err, "StoreTimeout must not be negative")
}

// lostFileStore answers every user lookup as a store whose database file is
// gone does, quoting the username in its error as the SQL stores do.
type lostFileStore struct{ account.Store }

func (lostFileStore) UserByName(_ context.Context, name string) (account.User, error) {
	return account.User{}, fmt.Errorf("sqlite: get user %q: %w: the database file /srv/jwtauth.db is gone", name, account.ErrStoreUnavailable)
}

// TestStoreUnavailableLogNamesTheCauseNotTheUsername: the warning for a
// store that fails a login's lookup says why (here the lost file's path) but
// never the username, which nobody has verified (it may be a password typed
// in the wrong field); a username that appears unquoted withholds the text.
func TestStoreUnavailableLogNamesTheCauseNotTheUsername(t *testing.T) {
	for _, name := range []string{"hunter2-typed-here", "srv"} {
		s := newServer(t, lostFileStore{memory.New()}, options{})
		res := s.do("POST", "/login", creds(name, alicePW))
		assert.Equal(t, http.StatusServiceUnavailable, res.Code, res.Raw)
		logs := s.logs.String()
		assert.NotContains(t, logs, `"`+name+`"`)
		assert.Equal(t, 1, strings.Count(logs, `"msg":"store unavailable`), logs)
		if name == "srv" { // also in the path: the text is withheld
			assert.Contains(t, logs, "withheld")
			assert.NotContains(t, logs, "/srv/jwtauth.db")
		} else {
			assert.NotContains(t, logs, name)
			assert.Contains(t, logs, `get user \"[unverified username]\": jwtauth: store unavailable: the database file /srv/jwtauth.db is gone`)
		}
	}
}
