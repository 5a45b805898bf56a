package jwtauth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// storeKinds are the stores the account tests run on.
var storeKinds = []struct {
	name string
	open func(t testing.TB) account.Store
}{
	{"memory", func(testing.TB) account.Store { return memory.New() }},
	{"sqlite", func(t testing.TB) account.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jwtauth.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

// forEachStore runs f as a subtest per store kind.
func forEachStore(t *testing.T, f func(t *testing.T, open func(testing.TB) account.Store)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) { f(t, k.open) })
	}
}

// accountLogBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type accountLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *accountLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *accountLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is the account flow of SPEC §2 served by jwtauth.Routes on a plain
// http.ServeMux, over one store, with a fake clock and captured JSON logs.
type server struct {
	t        testing.TB
	h        http.Handler
	store    account.Store
	accounts *account.Accounts
	verifier *token.Verifier
	mgr      *keys.Manager
	clock    *keystest.Clock
	logs     *accountLogBuffer
}

// options adjust a test server.
type options struct {
	accounts func(*account.Config)
	keys     func(*keys.Config)
	trusted  []netip.Prefix
}

func newServer(t testing.TB, store account.Store, o options) *server {
	t.Helper()
	s := &server{t: t, store: store, clock: keystest.NewClock(time.Unix(1_800_000_000, 0)), logs: &accountLogBuffer{}}
	ctx := context.Background()
	kcfg := keys.Config{Store: store, Now: s.clock.Now, Generate: keystest.Generator(t), Logger: quiet}
	if o.keys != nil {
		o.keys(&kcfg)
	}
	mgr, err := keys.Open(ctx, kcfg)
	require.NoError(t, err)
	s.mgr = mgr
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: mgr, Issuer: testIssuer, Audience: []string{testAudience}, Now: s.clock.Now})
	require.NoError(t, err)
	s.verifier, err = token.NewVerifier(token.VerifierConfig{Keys: mgr, Issuer: testIssuer, Audience: []string{testAudience}, Now: s.clock.Now})
	require.NoError(t, err)
	cfg := account.Config{Users: store, RefreshTokens: store, Issuer: iss, Argon2: fastArgon, Now: s.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if o.accounts != nil {
		o.accounts(&cfg)
	}
	s.accounts, err = account.New(cfg)
	require.NoError(t, err)
	disc, err := jwtauth.NewDiscoveryHandler(testIssuer)
	require.NoError(t, err)
	auth := &authn.Authenticator{Verifier: s.verifier}
	mux := http.NewServeMux()
	for _, rt := range jwtauth.Routes(jwtauth.RoutesConfig{Accounts: s.accounts, JWKS: jwtauth.NewJWKSHandler(mgr, time.Minute),
		Discovery: disc, TrustedProxies: o.trusted,
		// As jwtauth serve: unhealthy when the store does not answer or the key set does not decode here.
		Health: func(ctx context.Context) error {
			if err := store.Ping(ctx); err != nil {
				return err
			}
			return mgr.Err()
		}}) {
		h := rt.Handler
		if rt.Protected {
			next := h
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r2, _, err := auth.Authenticate(r)
				if err != nil {
					auth.Challenge(w, err)
					return
				}
				next.ServeHTTP(w, r2)
			})
		}
		mux.Handle(rt.Method+" "+rt.Path, h)
	}
	s.h = mux
	return s
}

// response is a recorded answer with its JSON body decoded.
type response struct {
	Code   int
	Header http.Header
	Raw    string
	Body   map[string]any
}

func (r response) str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// do sends a JSON request from remote (host:port; "" for httptest's
// default) and returns the answer.
func (s *server) do(method, path string, body any, edit ...func(*http.Request)) response {
	s.t.Helper()
	var rd *strings.Reader
	switch b := body.(type) {
	case nil:
		rd = strings.NewReader("")
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(s.t, err)
		rd = strings.NewReader(string(j))
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	for _, e := range edit {
		e(req)
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, req)
	res := response{Code: w.Code, Header: w.Header(), Raw: w.Body.String()}
	if w.Body.Len() > 0 {
		require.NoError(s.t, json.Unmarshal(w.Body.Bytes(), &res.Body), "body %q", w.Body.String())
	}
	return res
}

func from(addr string) func(*http.Request) {
	return func(r *http.Request) { r.RemoteAddr = addr }
}

func creds(user, pass string) map[string]string {
	return map[string]string{"username": user, "password": pass}
}

func (s *server) register(user, pass string) {
	s.t.Helper()
	res := s.do("POST", "/register", creds(user, pass))
	require.Equal(s.t, http.StatusCreated, res.Code, res.Raw)
}

// login logs in and returns the successful answer.
func (s *server) login(user, pass string, edit ...func(*http.Request)) response {
	s.t.Helper()
	res := s.do("POST", "/login", creds(user, pass), edit...)
	require.Equal(s.t, http.StatusOK, res.Code, res.Raw)
	require.NotEmpty(s.t, res.str("refresh_token"))
	return res
}

func (s *server) refresh(token string) response {
	s.t.Helper()
	return s.do("POST", "/refresh", map[string]string{"refresh_token": token})
}

func (s *server) logout(token string) response {
	s.t.Helper()
	return s.do("POST", "/logout", map[string]string{"refresh_token": token})
}

// subject verifies an access token and returns its sub.
func (s *server) subject(access string) string {
	s.t.Helper()
	c, err := s.verifier.Verify(context.Background(), access)
	require.NoError(s.t, err)
	return c.Subject
}

func assertInvalidGrant(t testing.TB, res response, msgAndArgs ...any) {
	t.Helper()
	assert.Equal(t, http.StatusUnauthorized, res.Code, msgAndArgs...)
	assert.Equal(t, "invalid_grant", res.str("error"), msgAndArgs...)
}

const alicePW = "correct horse battery"

func TestRefreshChainOf100AndReuseOf50thKillsThe100th(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		s := newServer(t, open(t), options{})
		s.register("alice", alicePW)
		first := s.login("Alice", alicePW)
		assert.Equal(t, "Bearer", first.str("token_type"))
		assert.Equal(t, first.str("access_token"), first.str("token"))
		assert.Equal(t, "alice", s.subject(first.str("access_token")))

		chain := []string{first.str("refresh_token")}
		for i := 1; i <= 100; i++ {
			s.clock.Advance(time.Second)
			res := s.refresh(chain[i-1])
			require.Equal(t, http.StatusOK, res.Code, "rotation %d: %s", i, res.Raw)
			next := res.str("refresh_token")
			require.NotContains(t, chain, next)
			chain = append(chain, next)
			assert.Equal(t, "alice", s.subject(res.str("access_token")))
		}
		prot := s.do("GET", "/protected", nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+first.str("access_token")) })
		assert.Equal(t, http.StatusOK, prot.Code)
		assert.Equal(t, "alice", prot.str("sub"))

		// Replaying the 50th token revokes the family: the newest, never-used 100th dies with it.
		assertInvalidGrant(t, s.refresh(chain[50]), "reuse of the 50th")
		assertInvalidGrant(t, s.refresh(chain[100]), "the 100th after the reuse")
		assertInvalidGrant(t, s.refresh(chain[100]), "and stays dead")
		// A new login starts a new, working family.
		again := s.login("alice", alicePW)
		assert.Equal(t, http.StatusOK, s.refresh(again.str("refresh_token")).Code)
	})
}

func TestConcurrentRefreshOneWinner(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		s := newServer(t, open(t), options{})
		s.register("alice", alicePW)
		other := s.login("alice", alicePW) // a second family of the same user
		rt := s.login("alice", alicePW).str("refresh_token")

		const n = 50
		results := make([]response, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				results[i] = s.refresh(rt)
			})
		}
		close(start)
		wg.Wait()
		var winners []response
		for _, r := range results {
			if r.Code == http.StatusOK {
				winners = append(winners, r)
				continue
			}
			assertInvalidGrant(t, r)
		}
		require.Len(t, winners, 1, "exactly one of %d concurrent refreshes succeeds", n)
		// The losers presented a used token: the family is revoked, the winner's successor included.
		assertInvalidGrant(t, s.refresh(winners[0].str("refresh_token")), "the winner's successor after the reuse")
		assertInvalidGrant(t, s.refresh(rt))
		// The other family of the same user is untouched.
		assert.Equal(t, http.StatusOK, s.refresh(other.str("refresh_token")).Code)
	})
}

func TestRefreshReuseGrace(t *testing.T) {
	const grace = 10 * time.Second
	withGrace := options{accounts: func(c *account.Config) {
		c.RefreshReuseGrace = grace
		c.RefreshSecret = bytes.Repeat([]byte{7}, 32)
	}}
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		t.Run("RetryGetsTheSameSuccessor", func(t *testing.T) {
			s := newServer(t, open(t), withGrace)
			s.register("alice", alicePW)
			t0 := s.login("alice", alicePW).str("refresh_token")
			r1 := s.refresh(t0)
			require.Equal(t, http.StatusOK, r1.Code)
			s.clock.Advance(grace - time.Second)
			r2 := s.refresh(t0)
			require.Equal(t, http.StatusOK, r2.Code, "a retry within the grace succeeds")
			assert.Equal(t, r1.str("refresh_token"), r2.str("refresh_token"), "the retry gets the same successor: no second branch")
			assert.NotEqual(t, r1.str("access_token"), r2.str("access_token"))
			assert.Contains(t, s.logs.String(), `"retry":true`)

			// The successor is used once, as usual.
			r3 := s.refresh(r1.str("refresh_token"))
			require.Equal(t, http.StatusOK, r3.Code)
			// Once the successor has been used, the old token is reuse even within the grace.
			assertInvalidGrant(t, s.refresh(t0))
			assertInvalidGrant(t, s.refresh(r3.str("refresh_token")), "the family is revoked")
		})
		t.Run("AfterTheGraceItIsReuse", func(t *testing.T) {
			s := newServer(t, open(t), withGrace)
			s.register("alice", alicePW)
			t0 := s.login("alice", alicePW).str("refresh_token")
			r1 := s.refresh(t0)
			require.Equal(t, http.StatusOK, r1.Code)
			s.clock.Advance(grace)
			assertInvalidGrant(t, s.refresh(t0))
			assertInvalidGrant(t, s.refresh(r1.str("refresh_token")), "the family is revoked")
		})
		t.Run("ConcurrentRetriesShareOneSuccessor", func(t *testing.T) {
			s := newServer(t, open(t), withGrace)
			s.register("alice", alicePW)
			t0 := s.login("alice", alicePW).str("refresh_token")
			const n = 20
			results := make([]response, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { results[i] = s.refresh(t0) })
			}
			wg.Wait()
			succ := map[string]bool{}
			for _, r := range results {
				require.Equal(t, http.StatusOK, r.Code, r.Raw)
				succ[r.str("refresh_token")] = true
			}
			assert.Len(t, succ, 1, "one successor for every retry")
		})
		t.Run("LogoutEndsTheGrace", func(t *testing.T) {
			s := newServer(t, open(t), withGrace)
			s.register("alice", alicePW)
			t0 := s.login("alice", alicePW).str("refresh_token")
			r1 := s.refresh(t0)
			require.Equal(t, http.StatusOK, r1.Code)
			assert.Equal(t, http.StatusNoContent, s.logout(r1.str("refresh_token")).Code)
			assertInvalidGrant(t, s.refresh(t0))
		})
	})
	t.Run("WithoutGraceARetryIsReuse", func(t *testing.T) {
		s := newServer(t, memory.New(), options{})
		s.register("alice", alicePW)
		t0 := s.login("alice", alicePW).str("refresh_token")
		r1 := s.refresh(t0)
		require.Equal(t, http.StatusOK, r1.Code)
		assertInvalidGrant(t, s.refresh(t0))
		assertInvalidGrant(t, s.refresh(r1.str("refresh_token")))
	})
	t.Run("Config", func(t *testing.T) {
		base := func() account.Config {
			f := newFixture(t)
			st := memory.New()
			return account.Config{Users: st, RefreshTokens: st, Issuer: f.Issuer, Argon2: fastArgon}
		}
		c := base()
		c.RefreshReuseGrace = -time.Second
		_, err := account.New(c)
		assert.Error(t, err, "negative grace")
		c = base()
		c.RefreshReuseGrace, c.RefreshSecret = time.Second, []byte("short")
		_, err = account.New(c)
		assert.Error(t, err, "short secret")
		c = base()
		c.RefreshReuseGrace, c.RefreshTokens = time.Second, plainRefreshStore{c.RefreshTokens}
		_, err = account.New(c)
		assert.Error(t, err, "grace over a store without RotateRefreshTokenGrace")
		c.RefreshReuseGrace = 0
		_, err = account.New(c)
		assert.NoError(t, err, "no grace: any RefreshTokenStore")
	})
}

// plainRefreshStore hides every method but those of the base port.
type plainRefreshStore struct{ account.RefreshTokenStore }

func TestRefreshAndLogoutRefuseBadTokens(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	s.register("alice", alicePW)
	s.register("bob", "bob's long password")
	alice := s.login("alice", alicePW).str("refresh_token")
	bob := s.login("bob", "bob's long password").str("refresh_token")
	require.Len(t, alice, 43)

	valid := strings.Repeat("A", 43)
	for name, tok := range map[string]string{
		"one short":              alice[:42],
		"one long":               alice + "A",
		"padded":                 alice + "=",
		"std alphabet +":         "+" + alice[1:],
		"std alphabet /":         "/" + alice[1:],
		"space":                  " " + alice[1:],
		"non-canonical tail":     valid[:42] + "B", // 43rd character carries bits beyond 256
		"unknown but wellformed": valid,
		"utf-8":                  "é" + alice[2:],
		"empty-ish":              strings.Repeat(" ", 43),
	} {
		assertInvalidGrant(t, s.refresh(tok), name)
	}
	// Malformed at /logout is a 400; a well-formed unknown token is not an error (RFC 7009 §2.2).
	assert.Equal(t, http.StatusBadRequest, s.logout(alice[:42]).Code)
	assert.Equal(t, http.StatusNoContent, s.logout(valid).Code)
	assert.Equal(t, http.StatusBadRequest, s.do("POST", "/refresh", `{"refresh_token":42}`).Code)
	assert.Equal(t, http.StatusBadRequest, s.do("POST", "/refresh", `{}`).Code)

	// Another user's token is bound to that user: it never yields an alice token,
	// and alice's logout does not touch it.
	rb := s.refresh(bob)
	require.Equal(t, http.StatusOK, rb.Code)
	assert.Equal(t, "bob", s.subject(rb.str("access_token")))
	assert.Equal(t, http.StatusNoContent, s.logout(alice).Code)
	assertInvalidGrant(t, s.refresh(alice), "after logout")
	rb2 := s.refresh(rb.str("refresh_token"))
	require.Equal(t, http.StatusOK, rb2.Code, "bob is untouched by alice's logout")

	// Logout with a spent token of the family revokes the live one too.
	assert.Equal(t, http.StatusNoContent, s.logout(bob).Code)
	assertInvalidGrant(t, s.refresh(rb2.str("refresh_token")))

	// An expired token.
	carol := "carol's password"
	s.register("carol", carol)
	c := s.login("carol", carol).str("refresh_token")
	s.clock.Advance(account.DefaultRefreshTTL)
	assertInvalidGrant(t, s.refresh(c), "expired")
}

func TestLoginLeaksNothing(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	s.register("alice", alicePW)
	unknown := s.do("POST", "/login", creds("mallory", alicePW))
	wrong := s.do("POST", "/login", creds("alice", alicePW+"!"))
	invalid := s.do("POST", "/login", creds("\u200b", alicePW))
	for _, r := range []response{unknown, wrong, invalid} {
		assert.Equal(t, http.StatusUnauthorized, r.Code)
		assert.Equal(t, wrong.Raw, r.Raw, "identical bodies")
		assert.Equal(t, wrong.Header, r.Header, "identical headers")
	}
	assert.JSONEq(t, `{"error":"invalid_credentials","error_description":"invalid username or password"}`, wrong.Raw)
}

func TestLoginUpgradesOldHashes(t *testing.T) {
	older := credential.Argon2Params{Memory: 32, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	oldArgon, err := credential.HashPassword("old argon password", older)
	require.NoError(t, err)
	oldBcrypt, err := bcrypt.GenerateFromPassword([]byte("old bcrypt password"), bcrypt.MinCost)
	require.NoError(t, err)
	for name, u := range map[string]struct{ hash, pw string }{
		"argon2id with older parameters": {oldArgon, "old argon password"},
		"bcrypt":                         {string(oldBcrypt), "old bcrypt password"},
	} {
		t.Run(name, func(t *testing.T) {
			st := memory.New()
			s := newServer(t, st, options{})
			ctx := context.Background()
			require.NoError(t, st.CreateUser(ctx, account.User{Username: "legacy", PasswordHash: u.hash, CreatedAt: s.clock.Now()}))
			// A wrong password changes nothing.
			assert.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds("legacy", u.pw+"x")).Code)
			got, err := st.UserByName(ctx, "legacy")
			require.NoError(t, err)
			assert.Equal(t, u.hash, got.PasswordHash)

			s.login("legacy", u.pw)
			got, err = st.UserByName(ctx, "legacy")
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(got.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$"), "rehashed with the current parameters: %s", got.PasswordHash)
			ok, rehash, err := credential.VerifyPassword(got.PasswordHash, u.pw, fastArgon)
			require.NoError(t, err)
			assert.True(t, ok)
			assert.False(t, rehash)
			s.login("legacy", u.pw)
		})
	}
}

// TestLoneSurrogatesThroughHTTP: encoding/json turns an unpaired UTF-16
// surrogate escape (\uD800 to \uDFFF) into U+FFFD, so eight \ud800, eight
// lone \udfff and eight real U+FFFD characters would be one password. The
// escapes are refused with 400; the real U+FFFD and a valid surrogate pair
// stay accepted.
func TestLoneSurrogatesThroughHTTP(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	replacement := strings.Repeat("\uFFFD", 8) // real UTF-8 in the body
	s.register("fffd", replacement)
	s.login("fffd", replacement)
	body := func(user, pwEscapes string) string {
		return `{"username":"` + user + `","password":"` + pwEscapes + `"}`
	}
	for name, pw := range map[string]string{
		"8 lone high":              strings.Repeat(`\ud800`, 8),
		"8 lone low":               strings.Repeat(`\udfff`, 8),
		"low then high, 4 times":   strings.Repeat(`\udfff\udc00`, 4),
		"high then a letter":       strings.Repeat(`\uD800A`, 8),
		"high before a valid pair": `\ud800\ud83d\ude00abcdefg`,
		"high at the string's end": `abcdefgh\uDBFF`,
	} {
		for _, path := range []string{"/login", "/register"} {
			res := s.do("POST", path, body("fffd", pw))
			assert.Equal(t, http.StatusBadRequest, res.Code, "%s %s: %s", path, name, res.Raw)
			assert.Equal(t, "invalid_request", res.str("error"), "%s %s", path, name)
			assert.Contains(t, res.str("error_description"), "surrogate", "%s %s", path, name)
		}
	}
	// In a member the endpoint ignores, and in a member name, too.
	for _, b := range []string{
		`{"username":"fffd","password":"` + replacement + `","x":"\udc00"}`,
		`{"username":"fffd","password":"` + replacement + `","\ud800":1}`,
	} {
		res := s.do("POST", "/login", b)
		assert.Equal(t, http.StatusBadRequest, res.Code, "%s: %s", b, res.Raw)
	}
	// A valid pair is one character: U+1F600, twice 4 = 8 characters.
	res := s.do("POST", "/register", body("pair", strings.Repeat(`\ud83d\ude00`, 8)))
	require.Equal(t, http.StatusCreated, res.Code, res.Raw)
	s.login("pair", strings.Repeat("\U0001F600", 8))
	// An escaped backslash before "ud800" is no escape: the password is the
	// six characters \ud800 and two more.
	res = s.do("POST", "/register", body("backslash", `\\ud800ab`))
	require.Equal(t, http.StatusCreated, res.Code, res.Raw)
	s.login("backslash", `\ud800ab`)
	// The escape of U+FFFD itself is U+FFFD.
	assert.Equal(t, http.StatusOK, s.do("POST", "/login", body("fffd", strings.Repeat(`\ufffd`, 8))).Code)
}

func TestPasswordRulesThroughHTTP(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	long := strings.Repeat("a", 72)

	// 73-byte passwords that differ only after byte 72 are different passwords.
	s.register("long", long+"b")
	assert.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds("long", long+"c")).Code)
	assert.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds("long", long)).Code)
	s.login("long", long+"b")

	// The same for a legacy bcrypt hash: bcrypt would compare only 72 bytes.
	h, err := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	require.NoError(t, err)
	require.NoError(t, s.store.CreateUser(context.Background(), account.User{Username: "legacy", PasswordHash: string(h)}))
	assert.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds("legacy", long+"b")).Code, "a bcrypt hash never matches a truncated password")

	// Invalid UTF-8 is refused, not silently replaced by U+FFFD.
	res := s.do("POST", "/register", "{\"username\":\"utf\",\"password\":\"abcdefgh\xff\"}")
	assert.Equal(t, http.StatusBadRequest, res.Code, res.Raw)

	for name, tc := range map[string]struct {
		pw   string
		code int
	}{
		"7 characters":             {"1234567", http.StatusBadRequest},
		"8 characters":             {"12345678", http.StatusCreated},
		"1024 characters":          {strings.Repeat("p", 1024), http.StatusCreated},
		"1025 characters":          {strings.Repeat("p", 1025), http.StatusBadRequest},
		"1024 two-byte characters": {strings.Repeat("é", 1024), http.StatusCreated},
		"8 four-byte characters":   {strings.Repeat("🔑", 8), http.StatusCreated},
		"7 four-byte characters":   {strings.Repeat("🔑", 7), http.StatusBadRequest},
		"empty":                    {"", http.StatusBadRequest},
	} {
		user := "pw" + strings.ReplaceAll(strings.ReplaceAll(name, " ", ""), "-", "")
		res := s.do("POST", "/register", creds(user, tc.pw))
		assert.Equal(t, tc.code, res.Code, "%s: %s", name, res.Raw)
		if tc.code == http.StatusCreated {
			s.login(user, tc.pw)
			assert.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds(user, tc.pw[:len(tc.pw)-1])).Code, name)
		} else {
			assert.Equal(t, "invalid_request", res.str("error"), name)
		}
	}
}

func TestUsernameRulesThroughHTTP(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	for name, u := range map[string]string{
		"control character BEL":  "bob\x07",
		"control character NUL":  "bob\x00",
		"newline":                "bob\n",
		"DEL":                    "bob\x7f",
		"space":                  "bob smith",
		"Latin with Cyrillic a":  "p\u0430ypal",
		"Cyrillic with Latin":    "\u0441\u0435rgey",
		"Latin with Greek":       "\u03c9mega",
		"Greek with Cyrillic":    "\u03b1\u0431",
		"Hangul with Hiragana":   "\ud55c\u3042",
		"zero-width space only":  "\u200b",
		"soft hyphen only":       "\u00ad",
		"combining mark only":    "\u0301",
		"ideographic space only": "\u3000",
		"65 characters":          strings.Repeat("a", 65),
		"huge":                   strings.Repeat("a", 1<<16),
	} {
		res := s.do("POST", "/register", creds(u, alicePW))
		assert.Equal(t, http.StatusBadRequest, res.Code, name)
		assert.Equal(t, "invalid_request", res.str("error"), name)
		// At /login the same input is just invalid credentials.
		assert.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds(u, alicePW)).Code, name)
	}
	for _, u := range []string{
		"alice", "user_1.x-y", strings.Repeat("a", 64), "tarō", "ελένη", "сергей", "山田たろう", "日本taro", "김민준", "中文abc",
		"ａｌｉｃｅ２", // fullwidth: maps to "alice2"
	} {
		res := s.do("POST", "/register", creds(u, alicePW))
		assert.Equal(t, http.StatusCreated, res.Code, "%q: %s", u, res.Raw)
	}
	res := s.do("POST", "/register", creds("ALICE", alicePW))
	assert.Equal(t, http.StatusConflict, res.Code, "Alice and alice are one account")
	s.login("Alice", alicePW)
	s.login("alice2", alicePW)
}

func TestLoginThrottle(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	s.register("alice", alicePW)
	s.register("bob", "bob's long password")
	const ipA, ipB = "198.51.100.7:4000", "203.0.113.9:5000"

	var wrongPW response
	for i := range 10 {
		wrongPW = s.do("POST", "/login", creds("alice", fmt.Sprintf("wrong %d!", i)), from(ipA))
		require.Equal(t, http.StatusUnauthorized, wrongPW.Code, "failure %d", i+1)
		s.clock.Advance(time.Second)
	}
	res := s.do("POST", "/login", creds("alice", "wrong again"), from(ipA))
	require.Equal(t, http.StatusTooManyRequests, res.Code, "the 11th failure within a minute")
	assert.Equal(t, "too_many_requests", res.str("error"))
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.Equal(t, "50", res.Header.Get("Retry-After"), "one token a minute; 10 s of it have passed since the first failure")
	// Throttled is throttled: even the right password, from another address, gets 429.
	assert.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("ALICE", alicePW), from(ipB)).Code)
	// A different user from another address is unaffected.
	s.login("bob", "bob's long password", from(ipB))
	// Throttling an unknown user looks the same as throttling a real one:
	// the same failures, then the same 429 with the same headers and body.
	for i := range 10 {
		miss := s.do("POST", "/login", creds("nobody", "wrong password"), from(ipB))
		require.Equal(t, http.StatusUnauthorized, miss.Code, "failure %d", i+1)
		assert.Equal(t, "invalid_credentials", miss.str("error"))
		assert.Equal(t, wrongPW.Raw, miss.Raw, "failure %d of an unknown user looks like a wrong password", i+1)
		assert.Equal(t, wrongPW.Header, miss.Header)
		s.clock.Advance(time.Second)
	}
	nobody := s.do("POST", "/login", creds("nobody", "wrong password"), from(ipB))
	assert.Equal(t, http.StatusTooManyRequests, nobody.Code)
	assert.Equal(t, res.Raw, nobody.Raw, "same body as a real user's throttle")
	assert.Equal(t, res.Header, nobody.Header, "same headers (Retry-After, Cache-Control) as a real user's throttle")

	// After the window it works again.
	s.clock.Advance(time.Minute)
	s.login("alice", alicePW, from(ipA))
	// And successful logins take no token.
	for range 20 {
		s.login("alice", alicePW, from(ipA))
	}
}

func TestLoginThrottlePerAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	s := newServer(t, memory.New(), options{trusted: trusted, accounts: func(c *account.Config) {
		c.Throttle = account.LoginThrottle{IPFailures: 3, UserFailures: -1}
	}})
	s.register("alice", alicePW)
	fail := func(user string, edit ...func(*http.Request)) int {
		return s.do("POST", "/login", creds(user, "wrong password"), edit...).Code
	}
	// Three failures from one address, for three different users.
	for _, u := range []string{"u1", "u2", "u3"} {
		require.Equal(t, http.StatusUnauthorized, fail(u, from("192.0.2.1:1")))
	}
	assert.Equal(t, http.StatusTooManyRequests, fail("u4", from("192.0.2.1:2")), "same address, another port")
	assert.Equal(t, http.StatusUnauthorized, fail("u4", from("192.0.2.2:1")), "another address")

	// IPv6: one /64 is one client.
	for i := range 3 {
		require.Equal(t, http.StatusUnauthorized, fail("v6", from(fmt.Sprintf("[2001:db8:1:2::%d]:443", i+1))))
	}
	assert.Equal(t, http.StatusTooManyRequests, fail("v6", from("[2001:db8:1:2:ffff::1]:443")))
	assert.Equal(t, http.StatusUnauthorized, fail("v6", from("[2001:db8:1:3::1]:443")))

	// Behind a trusted proxy the right-most untrusted X-Forwarded-For entry is the client.
	xff := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.RemoteAddr = "10.1.2.3:9999"; r.Header.Set("X-Forwarded-For", v) }
	}
	for range 3 {
		require.Equal(t, http.StatusUnauthorized, fail("p", xff("1.1.1.1, 203.0.113.50, 10.0.0.2")))
	}
	assert.Equal(t, http.StatusTooManyRequests, fail("p", xff("9.9.9.9, 203.0.113.50")), "a spoofed left-most entry does not help")
	assert.Equal(t, http.StatusUnauthorized, fail("p", xff("203.0.113.51")))
	// From an untrusted peer, X-Forwarded-For is ignored: the peer is throttled.
	for i := range 3 {
		res := s.do("POST", "/login", creds("q", "wrong password"), from("198.51.100.1:1"), func(r *http.Request) {
			r.Header.Set("X-Forwarded-For", fmt.Sprintf("%d.0.0.1", 11+i))
		})
		require.Equal(t, http.StatusUnauthorized, res.Code, "failure %d from the untrusted peer", i+1)
		assert.Equal(t, "invalid_credentials", res.str("error"))
		assert.Empty(t, res.Header.Get("Retry-After"))
	}
	throttled := s.do("POST", "/login", creds("q", "wrong password"), from("198.51.100.1:1"), func(r *http.Request) { r.Header.Set("X-Forwarded-For", "8.8.8.8") })
	assert.Equal(t, http.StatusTooManyRequests, throttled.Code)
	assert.Equal(t, "too_many_requests", throttled.str("error"))
	assert.NotEmpty(t, throttled.Header.Get("Retry-After"))
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"192.0.2.1:1234", nil, nil, "192.0.2.1"},
		{"192.0.2.1:1234", []string{"8.8.8.8"}, nil, "192.0.2.1"},
		{"10.0.0.1:1234", []string{"8.8.8.8"}, nil, "10.0.0.1"},
		{"[::ffff:192.0.2.1]:1234", nil, nil, "192.0.2.1"},
		{"[2001:db8::1]:443", nil, nil, "2001:db8::1"},
		{"192.0.2.1", nil, nil, "192.0.2.1"},
		{"garbage", nil, nil, "invalid IP"},
		{"192.0.2.1:1234", []string{"8.8.8.8"}, trusted, "192.0.2.1"},
		{"10.0.0.1:1234", []string{"8.8.8.8"}, trusted, "8.8.8.8"},
		{"10.0.0.1:1234", []string{"1.1.1.1, 8.8.8.8, 10.0.0.9"}, trusted, "8.8.8.8"},
		{"10.0.0.1:1234", []string{"1.1.1.1", "8.8.8.8 ,10.0.0.9"}, trusted, "8.8.8.8"},
		{"10.0.0.1:1234", []string{"10.0.0.7, 10.0.0.9"}, trusted, "10.0.0.7"},
		{"10.0.0.1:1234", []string{"8.8.8.8, bogus, 10.0.0.9"}, trusted, "10.0.0.9"},
		{"10.0.0.1:1234", []string{"bogus"}, trusted, "10.0.0.1"},
		{"10.0.0.1:1234", nil, trusted, "10.0.0.1"},
		{"[fd00::1]:1234", []string{"2001:db8::5"}, trusted, "2001:db8::5"},
		{"10.0.0.1:1234", []string{"::ffff:8.8.4.4"}, trusted, "8.8.4.4"},
		// An entry may carry a port, and an IPv6 address brackets.
		{"10.0.0.1:1234", []string{"203.0.113.7:4444"}, trusted, "203.0.113.7"},
		{"10.0.0.1:1234", []string{"[2001:db8::1]"}, trusted, "2001:db8::1"},
		{"10.0.0.1:1234", []string{"[2001:db8::1]:4444"}, trusted, "2001:db8::1"},
		{"10.0.0.1:1234", []string{"[::ffff:8.8.4.4]:1"}, trusted, "8.8.4.4"},
		{"10.0.0.1:1234", []string{"1.1.1.1:1, 203.0.113.7:4444, 10.0.0.9:80"}, trusted, "203.0.113.7"},
		{"10.0.0.1:1234", []string{"8.8.8.8, [fd00::9]:80"}, trusted, "8.8.8.8"},
		{"[fd00::1]:1234", []string{" [2001:db8::5]:443 "}, trusted, "2001:db8::5"},
		// Malformed ones still fall back to the nearest trusted hop.
		{"10.0.0.1:1234", []string{"203.0.113.7:65536"}, trusted, "10.0.0.1"},
		{"10.0.0.1:1234", []string{"203.0.113.7:"}, trusted, "10.0.0.1"},
		{"10.0.0.1:1234", []string{"203.0.113.7:http"}, trusted, "10.0.0.1"},
		{"10.0.0.1:1234", []string{"[203.0.113.7]"}, trusted, "10.0.0.1"},
		{"10.0.0.1:1234", []string{"[203.0.113.7]:80"}, trusted, "10.0.0.1"},
		{"10.0.0.1:1234", []string{"[2001:db8::1"}, trusted, "10.0.0.1"},
		{"10.0.0.1:1234", []string{"2001:db8::1]"}, trusted, "10.0.0.1"},
		{"10.0.0.1:1234", []string{"[2001:db8::1]:"}, trusted, "10.0.0.1"},
		{"10.0.0.1:1234", []string{"[2001:db8::1]x"}, trusted, "10.0.0.1"},
		{"10.0.0.1:1234", []string{"[[2001:db8::1]]"}, trusted, "10.0.0.1"},
		{"10.0.0.1:1234", []string{"8.8.8.8, 203.0.113.7:1:2, 10.0.0.9"}, trusted, "10.0.0.9"},
	} {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		assert.Equal(t, tc.want, jwtauth.ClientIP(r, tc.trusted).String(), "%s %q", tc.remote, tc.xff)
	}
}

// blockingUsers holds UpdatePasswordHash (called inside the hash slot during
// a rehash) until release is closed.
type blockingUsers struct {
	account.Store
	entered chan struct{}
	release chan struct{}
}

func (b *blockingUsers) UpdatePasswordHash(ctx context.Context, username, hash string) error {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.UpdatePasswordHash(ctx, username, hash)
}

func TestHashSlotsDegradeToFast503(t *testing.T) {
	st := &blockingUsers{Store: memory.New(), entered: make(chan struct{}), release: make(chan struct{})}
	s := newServer(t, st, options{accounts: func(c *account.Config) {
		c.Throttle = account.LoginThrottle{MaxConcurrentHashes: 1, HashWait: 20 * time.Millisecond}
	}})
	h, err := bcrypt.GenerateFromPassword([]byte("legacy password"), bcrypt.MinCost)
	require.NoError(t, err)
	require.NoError(t, st.CreateUser(context.Background(), account.User{Username: "legacy", PasswordHash: string(h)}))

	done := make(chan response)
	go func() { done <- s.do("POST", "/login", creds("legacy", "legacy password")) }()
	<-st.entered // the rehash holds the only slot

	for name, req := range map[string]func() response{
		"login":    func() response { return s.do("POST", "/login", creds("alice", alicePW)) },
		"register": func() response { return s.do("POST", "/register", creds("alice", alicePW)) },
	} {
		begin := time.Now()
		res := req()
		assert.Equal(t, http.StatusServiceUnavailable, res.Code, name)
		assert.Equal(t, "temporarily_unavailable", res.str("error"), name)
		assert.Equal(t, "1", res.Header.Get("Retry-After"), name)
		assert.Less(t, time.Since(begin), 2*time.Second, "%s: a full server answers fast", name)
	}
	close(st.release)
	assert.Equal(t, http.StatusOK, (<-done).Code)
	s.register("alice", alicePW) // the slot is free again
}

func TestLogsCarryIDsNeverSecrets(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		s := newServer(t, open(t), options{})
		s.register("alice", alicePW)
		s.do("POST", "/login", creds("alice", "wrong password!"))
		s.do("POST", "/login", creds("nobody", "a guessed password"))
		l := s.login("alice", alicePW)
		r1 := s.refresh(l.str("refresh_token"))
		require.Equal(t, http.StatusOK, r1.Code)
		assertInvalidGrant(t, s.refresh(l.str("refresh_token"))) // reuse
		l2 := s.login("alice", alicePW)
		require.Equal(t, http.StatusNoContent, s.logout(l2.str("refresh_token")).Code)

		logs := s.logs.String()
		events := map[string][]map[string]any{}
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			events[m["msg"].(string)] = append(events[m["msg"].(string)], m)
		}
		jti := func(access string) string {
			c, err := s.verifier.Verify(context.Background(), access)
			require.NoError(t, err)
			return c.ID
		}
		require.Len(t, events["login"], 2)
		login := events["login"][0]
		assert.Equal(t, jti(l.str("access_token")), login["jti"])
		family, _ := login["family"].(string)
		require.NotEmpty(t, family)
		require.Len(t, events["refresh"], 1)
		assert.Equal(t, jti(r1.str("access_token")), events["refresh"][0]["jti"])
		assert.Equal(t, family, events["refresh"][0]["family"])
		require.Len(t, events["refresh token reuse detected; family revoked"], 1)
		assert.Equal(t, family, events["refresh token reuse detected; family revoked"][0]["family"])
		require.Len(t, events["logout"], 1)
		assert.Equal(t, events["login"][1]["family"], events["logout"][0]["family"])
		assert.Equal(t, jti(l2.str("access_token")), events["login"][1]["jti"])
		require.Len(t, events["login failed"], 2)

		u, err := s.store.UserByName(context.Background(), "alice")
		require.NoError(t, err)
		secrets := []string{alicePW, "wrong password!", "a guessed password", u.PasswordHash, "nobody"}
		for _, rt := range []string{l.str("refresh_token"), r1.str("refresh_token"), l2.str("refresh_token")} {
			sum := sha256Sum(rt)
			secrets = append(secrets, rt, hex.EncodeToString(sum), base64.StdEncoding.EncodeToString(sum), base64.RawURLEncoding.EncodeToString(sum))
		}
		// The hash's salt and key parts, too.
		parts := strings.Split(u.PasswordHash, "$")
		secrets = append(secrets, parts[len(parts)-1], parts[len(parts)-2])
		for _, sec := range secrets {
			assert.NotContains(t, logs, sec)
		}
		for _, tok := range []string{l.str("access_token"), r1.str("access_token")} {
			assert.NotContains(t, logs, tok, "access tokens are not logged either")
		}
	})
}

func TestPurgeDropsExpiredFamilies(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		s := newServer(t, open(t), options{accounts: func(c *account.Config) { c.RefreshTTL = time.Hour }})
		s.register("alice", alicePW)
		old := s.login("alice", alicePW).str("refresh_token")
		s.clock.Advance(30 * time.Minute)
		live := s.login("alice", alicePW).str("refresh_token")
		s.clock.Advance(31 * time.Minute)
		n, err := s.accounts.Purge(context.Background())
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		assertInvalidGrant(t, s.refresh(old))
		assert.Equal(t, http.StatusOK, s.refresh(live).Code)
	})
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func TestBodyEncodingRules(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	body := creds("alice", "correct horse")
	for name, edit := range map[string]func(*http.Request){
		"latin1 charset": func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=latin1") },
		"gzip encoding":  func(r *http.Request) { r.Header.Set("Content-Encoding", "gzip") },
		"form body":      func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") },
	} {
		res := s.do(http.MethodPost, "/register", body, edit)
		assert.Equal(t, http.StatusUnsupportedMediaType, res.Code, name)
		assert.Equal(t, "invalid_request", res.str("error"), name)
	}
	res := s.do(http.MethodPost, "/register", body, func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=UTF-8") })
	assert.Equal(t, http.StatusCreated, res.Code)
}

// switchableKeys fails SigningKey while off is set.
type switchableKeys struct {
	token.SigningKeySource
	off atomic.Bool
}

func (s *switchableKeys) SigningKey() (*keys.Key, error) {
	if s.off.Load() {
		return nil, keys.ErrNoActiveKey
	}
	return s.SigningKeySource.SigningKey()
}

// TestRefreshWithoutASigningKeyKeepsTheToken: when no access token can be
// signed, /refresh fails without spending the refresh token, so the retry
// works instead of revoking the family as reuse.
func TestRefreshWithoutASigningKeyKeepsTheToken(t *testing.T) {
	store := memory.New()
	mgr, err := keys.Open(context.Background(), keys.Config{Store: store, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	sw := &switchableKeys{SigningKeySource: mgr}
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: sw, Issuer: testIssuer, Audience: []string{testAudience}})
	require.NoError(t, err)
	acc, err := account.New(account.Config{Users: store, RefreshTokens: store, Issuer: iss, Argon2: fastArgon, Logger: quiet})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, acc.Register(ctx, "alice", "correct horse"))
	resp, err := acc.Login(ctx, "alice", "correct horse")
	require.NoError(t, err)

	sw.off.Store(true)
	_, err = acc.Refresh(ctx, resp.RefreshToken)
	require.ErrorIs(t, err, keys.ErrNoActiveKey)
	sw.off.Store(false)
	again, err := acc.Refresh(ctx, resp.RefreshToken)
	require.NoError(t, err, "the refresh token was not spent")
	assert.NotEqual(t, resp.RefreshToken, again.RefreshToken)
}

// TestConcurrentGuessesCannotOutrunTheThrottle: 60 wrong passwords for one
// user at once get at most the 10 answers the bucket allows; the others are
// throttled before any hashing.
func TestConcurrentGuessesCannotOutrunTheThrottle(t *testing.T) {
	s := newServer(t, memory.New(), options{accounts: func(c *account.Config) {
		c.Throttle.MaxConcurrentHashes = -1 // no 503s: only the throttle decides
	}})
	s.register("alice", "correct horse")
	var wg sync.WaitGroup
	codes := make(chan int, 60)
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- s.do(http.MethodPost, "/login", creds("alice", "wrong password"), from(fmt.Sprintf("192.0.2.%d:1", i+1))).Code
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	assert.Equal(t, map[int]int{http.StatusUnauthorized: 10, http.StatusTooManyRequests: 50}, count)
	// A success is not counted: after the window the right password works
	// and leaves the bucket as it was.
	s.clock.Advance(time.Minute)
	require.Equal(t, http.StatusOK, s.do(http.MethodPost, "/login", creds("alice", "correct horse")).Code)
	assert.Equal(t, http.StatusUnauthorized, s.do(http.MethodPost, "/login", creds("alice", "wrong password")).Code)
	assert.Equal(t, http.StatusTooManyRequests, s.do(http.MethodPost, "/login", creds("alice", "wrong password")).Code)
}

// TestRefreshFamilyEndsAtItsAbsoluteLifetime refreshes once a day, always
// well within the 30-day token lifetime: the family still ends 90 days
// after its login, to the nanosecond, and a new login starts a new one.
func TestRefreshFamilyEndsAtItsAbsoluteLifetime(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		s := newServer(t, open(t), options{})
		s.register("alice", alicePW)
		start := s.clock.Now()
		tok := s.login("alice", alicePW).str("refresh_token")
		for day := 1; day < 90; day++ {
			s.clock.Advance(24 * time.Hour)
			res := s.refresh(tok)
			require.Equal(t, http.StatusOK, res.Code, "day %d: %s", day, res.Raw)
			tok = res.str("refresh_token")
		}
		// Day 89 + 23:59:59.999999999: the last moment of the family.
		s.clock.Advance(24*time.Hour - time.Nanosecond)
		require.Equal(t, start.Add(account.DefaultRefreshFamilyTTL-time.Nanosecond), s.clock.Now())
		res := s.refresh(tok)
		require.Equal(t, http.StatusOK, res.Code, "the last moment before the family's end: %s", res.Raw)
		tok = res.str("refresh_token")
		s.clock.Advance(time.Nanosecond) // login + 90 days
		assertInvalidGrant(t, s.refresh(tok), "at the family's absolute end")
		assert.Contains(t, s.logs.String(), `"reason":"expired"`)

		again := s.login("alice", alicePW)
		assert.Equal(t, http.StatusOK, s.refresh(again.str("refresh_token")).Code, "a new login is a new family")
	})
}

// TestRefreshFamilyTTL checks the setting: a shorter family lifetime ends a
// session that is refreshed before each token expires, and a negative one
// is refused.
func TestRefreshFamilyTTL(t *testing.T) {
	s := newServer(t, memory.New(), options{accounts: func(c *account.Config) {
		c.RefreshTTL, c.RefreshFamilyTTL = time.Hour, 150*time.Minute
	}})
	s.register("alice", alicePW)
	tok := s.login("alice", alicePW).str("refresh_token")
	for range 2 {
		s.clock.Advance(59 * time.Minute)
		res := s.refresh(tok)
		require.Equal(t, http.StatusOK, res.Code, res.Raw)
		tok = res.str("refresh_token")
	}
	s.clock.Advance(32 * time.Minute) // 150 min after login, 32 min after the last refresh
	assertInvalidGrant(t, s.refresh(tok), "after the family's lifetime")

	_, err := account.New(account.Config{Users: s.store, RefreshTokens: s.store, Issuer: newFixture(t).Issuer,
		Argon2: fastArgon, RefreshFamilyTTL: -time.Hour})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "RefreshFamilyTTL")
}

// TestRevokeSessions ends every session of one user, by the name as typed
// at login, and no other user's.
func TestRevokeSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		s := newServer(t, open(t), options{})
		s.register("alice", alicePW)
		s.register("bob", alicePW)
		phone := s.login("alice", alicePW).str("refresh_token")
		laptop := s.refresh(s.login("alice", alicePW).str("refresh_token")).str("refresh_token")
		bob := s.login("bob", alicePW).str("refresh_token")

		n, err := s.accounts.RevokeSessions(context.Background(), "ALICE")
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)
		assertInvalidGrant(t, s.refresh(phone))
		assertInvalidGrant(t, s.refresh(laptop))
		assert.Equal(t, http.StatusOK, s.refresh(bob).Code, "another user's session")
		assert.Contains(t, s.logs.String(), `"msg":"sessions revoked","user":"alice","families":2`)

		n, err = s.accounts.RevokeSessions(context.Background(), "alice")
		require.NoError(t, err)
		assert.Zero(t, n, "nothing left to revoke")
		_, err = s.accounts.RevokeSessions(context.Background(), "nobody")
		require.ErrorIs(t, err, account.ErrUserNotFound)
		_, err = s.accounts.RevokeSessions(context.Background(), "not a name")
		var e *account.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, "invalid_request", e.Code)

		assert.Equal(t, http.StatusOK, s.refresh(s.login("alice", alicePW).str("refresh_token")).Code, "a new login")
	})
}

// TestInstanceThatCannotDecodeTheActiveKeyAnswers503: two instances share a
// store, only the other one has the key-encryption key; after it rotates at
// once, this one answers /login, /refresh and /healthz with 503 naming the
// cause, and its key manager logs the change once, not per request or poll.
func TestInstanceThatCannotDecodeTheActiveKeyAnswers503(t *testing.T) {
	store := memory.New()
	klog := &accountLogBuffer{}
	s := newServer(t, store, options{keys: func(c *keys.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(klog, nil))
	}})
	s.register("alice", alicePW)
	rt := s.login("alice", alicePW).str("refresh_token")

	ctx := context.Background()
	other, err := keys.Open(ctx, keys.Config{Store: store, KeyEncryptionKey: bytes.Repeat([]byte{7}, 32),
		Now: s.clock.Now, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	for range 2 { // the second promotes a key the other created, sealed
		_, err = other.Rotate(ctx, true)
		require.NoError(t, err)
	}
	_, err = s.mgr.Refresh(ctx)
	require.ErrorIs(t, err, keys.ErrKeyEncryptionKey)

	const desc = "the key set cannot be decoded with this instance's key-encryption key"
	for range 3 {
		for name, res := range map[string]response{
			"login":   s.do("POST", "/login", creds("alice", alicePW)),
			"refresh": s.refresh(rt),
			"healthz": s.do("GET", "/healthz", nil),
		} {
			assert.Equal(t, http.StatusServiceUnavailable, res.Code, "%s: %s", name, res.Raw)
			assert.Equal(t, "temporarily_unavailable", res.str("error"), name)
			assert.Equal(t, desc, res.str("error_description"), name)
		}
		// What a server's Run loop does every poll.
		_, err := s.mgr.Refresh(ctx)
		require.NoError(t, err, "no change in the store")
		assert.Error(t, s.mgr.Maintain(ctx), "no transition on a set it cannot read whole")
	}
	assert.Equal(t, 1, strings.Count(klog.String(), `"level":"ERROR"`), "one line per change of state:\n%s", klog.String())
	assert.Contains(t, klog.String(), "key-encryption key")
	assert.NotContains(t, s.logs.String(), `"level":"ERROR"`, "the account flow logs nothing per request")
}

// TestEveryLoginCostsOnePasswordHash counts the password hashes of each
// kind of login (account.Trace.HashDone; package account counts the
// argon2id computations inside each): an unknown user, a malformed username and a wrong
// password each cost exactly one (the unknown ones against the dummy hash),
// as a successful login does, so that timing does not tell them apart. The
// timing test (-tags timing) measures the same property with the clock.
func TestEveryLoginCostsOnePasswordHash(t *testing.T) {
	var hashes atomic.Int64 // account.Trace.HashDone calls
	s := newServer(t, memory.New(), options{accounts: func(c *account.Config) {
		c.Throttle.UserFailures, c.Throttle.IPFailures = -1, -1
		c.Trace = &account.Trace{HashDone: func(time.Duration) { hashes.Add(1) }}
	}})
	s.register("alice", alicePW)
	var failed []response
	for _, tc := range []struct {
		name, user, password string
		want                 int
	}{
		{"unknown user", "mallory", "not the password", http.StatusUnauthorized},
		{"malformed username", "no spaces allowed\x00", "not the password", http.StatusUnauthorized},
		{"wrong password", "alice", "not the password", http.StatusUnauthorized},
		{"right password", "alice", alicePW, http.StatusOK},
	} {
		before := hashes.Load()
		res := s.do("POST", "/login", creds(tc.user, tc.password))
		require.Equal(t, tc.want, res.Code, "%s: %s", tc.name, res.Raw)
		assert.Equal(t, int64(1), hashes.Load()-before, "%s: password hashes computed", tc.name)
		if res.Code != http.StatusOK {
			failed = append(failed, res)
		}
	}
	for _, res := range failed[1:] {
		assert.Equal(t, failed[0].Raw, res.Raw, "identical bodies")
		assert.Equal(t, failed[0].Header, res.Header, "identical headers")
	}
}
