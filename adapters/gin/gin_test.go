package gin_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/adaptertest"
	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/jwtauth"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

func TestBehaviour(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, routes []jwtauth.Route, auth *jwtauth.Authenticator) http.Handler {
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
		fromReq, ok := jwtauth.ClaimsFromContext(c.Request.Context())
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
	assert.Panics(t, func() { jwtgin.Middleware(&jwtauth.Authenticator{}) })
}

// BenchmarkMiddlewareGin measures one authenticated GET /protected through
// jwtgin.New (see adaptertest.BenchmarkMiddleware).
func BenchmarkMiddlewareGin(b *testing.B) {
	gin.SetMode(gin.TestMode)
	adaptertest.BenchmarkMiddleware(b, func(r []jwtauth.Route, a *jwtauth.Authenticator) http.Handler { return jwtgin.New(r, a) })
}

// BenchmarkFloorVerifyPKCS1v15 is the raw crypto/rsa floor under BenchmarkMiddlewareGin.
func BenchmarkFloorVerifyPKCS1v15(b *testing.B) { adaptertest.BenchmarkFloorVerify(b) }

// protected serves GET /me with next behind jwtgin.Middleware(auth, reqs...).
func protected(_ testing.TB, next http.Handler, auth *jwtauth.Authenticator, reqs ...jwtauth.Requirement) http.Handler {
	r := gin.New()
	r.GET("/me", jwtgin.Middleware(auth, reqs...), func(c *gin.Context) {
		// The gin.Context and the request agree on the claims (or their absence).
		fromGin, okGin := jwtgin.ClaimsFromContext(c)
		fromReq, okReq := jwtauth.ClaimsFromContext(c.Request.Context())
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
