package jwtauth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// TestCookieModeSenderCheckSeam: in cookie mode every redemption of a
// refresh token at /refresh and /logout, from the cookie or from the body,
// passes through one check (the seam a DPoP sender constraint will fill,
// see cookieMode.authorizeRedemption), after the CSRF check and before
// anything is spent: a refusal is answered as the check says, the token
// still works afterwards, and a forgery refused 403 never reaches it.
func TestCookieModeSenderCheckSeam(t *testing.T) {
	store := memory.New()
	m, err := keys.Open(t.Context(), keys.Config{Store: store, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: m, Issuer: testIssuer, Audience: []string{testAudience}})
	require.NoError(t, err)
	acc, err := account.New(account.Config{Users: store, RefreshTokens: store, Issuer: iss, Argon2: fastArgon, Logger: quiet})
	require.NoError(t, err)
	disc, err := jwtauth.NewDiscoveryHandler(testIssuer)
	require.NoError(t, err)

	type call struct {
		token      string
		fromCookie bool
	}
	var mu sync.Mutex
	var calls []call
	refuse := true
	check := func(r *http.Request, token string, fromCookie bool) *authn.Error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{token, fromCookie})
		if refuse {
			return &authn.Error{Status: http.StatusBadRequest, Code: "invalid_dpop_proof", Description: "no proof of the key the token is bound to"}
		}
		return nil
	}
	mux := http.NewServeMux()
	for _, rt := range jwtauth.Routes(jwtauth.WithSenderCheck(jwtauth.RoutesConfig{Accounts: acc, JWKS: jwtauth.NewJWKSHandler(m, time.Minute),
		Discovery: disc, Cookies: jwtauth.CookieMode{Enabled: true, Origin: testIssuer}}, check)) {
		mux.Handle(rt.Method+" "+rt.Path, rt.Handler)
	}
	require.NoError(t, acc.Register(t.Context(), "alice", "correct horse battery"))
	login, err := acc.Login(t.Context(), "alice", "correct horse battery")
	require.NoError(t, err)
	token := login.RefreshToken

	send := func(path, cookie, csrf, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(body))
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: jwtauth.RefreshCookieName, Value: cookie})
		}
		if csrf != "" {
			req.Header.Set(authn.CSRFHeader, csrf)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	taken := func() []call {
		mu.Lock()
		defer mu.Unlock()
		c := calls
		calls = nil
		return c
	}
	jsonBody := `{"refresh_token":"` + token + `"}`

	for _, tc := range []struct {
		name               string
		path, cookie, body string
		fromCookie         bool
	}{
		{"refresh from the cookie", "/refresh", token, "", true},
		{"refresh from the body", "/refresh", "", jsonBody, false},
		{"refresh from both", "/refresh", token, jsonBody, true},
		{"logout from the cookie", "/logout", token, "", true},
		{"logout from the body", "/logout", "", jsonBody, false},
	} {
		csrf := ""
		if tc.cookie != "" {
			csrf = "1"
		}
		rec := send(tc.path, tc.cookie, csrf, tc.body)
		assert.Equal(t, http.StatusBadRequest, rec.Code, "%s: %s", tc.name, rec.Body)
		assert.Contains(t, rec.Body.String(), `"invalid_dpop_proof"`, tc.name)
		assert.Empty(t, rec.Result().Cookies(), "%s: no cookie set or cleared", tc.name)
		assert.Equal(t, []call{{token, tc.fromCookie}}, taken(), tc.name)
	}

	// A forgery (the cookie without the CSRF header) is refused before it.
	rec := send("/refresh", token, "", "")
	assert.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
	assert.Empty(t, taken(), "the CSRF check comes first")

	// Nothing was spent or revoked: allowed, the token refreshes.
	mu.Lock()
	refuse = false
	mu.Unlock()
	rec = send("/refresh", token, "1", "")
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, []call{{token, true}}, taken())
}
