package nethttp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/adaptertest"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

func TestBehaviour(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, routes []jwtauth.Route, auth *authn.Authenticator) http.Handler {
		return nethttp.Handler(routes, auth)
	})
}

// TestMountOnUserMux checks Mount on a mux that already serves the user's own
// routes: both work, and the user's handlers behind Middleware see the claims.
func TestMountOnUserMux(t *testing.T) {
	f := adaptertest.NewFixture(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /public", func(w http.ResponseWriter, r *http.Request) {
		_, ok := token.ClaimsFromContext(r.Context())
		assert.False(t, ok)
		w.WriteHeader(http.StatusTeapot)
	})
	called := 0
	mux.Handle("GET /me", nethttp.Middleware(f.Auth)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called++
		c, ok := token.ClaimsFromContext(r.Context())
		require.True(t, ok)
		assert.Equal(t, "alice", c.Subject)
		assert.Equal(t, []string{adaptertest.Audience}, c.Audience)
		w.WriteHeader(http.StatusNoContent)
	})))
	nethttp.Mount(mux, f.Routes, f.Auth)

	serve := func(path string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	assert.Equal(t, http.StatusTeapot, serve("/public").Code)
	assert.Equal(t, http.StatusOK, serve("/healthz").Code)
	assert.Equal(t, http.StatusNoContent, serve("/me", "Authorization", "Bearer "+f.Token(t, "alice")).Code)
	assert.Equal(t, 1, called)
	rec := serve("/me", "Authorization", "Bearer nope")
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Contains(t, rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
	assert.Equal(t, 1, called, "next must not run after a failed authentication")
}

// TestMountService mounts a jwtauth.Service under /auth on a mux beside the
// application's own /healthz.
func TestMountService(t *testing.T) {
	adaptertest.RunService(t, func(t *testing.T, svc *jwtauth.Service) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, adaptertest.AppHealth) })
		mux.Handle("GET /api/me", nethttp.Middleware(svc.Authenticator())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, _ := token.ClaimsFromContext(r.Context())
			_ = json.NewEncoder(w).Encode(map[string]string{"sub": claims.Subject})
		})))
		nethttp.MountService(mux, svc)
		return mux
	})
}

func TestMiddlewareNeedsAuthenticator(t *testing.T) {
	assert.Panics(t, func() { nethttp.Middleware(nil) })
	assert.Panics(t, func() { nethttp.Middleware(&authn.Authenticator{}) })
}

// BenchmarkMiddlewareNetHTTP measures one authenticated GET /protected through
// nethttp.Handler (see adaptertest.BenchmarkMiddleware).
func BenchmarkMiddlewareNetHTTP(b *testing.B) { adaptertest.BenchmarkMiddleware(b, nethttp.Handler) }

// BenchmarkMiddlewareNetHTTPUncached is BenchmarkMiddlewareNetHTTP with the
// token cache off: one RSA verification per request.
func BenchmarkMiddlewareNetHTTPUncached(b *testing.B) {
	adaptertest.BenchmarkMiddlewareUncached(b, nethttp.Handler)
}

// BenchmarkMiddlewareNetHTTPMetrics is BenchmarkMiddlewareNetHTTP over a
// whole Service with metrics off and on (see adaptertest.BenchmarkMiddlewareMetrics).
func BenchmarkMiddlewareNetHTTPMetrics(b *testing.B) {
	adaptertest.BenchmarkMiddlewareMetrics(b, nethttp.Handler)
}

// BenchmarkMiddlewareNetHTTPDPoP measures a cached DPoP-bound token with a
// fresh proof through nethttp.Handler beside a bare P-256 verify (see
// adaptertest.BenchmarkMiddlewareDPoP).
func BenchmarkMiddlewareNetHTTPDPoP(b *testing.B) {
	adaptertest.BenchmarkMiddlewareDPoP(b, nethttp.Handler)
}

// BenchmarkFloorVerifyPKCS1v15 is the raw crypto/rsa floor under BenchmarkMiddlewareNetHTTP.
func BenchmarkFloorVerifyPKCS1v15(b *testing.B) { adaptertest.BenchmarkFloorVerify(b) }

// protected serves GET /me with next behind nethttp.Middleware(auth, reqs...).
func protected(_ testing.TB, next http.Handler, auth *authn.Authenticator, reqs ...authn.Requirement) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /me", nethttp.Middleware(auth, reqs...)(next))
	return mux
}

func TestAuthorization(t *testing.T) { adaptertest.RunAuthorization(t, protected) }

// BenchmarkMiddlewareNetHTTPRoles is BenchmarkMiddlewareNetHTTP with a role
// requirement and a token carrying roles and scope (see
// adaptertest.BenchmarkMiddlewareRoles).
func BenchmarkMiddlewareNetHTTPRoles(b *testing.B) {
	adaptertest.BenchmarkMiddlewareRoles(b, protected)
}

func TestCookies(t *testing.T) {
	adaptertest.RunCookies(t, func(t *testing.T, routes []jwtauth.Route, auth *authn.Authenticator) http.Handler {
		return nethttp.Handler(routes, auth)
	})
}
