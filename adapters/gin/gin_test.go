package gin_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/adaptertest"
	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

func TestBehaviour(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, routes []jwtauth.Route, auth *authn.Authenticator) http.Handler {
		return jwtgin.New(routes, auth)
	})
}

// TestMountOnUserEngine checks Mount on a group of the user's own engine next
// to the user's routes, and that handlers behind Middleware see the claims
// both in the gin.Context and in the request's context.
func TestMountOnUserEngine(t *testing.T) {
	f := adaptertest.NewFixture(t)
	r := gin.New()
	r.GET("/public", func(c *gin.Context) {
		_, ok := jwtgin.ClaimsFromContext(c)
		assert.False(t, ok)
		c.Status(http.StatusTeapot)
	})
	called := 0
	r.GET("/me", jwtgin.Middleware(f.Auth), func(c *gin.Context) {
		called++
		claims, ok := jwtgin.ClaimsFromContext(c)
		require.True(t, ok)
		assert.Equal(t, "alice", claims.Subject)
		fromReq, ok := token.ClaimsFromContext(c.Request.Context())
		require.True(t, ok)
		assert.Same(t, claims, fromReq)
		c.Status(http.StatusNoContent)
	})
	jwtgin.Mount(r.Group("/auth"), f.Routes, f.Auth)

	serve := func(path string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}
	assert.Equal(t, http.StatusTeapot, serve("/public").Code)
	assert.Equal(t, http.StatusOK, serve("/auth/healthz").Code)
	tok := f.Token(t, "alice")
	rec := serve("/auth/protected", "Authorization", "Bearer "+tok)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), `"sub":"alice"`)
	assert.Equal(t, http.StatusNoContent, serve("/me", "x-access-token", tok).Code)
	assert.Equal(t, 1, called)
	rec = serve("/me")
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, `Bearer realm="`+adaptertest.Realm+`"`, rec.Header().Get("WWW-Authenticate"))
	assert.Equal(t, 1, called, "the chain must be aborted after a failed authentication")
}

func TestMiddlewareNeedsAuthenticator(t *testing.T) {
	assert.Panics(t, func() { jwtgin.Middleware(nil) })
	assert.Panics(t, func() { jwtgin.Middleware(&authn.Authenticator{}) })
}

// BenchmarkMiddlewareGin measures one authenticated GET /protected through
// jwtgin.New (see adaptertest.BenchmarkMiddleware).
func BenchmarkMiddlewareGin(b *testing.B) {
	gin.SetMode(gin.TestMode)
	adaptertest.BenchmarkMiddleware(b, func(r []jwtauth.Route, a *authn.Authenticator) http.Handler { return jwtgin.New(r, a) })
}

// BenchmarkMiddlewareGinUncached is BenchmarkMiddlewareGin with the token
// cache off: one RSA verification per request.
func BenchmarkMiddlewareGinUncached(b *testing.B) {
	gin.SetMode(gin.TestMode)
	adaptertest.BenchmarkMiddlewareUncached(b, func(r []jwtauth.Route, a *authn.Authenticator) http.Handler { return jwtgin.New(r, a) })
}

// BenchmarkMiddlewareGinMetrics is BenchmarkMiddlewareGin over a whole
// Service with metrics off and on (see adaptertest.BenchmarkMiddlewareMetrics).
func BenchmarkMiddlewareGinMetrics(b *testing.B) {
	adaptertest.BenchmarkMiddlewareMetrics(b, func(r []jwtauth.Route, a *authn.Authenticator) http.Handler { return jwtgin.New(r, a) })
}

// BenchmarkFloorVerifyPKCS1v15 is the raw crypto/rsa floor under BenchmarkMiddlewareGin.
func BenchmarkFloorVerifyPKCS1v15(b *testing.B) { adaptertest.BenchmarkFloorVerify(b) }

// TestMountService mounts a jwtauth.Service under /auth beside the
// application's own /healthz, on the engine and on a group at /auth (which
// cannot reach the root: the RFC 8414 §3.1 metadata route is mounted on the
// engine, as MountService's documentation says).
func TestMountService(t *testing.T) {
	for _, onGroup := range []bool{false, true} {
		t.Run(map[bool]string{false: "engine", true: "group"}[onGroup], func(t *testing.T) {
			adaptertest.RunService(t, func(t *testing.T, svc *jwtauth.Service) http.Handler {
				r := gin.New()
				r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, adaptertest.AppHealth) })
				r.GET("/api/me", jwtgin.Middleware(svc.Authenticator()), func(c *gin.Context) {
					claims, _ := jwtgin.ClaimsFromContext(c)
					c.JSON(http.StatusOK, gin.H{"sub": claims.Subject})
				})
				var into gin.IRouter = r
				if onGroup {
					into = r.Group("/auth")
					jwtgin.Mount(r, svc.RootRoutes(), nil)
				}
				require.NoError(t, jwtgin.MountService(into, svc))
				return r
			})
		})
	}
}

// TestMountServiceOutsideIssuerPath: a group that cannot hold the issuer's
// path is an error naming both paths, and nothing is mounted.
func TestMountServiceOutsideIssuerPath(t *testing.T) {
	svc := mustService(t, "https://app.example.test/auth")
	for _, group := range []string{"/api", "/au", "/auth/v1"} {
		r := gin.New()
		err := jwtgin.MountService(r.Group(group), svc)
		require.Error(t, err, group)
		assert.Contains(t, err.Error(), `the router group at "`+group+`" is outside the issuer's path "/auth"`)
		assert.Empty(t, r.Routes(), group)
	}
	err := jwtgin.MountService(gin.New().Group("/api"), mustService(t, "https://h.example"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `the router group at "/api" is outside the issuer's path "/"`)

	r := gin.New()
	require.NoError(t, jwtgin.MountService(r.Group("/"), svc))
	require.NoError(t, jwtgin.MountService(r.Group("/app").Group("/v2"), mustService(t, "https://h.example/app/v2/auth")))
	var paths []string
	for _, rt := range r.Routes() {
		if rt.Method == http.MethodPost && strings.HasSuffix(rt.Path, "/login") {
			paths = append(paths, rt.Path)
		}
	}
	assert.ElementsMatch(t, []string{"/auth/login", "/app/v2/auth/login"}, paths)
}

func mustService(t *testing.T, issuer string) *jwtauth.Service {
	svc, err := jwtauth.New(t.Context(), jwtauth.Config{
		Store: memory.New(), Issuer: issuer,
		GenerateKey: keystest.Generator(t), Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	return svc
}

// protected serves GET /me with next behind jwtgin.Middleware(auth, reqs...).
func protected(_ testing.TB, next http.Handler, auth *authn.Authenticator, reqs ...authn.Requirement) http.Handler {
	r := gin.New()
	r.GET("/me", jwtgin.Middleware(auth, reqs...), func(c *gin.Context) {
		// The gin.Context and the request agree on the claims (or their absence).
		fromGin, okGin := jwtgin.ClaimsFromContext(c)
		fromReq, okReq := token.ClaimsFromContext(c.Request.Context())
		if okGin != okReq || fromGin != fromReq {
			c.AbortWithStatus(http.StatusTeapot)
			return
		}
		next.ServeHTTP(c.Writer, c.Request)
	})
	return r
}

func TestAuthorization(t *testing.T) { adaptertest.RunAuthorization(t, protected) }

// BenchmarkMiddlewareGinRoles is BenchmarkMiddlewareGin with a role
// requirement and a token carrying roles and scope (see
// adaptertest.BenchmarkMiddlewareRoles).
func BenchmarkMiddlewareGinRoles(b *testing.B) {
	gin.SetMode(gin.TestMode)
	adaptertest.BenchmarkMiddlewareRoles(b, protected)
}

func TestCookies(t *testing.T) {
	adaptertest.RunCookies(t, func(t *testing.T, routes []jwtauth.Route, auth *authn.Authenticator) http.Handler {
		return jwtgin.New(routes, auth)
	})
}
