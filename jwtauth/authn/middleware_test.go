package authn_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenFromRequest(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string][]string
		want    string
		err     error
	}{
		{"bearer", map[string][]string{"Authorization": {"Bearer abc"}}, "abc", nil},
		{"scheme is case-insensitive", map[string][]string{"Authorization": {"bearer abc"}}, "abc", nil},
		{"x-access-token", map[string][]string{"X-Access-Token": {"abc"}}, "abc", nil},
		{"both, same token", map[string][]string{"Authorization": {"Bearer abc"}, "X-Access-Token": {"abc"}}, "abc", nil},
		{"basic auth is not a token", map[string][]string{"Authorization": {"Basic dXNlcjpwdw=="}}, "", token.ErrTokenMissing},
		{"none", nil, "", token.ErrTokenMissing},
		{"empty bearer", map[string][]string{"Authorization": {"Bearer "}}, "", token.ErrTokenMissing},
		{"two Authorization headers", map[string][]string{"Authorization": {"Bearer a", "Bearer b"}}, "", token.ErrTokenMalformed},
		{"two different tokens", map[string][]string{"Authorization": {"Bearer a"}, "X-Access-Token": {"b"}}, "", token.ErrTokenMalformed},
		{"two x-access-token headers", map[string][]string{"X-Access-Token": {"a", "b"}}, "", token.ErrTokenMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, vs := range tc.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			got, err := authn.TokenFromRequest(r)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestChallengeHeaders(t *testing.T) {
	a := &authn.Authenticator{Realm: `my "realm"`}
	w := httptest.NewRecorder()
	a.Challenge(w, token.ErrTokenMissing)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `Bearer realm="my realm"`, w.Header().Get("WWW-Authenticate"))

	w = httptest.NewRecorder()
	a.Challenge(w, token.ErrTokenExpired)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `Bearer realm="my realm", error="invalid_token", error_description="the token has expired"`, w.Header().Get("WWW-Authenticate"))
	assert.JSONEq(t, `{"error":"invalid_token","error_description":"the token has expired"}`, w.Body.String())
}

func TestChallengeWhenTheKeysAreOutOfReach(t *testing.T) {
	a := &authn.Authenticator{}
	for _, err := range []error{
		fmt.Errorf("%w: kid %q: %w", token.ErrUnknownKey, "k", remote.ErrKeySetUnavailable),
		fmt.Errorf("%w: %w", token.ErrUnknownKey, token.ErrStoreUnavailable),
	} {
		w := httptest.NewRecorder()
		a.Challenge(w, err)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code, "%v", err)
		assert.Equal(t, "5", w.Header().Get("Retry-After"))
		assert.Empty(t, w.Header().Get("WWW-Authenticate"))
		assert.Contains(t, w.Body.String(), `"temporarily_unavailable"`)
	}
}

// TestEmptyRequirementsPanicAtConstruction: an empty scope or role
// requirement is a programming error found when the routes are built, not
// an allow-all found in production.
func TestEmptyRequirementsPanicAtConstruction(t *testing.T) {
	for name, build := range map[string]func(){
		"no scope":                 func() { authn.RequireScopes() },
		"empty scope":              func() { authn.RequireScopes("read", "") },
		"scope with a space":       func() { authn.RequireScopes("read write") },
		"scope with a quote":       func() { authn.RequireScopes(`a"b`) },
		"no role":                  func() { authn.RequireRoles() },
		"empty role":               func() { authn.RequireRoles("") },
		"nil predicate":            func() { authn.Require(nil) },
		"empty header name":        func() { authn.HeaderSource("") },
		"empty cookie name":        func() { authn.CookieSource("") },
		"cookie name with a space": func() { authn.CookieSource("my session") },
		"cookie name with a ';'":   func() { authn.CookieSource("a;b") },
		"empty query name":         func() { authn.QuerySource("") },
		"nil slice of scopes":      func() { authn.RequireScopes([]string(nil)...) },
		"no scope, any of":         func() { authn.RequireAnyScope() },
		"empty scope, any of":      func() { authn.RequireAnyScope("read", "") },
		"bad scope, any of":        func() { authn.RequireAnyScope(`a\b`) },
		"no role, any of":          func() { authn.RequireAnyRole() },
		"empty role, any of":       func() { authn.RequireAnyRole("admin", "") },
	} {
		assert.Panics(t, build, name)
	}
	assert.NotPanics(t, func() { authn.RequireScopes("orders:read", "orders:write") })
	assert.NotPanics(t, func() { authn.RequireRoles("admin") })
	assert.NotPanics(t, func() { authn.RequireAnyScope("orders:read") })
	assert.NotPanics(t, func() { authn.RequireAnyRole("admin", "support") })
}

// TestRequirementMiddleware: the core form, behind an authenticating
// middleware or alone; the zero Requirement grants nothing.
func TestRequirementMiddleware(t *testing.T) {
	f := newFixture(t)
	auth := &authn.Authenticator{Verifier: f.Verifier, Realm: "core"}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	authenticate := func(a *authn.Authenticator, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, _, err := a.Authenticate(r)
			if err != nil {
				a.Challenge(w, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	admin, err := f.Issuer.IssueWith(context.Background(), "alice", map[string]any{"roles": []string{"admin"}})
	require.NoError(t, err)
	user, err := f.Issuer.IssueWith(context.Background(), "bob", map[string]any{"roles": []string{"user"}})
	require.NoError(t, err)
	serve := func(h http.Handler, tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	h := authenticate(auth, authn.RequireRoles("admin").Middleware(ok))
	assert.Equal(t, http.StatusNoContent, serve(h, admin.Raw).Code)
	w := serve(h, user.Raw)
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.Equal(t, `Bearer realm="jwtauth", error="insufficient_scope", error_description="the token lacks a required role"`, w.Header().Get("WWW-Authenticate"),
		"alone, the requirement does not know the authenticator's realm")
	assert.JSONEq(t, `{"error":"insufficient_scope","error_description":"the token lacks a required role"}`, w.Body.String())
	assert.Equal(t, http.StatusUnauthorized, serve(h, "").Code)

	// Without any authentication in front: 401, never the handler.
	w = serve(authn.RequireRoles("admin").Middleware(ok), admin.Raw)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `Bearer realm="jwtauth"`, w.Header().Get("WWW-Authenticate"))

	// Behind an Optional authenticator, an anonymous request gets its realm's 401.
	opt := *auth
	opt.Optional = true
	w = serve(authenticate(&opt, authn.RequireScopes("read").Middleware(ok)), "")
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `Bearer realm="core"`, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, http.StatusNoContent, serve(authenticate(&opt, ok), "").Code)

	// The zero Requirement grants nothing.
	w = serve(authenticate(auth, authn.Requirement{}.Middleware(ok)), admin.Raw)
	assert.Equal(t, http.StatusForbidden, w.Code)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+admin.Raw)
	rec := httptest.NewRecorder()
	_, _, allowed := auth.Authorize(rec, r, authn.Requirement{})
	assert.False(t, allowed)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	_, c, allowed := auth.Authorize(httptest.NewRecorder(), r)
	assert.True(t, allowed)
	assert.Equal(t, "alice", c.Subject)
}

func TestTokenSourceNames(t *testing.T) {
	for want, s := range map[string]authn.TokenSource{
		"Authorization: Bearer <token>": authn.HeaderSource("authorization"),
		"x-access-token":                authn.HeaderSource("X-ACCESS-TOKEN"),
		"X-Api-Token":                   authn.HeaderSource("x-api-token"),
		"cookie session":                authn.CookieSource("session"),
		"query parameter access_token":  authn.QuerySource("access_token"),
		"nowhere":                       {},
	} {
		assert.Equal(t, want, s.String())
	}
}

// TestAnyOfRequirements: RequireAnyRole and RequireAnyScope admit a token
// holding one or several of the alternatives and refuse one holding none
// with 403 insufficient_scope; the scope challenge lists the alternatives.
func TestAnyOfRequirements(t *testing.T) {
	f := newFixture(t)
	auth := &authn.Authenticator{Verifier: f.Verifier, Realm: "core"}
	check := func(q authn.Requirement, claims map[string]any) *httptest.ResponseRecorder {
		t.Helper()
		tok, err := f.Issuer.IssueWith(context.Background(), "alice", claims)
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok.Raw)
		w := httptest.NewRecorder()
		if _, _, ok := auth.Authorize(w, r, q); ok {
			w.WriteHeader(http.StatusNoContent)
		}
		return w
	}
	roles := authn.RequireAnyRole("admin", "support")
	for _, held := range [][]string{{"admin"}, {"support"}, {"user", "support", "admin"}} {
		assert.Equal(t, http.StatusNoContent, check(roles, map[string]any{"roles": held}).Code, "roles %q", held)
	}
	for _, claims := range []map[string]any{{"roles": []string{"user"}}, {"roles": []string{"Admin"}}, {"scope": "admin"}, nil} {
		w := check(roles, claims)
		assert.Equal(t, http.StatusForbidden, w.Code, "claims %v", claims)
		assert.Equal(t, `Bearer realm="core", error="insufficient_scope", error_description="the token has none of the accepted roles"`, w.Header().Get("WWW-Authenticate"))
		assert.JSONEq(t, `{"error":"insufficient_scope","error_description":"the token has none of the accepted roles"}`, w.Body.String())
	}

	scopes := authn.RequireAnyScope("orders:read", "orders:admin")
	for _, held := range []string{"orders:read", "profile orders:admin", "orders:admin orders:read"} {
		assert.Equal(t, http.StatusNoContent, check(scopes, map[string]any{"scope": held}).Code, "scope %q", held)
	}
	for _, claims := range []map[string]any{{"scope": "profile"}, {"scope": "orders:read:all"}, {"roles": []string{"orders:read"}}, nil} {
		w := check(scopes, claims)
		assert.Equal(t, http.StatusForbidden, w.Code, "claims %v", claims)
		assert.Equal(t, `Bearer realm="core", error="insufficient_scope", error_description="the token has none of the accepted scopes", scope="orders:read orders:admin"`, w.Header().Get("WWW-Authenticate"))
	}

	// Beside an all-of requirement, both must hold.
	tok, err := f.Issuer.IssueWith(context.Background(), "alice", map[string]any{"roles": []string{"support"}, "scope": "billing"})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok.Raw)
	_, _, ok := auth.Authorize(httptest.NewRecorder(), r, roles, authn.RequireScopes("billing"))
	assert.True(t, ok)
	_, _, ok = auth.Authorize(httptest.NewRecorder(), r, roles, authn.RequireScopes("billing", "refunds"))
	assert.False(t, ok)
}
