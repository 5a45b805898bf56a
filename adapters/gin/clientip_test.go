package gin_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// TestThrottleUsesGinClientIP: mounted on gin, the login throttle counts the
// client gin names (c.ClientIP, honouring engine.SetTrustedProxies) unless
// jwtauth's own TrustedProxies are set, which then win. Each case spends the
// address budget (2 failed logins) of one client forwarded by the proxy at
// 127.0.0.1 and then sends a failed login for another forwarded client:
// 401 when they have separate buckets, 429 when they share the proxy's.
func TestThrottleUsesGinClientIP(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	for _, tc := range []struct {
		name        string
		gin         func(*gin.Engine) // the application's proxy setting; nil: gin's default
		jwtauth     []netip.Prefix    // Config.TrustedProxies
		wantSecond  int               // the other client's failed login
		onGinsGroup bool
	}{
		{"gin trusts the proxy", func(e *gin.Engine) { require.NoError(t, e.SetTrustedProxies([]string{"127.0.0.1"})) }, nil, http.StatusUnauthorized, false},
		{"gin trusts the proxy, on a group", func(e *gin.Engine) { require.NoError(t, e.SetTrustedProxies([]string{"127.0.0.1"})) }, nil, http.StatusUnauthorized, true},
		{"gin trusts no proxy", func(e *gin.Engine) { require.NoError(t, e.SetTrustedProxies(nil)) }, nil, http.StatusTooManyRequests, false},
		// gin's default trusts every peer (its "You trusted all proxies"
		// warning): a forged X-Forwarded-For would pick any bucket, so the
		// connection's address counts until the application sets gin's.
		{"gin's default trusts everyone", nil, nil, http.StatusTooManyRequests, false},
		{"jwtauth's rule wins: it trusts no one gin trusts", func(e *gin.Engine) { require.NoError(t, e.SetTrustedProxies([]string{"127.0.0.1"})) },
			[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, http.StatusTooManyRequests, false},
		{"jwtauth's rule wins: it trusts the proxy gin does not", func(e *gin.Engine) { require.NoError(t, e.SetTrustedProxies(nil)) },
			loopback, http.StatusUnauthorized, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := jwtauth.New(t.Context(), jwtauth.Config{
				Store: memory.New(), Issuer: "https://app.example.test/auth",
				GenerateKey: keystest.Generator(t), Logger: slog.New(slog.DiscardHandler),
				TrustedProxies: tc.jwtauth,
				Throttle:       account.LoginThrottle{IPFailures: 2, UserFailures: -1},
			})
			require.NoError(t, err)
			t.Cleanup(svc.Close)
			e := gin.New()
			if tc.gin != nil {
				tc.gin(e)
			}
			var into gin.IRouter = e
			if tc.onGinsGroup {
				into = e.Group("/auth")
			}
			require.NoError(t, jwtgin.MountService(into, svc))
			login := func(client string) *httptest.ResponseRecorder {
				r := httptest.NewRequest(http.MethodPost, "/auth/login", strings.NewReader(`{"username":"nobody","password":"wrong password"}`))
				r.Header.Set("Content-Type", "application/json")
				r.RemoteAddr = "127.0.0.1:40000"
				r.Header.Set("X-Forwarded-For", client)
				w := httptest.NewRecorder()
				e.ServeHTTP(w, r)
				return w
			}
			for i := range 2 {
				require.Equal(t, http.StatusUnauthorized, login("203.0.113.1").Code, "failed login %d of the first client", i+1)
			}
			require.Equal(t, http.StatusTooManyRequests, login("203.0.113.1").Code, "the first client's budget is spent")
			w := login("203.0.113.2")
			assert.Equal(t, tc.wantSecond, w.Code, w.Body.String())
		})
	}
}
