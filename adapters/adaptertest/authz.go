package adaptertest

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// NewProtectedFunc serves GET /me with next on an adapter's framework,
// behind its middleware for auth with reqs (authn.RequireScopes,
// RequireRoles, RequireAnyScope, RequireAnyRole, Require), and returns the result as an http.Handler.
type NewProtectedFunc = func(tb testing.TB, next http.Handler, auth *authn.Authenticator, reqs ...authn.Requirement) http.Handler

// ClaimsHandler answers 200 with the request's verified claims as the
// adapters' middleware left them: {"sub":…,"roles":[…],"scopes":[…]}, or
// {"anonymous":true} when token.ClaimsFromContext reports none.
var ClaimsHandler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	c, ok := token.ClaimsFromContext(r.Context())
	if !ok {
		_ = json.NewEncoder(w).Encode(map[string]any{"anonymous": true})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"sub": c.Subject, "roles": c.Roles(), "scopes": c.Scopes()})
})

// RunAuthorization checks an adapter's authorization and token lookup
// (issue 10 parts 5 to 7) against one table: scope, role and predicate
// requirements, all-of and any-of, (403 insufficient_scope with the RFC 6750 §3.1 challenge; a
// missing or bad token still 401), optional authentication, and token
// sources (cookie, query parameter, the 401 naming them, two different
// tokens refused), and DPoP (RFC 9449): the modes, the bad-input table of
// dpopBadInputs (each a 401 with the DPoP challenge, the handler not
// reached), server nonces, and the DPoP insufficient_scope and malformed
// request challenges. Subtests run in parallel, each with a fresh [Fixture].
// Every 401, 403 and 503 the middleware answers is checked against the
// reusable answers of openapi.yaml (components/responses Unauthorized,
// InsufficientScope, Unavailable).
func RunAuthorization(t *testing.T, newProtected NewProtectedFunc) {
	t.Helper()
	var checked traffic
	t.Cleanup(func() {
		t.Logf("openapi.yaml: the authorization table checked %d answers of the middleware", checked.responses.Load())
	})
	tests := []struct {
		name string
		fn   func(t *testing.T, f *Fixture, serve func(edit func(*authn.Authenticator), reqs ...authn.Requirement) *client)
	}{
		{"Roles", testRequireRoles},
		{"Scopes", testRequireScopes},
		{"Predicate", testRequirePredicate},
		{"Several", testRequireSeveral},
		{"Optional", testOptional},
		{"Sources", testSources},
		{"AnyRole", testRequireAnyRole},
		{"AnyScope", testRequireAnyScope},
		{"DPoPAllowed", testDPoPAllowed},
		{"DPoPRequired", testDPoPRequired},
		{"DPoPOff", testDPoPOff},
		{"DPoPBadInput", testDPoPBadInput},
		{"DPoPNonce", testDPoPNonce},
		{"DPoPChallenges", testDPoPChallenges},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := NewFixture(t)
			tt.fn(t, f, func(edit func(*authn.Authenticator), reqs ...authn.Requirement) *client {
				auth := *f.Auth
				if edit != nil {
					edit(&auth)
				}
				reached := new(atomic.Int64)
				next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					reached.Add(1)
					ClaimsHandler.ServeHTTP(w, r)
				})
				h := newProtected(t, next, &auth, reqs...)
				require.NotNil(t, h, "newProtected returned nil")
				return &client{t: t, h: validated(t, h, application, "", &checked), reached: reached}
			})
		})
	}
}

// assertMe checks a 200 from ClaimsHandler for sub.
func assertMe(t *testing.T, r *response, sub string) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Body)
	m := jsonBody(t, r)
	assert.Equal(t, sub, m["sub"], "body %s", r.Body)
	return m
}

// assertForbidden checks the RFC 6750 §3.1 insufficient_scope answer: 403,
// the challenge with the realm, the error, the body's description and, for
// scope requirements, scope="…".
func assertForbidden(t *testing.T, r *response, scope string) {
	t.Helper()
	desc := assertError(t, r, http.StatusForbidden, "insufficient_scope")
	want := `Bearer realm="` + Realm + `", error="insufficient_scope", error_description="` + desc + `"`
	if scope != "" {
		want += `, scope="` + scope + `"`
	}
	assert.Equal(t, want, r.Header.Get("WWW-Authenticate"))
}

// assertNoToken checks the 401 for a request without a token: the bare
// challenge and the body error unauthorized (SPEC §2), naming the sources.
func assertNoToken(t *testing.T, r *response, sources string) {
	t.Helper()
	desc := assertError(t, r, http.StatusUnauthorized, "unauthorized")
	assert.Equal(t, `Bearer realm="`+Realm+`"`, r.Header.Get("WWW-Authenticate"))
	assert.Equal(t, "an access token is required ("+sources+")", desc)
}

const defaultSources = "Authorization: Bearer <token> or x-access-token"

func testRequireRoles(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	c := serve(nil, authn.RequireRoles("admin"))
	admin := f.TokenWith(t, "alice", map[string]any{"roles": []string{"user", "admin"}, "scope": "orders:read"})
	m := assertMe(t, c.do(http.MethodGet, "/me", "", bearer(admin)...), "alice")
	assert.Equal(t, []any{"user", "admin"}, m["roles"])
	assert.Equal(t, []any{"orders:read"}, m["scopes"])
	assertMe(t, c.do(http.MethodGet, "/me", "", "x-access-token", admin), "alice")

	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", map[string]any{"roles": []string{"user"}}))...), "")
	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.Token(t, "bob"))...), "")                                                  // no roles claim
	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", map[string]any{"groups": []string{"admin"}}))...), "") // a group is not a role
	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", map[string]any{"scope": "admin"}))...), "")            // nor is a scope
	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", map[string]any{"roles": []string{"Admin"}}))...), "")  // roles are exact

	// A missing or bad token is still 401, never 403.
	assertNoToken(t, c.do(http.MethodGet, "/me", ""), defaultSources)
	assertInvalidToken(t, c.do(http.MethodGet, "/me", "", bearer("garbage")...))
	assertInvalidToken(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "alice", map[string]any{"roles": []string{"admin"}})+"x")...))
}

func testRequireScopes(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	c := serve(nil, authn.RequireScopes("orders:read", "orders:write"))
	for _, scope := range []string{"orders:read orders:write", "orders:write profile orders:read"} {
		assertMe(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "alice", map[string]any{"scope": scope}))...), "alice")
	}
	for _, extra := range []map[string]any{
		{"scope": "orders:read"},
		{"scope": "orders:read:all orders:write"}, // a prefix is not the scope
		{"roles": []string{"orders:read", "orders:write"}},
		nil,
	} {
		assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", extra))...), "orders:read orders:write")
	}
	assertNoToken(t, c.do(http.MethodGet, "/me", ""), defaultSources)
	assertInvalidToken(t, c.do(http.MethodGet, "/me", "", bearer("garbage")...))
}

func testRequirePredicate(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	type tenant struct {
		ID int `json:"id"`
	}
	var calls int
	c := serve(nil, authn.Require(func(c *token.Claims) bool {
		calls++
		var tn tenant
		return c.Decode("tenant", &tn) == nil && tn.ID == 7
	}))
	assertMe(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "alice", map[string]any{"tenant": tenant{7}}))...), "alice")
	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", map[string]any{"tenant": tenant{8}}))...), "")
	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.Token(t, "bob"))...), "")
	assert.Equal(t, 3, calls)
	assertNoToken(t, c.do(http.MethodGet, "/me", ""), defaultSources)
	assert.Equal(t, 3, calls, "the predicate never sees an unauthenticated request")
}

func testRequireSeveral(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	c := serve(nil, authn.RequireRoles("admin"), authn.RequireScopes("billing"))
	assertMe(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "alice", map[string]any{"roles": []string{"admin"}, "scope": "billing"}))...), "alice")
	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", map[string]any{"roles": []string{"admin"}}))...), "billing")
	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", map[string]any{"scope": "billing"}))...), "")
}

func testOptional(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	optional := func(a *authn.Authenticator) { a.Optional = true }
	c := serve(optional)
	for _, h := range [][]string{nil, {"Authorization", "Bearer"}, {"Authorization", "Basic YWxpY2U6c2VjcmV0"}, {"x-access-token", ""}} {
		r := c.do(http.MethodGet, "/me", "", h...)
		require.Equal(t, http.StatusOK, r.Status, "headers %q: %s", h, r.Body)
		assert.Equal(t, map[string]any{"anonymous": true}, jsonBody(t, r), "headers %q", h)
	}
	assertMe(t, c.do(http.MethodGet, "/me", "", bearer(f.Token(t, "alice"))...), "alice")
	// A token that is present but bad is refused, not taken as anonymous.
	assertInvalidToken(t, c.do(http.MethodGet, "/me", "", bearer("garbage")...))
	assertInvalidToken(t, c.do(http.MethodGet, "/me", "", "x-access-token", "garbage"))
	assertInvalidToken(t, c.do(http.MethodGet, "/me", "", "Authorization", "Bearer "+f.Token(t, "alice"), "x-access-token", f.Token(t, "bob")))

	// With a requirement, anonymous is not enough: 401.
	c = serve(optional, authn.RequireRoles("admin"))
	assertNoToken(t, c.do(http.MethodGet, "/me", ""), defaultSources)
	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.Token(t, "bob"))...), "")
	assertMe(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "alice", map[string]any{"roles": []string{"admin"}}))...), "alice")
}

func testSources(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	alice, bob := f.Token(t, "alice"), f.Token(t, "bob")
	cookie := func(a *authn.Authenticator) {
		a.Sources = []authn.TokenSource{authn.CookieSource("session"), authn.HeaderSource("Authorization")}
	}
	c := serve(cookie)
	assertMe(t, c.do(http.MethodGet, "/me", "", "Cookie", "theme=dark; session="+alice), "alice")
	assertMe(t, c.do(http.MethodGet, "/me", "", bearer(alice)...), "alice")
	assertMe(t, c.do(http.MethodGet, "/me", "", "Cookie", "session="+alice, "Authorization", "Bearer "+alice), "alice") // one token, twice
	// x-access-token is not configured here: no token, and the 401 says where to put one.
	assertNoToken(t, c.do(http.MethodGet, "/me", "", "x-access-token", alice), "cookie session or Authorization: Bearer <token>")
	assertNoToken(t, c.do(http.MethodGet, "/me?access_token="+alice, ""), "cookie session or Authorization: Bearer <token>")
	// Two different tokens stay an error, across sources or within one.
	assertInvalidToken(t, c.do(http.MethodGet, "/me", "", "Cookie", "session="+alice, "Authorization", "Bearer "+bob))
	assertInvalidToken(t, c.do(http.MethodGet, "/me", "", "Cookie", "session="+alice+"; session="+bob))
	assertInvalidToken(t, c.do(http.MethodGet, "/me", "", "Cookie", "session=garbage"))

	// The query parameter, only when configured; its answers are private (RFC 6750 §2.3).
	c = serve(func(a *authn.Authenticator) {
		a.Sources = []authn.TokenSource{authn.HeaderSource("Authorization"), authn.HeaderSource("x-access-token"), authn.QuerySource("access_token")}
	}, authn.RequireRoles("admin"))
	admin := f.TokenWith(t, "alice", map[string]any{"roles": []string{"admin"}})
	r2 := c.do(http.MethodGet, "/me?access_token="+admin, "")
	assertMe(t, r2, "alice")
	assert.Equal(t, "private", r2.Header.Get("Cache-Control"))
	assert.Empty(t, c.do(http.MethodGet, "/me", "", bearer(admin)...).Header.Get("Cache-Control"), "a header token leaves caching to the handler")
	assertInvalidToken(t, c.do(http.MethodGet, "/me?access_token="+admin+"&access_token="+bob, ""))
	assertInvalidToken(t, c.do(http.MethodGet, "/me?access_token="+admin, "", bearer(bob)...))
	assertForbidden(t, c.do(http.MethodGet, "/me?access_token="+bob, ""), "")
	assertNoToken(t, c.do(http.MethodGet, "/me", ""), "Authorization: Bearer <token>, x-access-token or query parameter access_token")

	// The default sources, named.
	assertNoToken(t, serve(nil).do(http.MethodGet, "/me", "", "Cookie", "session="+alice), defaultSources)
}

// testRequireAnyRole: one of the roles is enough, several too; none is 403
// without a scope attribute.
func testRequireAnyRole(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	c := serve(nil, authn.RequireAnyRole("admin", "support"))
	for _, roles := range [][]string{{"admin"}, {"support"}, {"support", "admin"}, {"user", "admin"}} {
		m := assertMe(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "alice", map[string]any{"roles": roles}))...), "alice")
		assert.Len(t, m["roles"], len(roles))
	}
	for _, extra := range []map[string]any{
		{"roles": []string{"user"}},
		{"roles": []string{"Admin"}},  // roles are exact
		{"groups": []string{"admin"}}, // a group is not a role
		{"scope": "admin support"},    // nor is a scope
		nil,
	} {
		r := c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", extra))...)
		assertForbidden(t, r, "")
		assert.Equal(t, "the token has none of the accepted roles", jsonBody(t, r)["error_description"])
	}
	assertNoToken(t, c.do(http.MethodGet, "/me", ""), defaultSources)
	assertInvalidToken(t, c.do(http.MethodGet, "/me", "", bearer("garbage")...))
}

// testRequireAnyScope: one of the scopes is enough, several too; none is
// 403 whose challenge lists the alternatives in scope="…" (RFC 6750 §3.1).
func testRequireAnyScope(t *testing.T, f *Fixture, serve func(func(*authn.Authenticator), ...authn.Requirement) *client) {
	c := serve(nil, authn.RequireAnyScope("orders:read", "orders:admin"))
	for _, scope := range []string{"orders:read", "profile orders:admin", "orders:admin orders:read"} {
		assertMe(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "alice", map[string]any{"scope": scope}))...), "alice")
	}
	for _, extra := range []map[string]any{
		{"scope": "profile"},
		{"scope": "orders:read:all orders:write"}, // a prefix is not the scope
		{"roles": []string{"orders:read"}},
		nil,
	} {
		r := c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", extra))...)
		assertForbidden(t, r, "orders:read orders:admin")
		assert.Equal(t, "the token has none of the accepted scopes", jsonBody(t, r)["error_description"])
	}
	// Beside an all-of requirement both hold: an accepted scope is not enough without the role.
	c = serve(nil, authn.RequireAnyScope("orders:read", "orders:admin"), authn.RequireRoles("staff"))
	assertMe(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "alice", map[string]any{"scope": "orders:admin", "roles": []string{"staff"}}))...), "alice")
	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", map[string]any{"scope": "orders:admin"}))...), "")
	assertForbidden(t, c.do(http.MethodGet, "/me", "", bearer(f.TokenWith(t, "bob", map[string]any{"roles": []string{"staff"}}))...), "orders:read orders:admin")
	assertNoToken(t, c.do(http.MethodGet, "/me", ""), defaultSources)
}
