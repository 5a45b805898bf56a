package jwtauth_test

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

// TestCookieModeSenderCheck: the sender check of cookie mode
// (cookieMode.authorizeRedemption). A refresh token from the cookie that
// comes with a valid DPoP proof must be of a family bound to that proof's
// key: a page holding a key never refreshes a session another origin of
// the host planted in its cookie, bound or not. Every refusal is 400
// invalid_dpop_proof with the DPoP challenge, sets or clears no cookie and
// spends nothing (the token then refreshes as the row says it may). A
// token from the body keeps step 3's rules (an unbound family refreshes
// with any proof), and a cookie without a proof of an unbound family
// refreshes as before (a page without WebCrypto).
func TestCookieModeSenderCheck(t *testing.T) {
	_, h := dpopService(t, jwtauth.Config{Cookies: jwtauth.CookieMode{Enabled: true}})
	const page = "https://app.example.test"
	k, other := newP256(t), newP256(t)
	keys := map[string]*ecdsa.PrivateKey{"k": k, "other": other}

	send := func(path, cookie, body string, proof string, csrf bool) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(http.MethodPost, page+"/auth"+path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: jwtauth.RefreshCookieName, Value: cookie})
		}
		if csrf {
			r.Header.Set(authn.CSRFHeader, "1")
			r.Header.Set("Origin", page)
		}
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	proofBy := func(key string, path string) string {
		if key == "" {
			return ""
		}
		return proofFor(t, keys[key], http.MethodPost, dpopIssuer+path, dpop.ProofOptions{})
	}
	login := func(key string) string { // the refresh cookie of a login with key's proof ("" none)
		t.Helper()
		w := send("/login", "", `{"username":"alice","password":"correct horse battery"}`, proofBy(key, "/login"), false)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		for _, c := range w.Result().Cookies() {
			if c.Name == jwtauth.RefreshCookieName {
				return c.Value
			}
		}
		t.Fatal("no refresh cookie")
		return ""
	}
	tokenType := func(w *httptest.ResponseRecorder) string {
		var b struct {
			TokenType string `json:"token_type"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b))
		return b.TokenType
	}
	const (
		unbound = "not bound to this key"
		bound   = "bound to a DPoP key"
	)

	for _, tc := range []struct {
		family     string // the login's key, "" for an unbound family
		fromCookie bool
		proof      string // the refresh's key, "" for no proof
		refused    string // a part of the description, "" when allowed
		tokenType  string // when allowed
	}{
		{"", true, "", "", "Bearer"},
		{"", true, "k", unbound, ""},
		{"", true, "other", unbound, ""},
		{"k", true, "", bound, ""},
		{"k", true, "k", "", "DPoP"},
		{"k", true, "other", bound, ""},
		{"", false, "", "", "Bearer"},
		{"", false, "k", "", "DPoP"},
		{"k", false, "", bound, ""},
		{"k", false, "k", "", "DPoP"},
		{"k", false, "other", bound, ""},
	} {
		src := "body"
		if tc.fromCookie {
			src = "cookie"
		}
		name := fmt.Sprintf("family bound to %q, token from the %s, proof by %q", tc.family, src, tc.proof)
		t.Run(name, func(t *testing.T) {
			rt := login(tc.family)
			refresh := func(proof string) *httptest.ResponseRecorder {
				if tc.fromCookie {
					return send("/refresh", rt, "", proof, true)
				}
				return send("/refresh", "", `{"refresh_token":"`+rt+`"}`, proof, false)
			}
			w := refresh(proofBy(tc.proof, "/refresh"))
			if tc.refused == "" {
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				assert.Equal(t, tc.tokenType, tokenType(w))
				return
			}
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			assert.Contains(t, w.Body.String(), `"error":"invalid_dpop_proof"`)
			assert.Contains(t, w.Body.String(), tc.refused)
			assert.Equal(t, `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"`, w.Header().Get("WWW-Authenticate"))
			assert.Empty(t, w.Result().Cookies(), "no cookie set or cleared")
			// Nothing was spent: the token refreshes as its family allows.
			w = refresh(proofBy(tc.family, "/refresh"))
			assert.Equal(t, http.StatusOK, w.Code, "the refused token still works: %s", w.Body)
		})
	}

	t.Run("the cookie and the same token in the body count as the cookie", func(t *testing.T) {
		rt := login("")
		w := send("/refresh", rt, `{"refresh_token":"`+rt+`"}`, proofBy("k", "/refresh"), true)
		assert.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), unbound)
	})
	t.Run("the CSRF check comes first", func(t *testing.T) {
		rt := login("k")
		w := send("/refresh", rt, "", proofBy("k", "/refresh"), false)
		assert.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
		w = send("/refresh", rt, "", proofBy("k", "/refresh"), true)
		assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
	})
	t.Run("logout takes no proof", func(t *testing.T) {
		rt := login("k")
		w := send("/logout", rt, "", "", true)
		assert.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
		w = send("/refresh", rt, "", proofBy("k", "/refresh"), true)
		assert.Equal(t, http.StatusUnauthorized, w.Code, "revoked: %s", w.Body)
	})
}

// TestRoutesDPoPConfig: RoutesConfig.DPoP needs a proof verifier and an
// absolute issuer URL, the base of the proofs' htu; Routes panics without
// them, as it does for an invalid CookieMode.
func TestRoutesDPoPConfig(t *testing.T) {
	pv, err := dpop.NewVerifier(dpop.Config{})
	require.NoError(t, err)
	for _, bad := range []*jwtauth.DPoPIssuing{
		{Issuer: testIssuer},
		{Verifier: pv},
		{Verifier: pv, Issuer: "/auth"},
		{Verifier: pv, Issuer: "ftp://auth.example.com"},
	} {
		assert.Panics(t, func() { jwtauth.Routes(jwtauth.RoutesConfig{DPoP: bad}) }, "%+v", bad)
	}
	assert.NotPanics(t, func() {
		jwtauth.Routes(jwtauth.RoutesConfig{DPoP: &jwtauth.DPoPIssuing{Verifier: pv, Issuer: testIssuer + "/"}})
	})
}
