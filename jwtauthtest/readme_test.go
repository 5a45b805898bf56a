package jwtauthtest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/jwtauthtest"
)

// docs/testing.md's first snippet, TestAdmin, verbatim (examples/readme's
// TestREADMESnippetsVerbatim checks that the page still quotes this file).

func init() { gin.SetMode(gin.TestMode) }

func admin(c *gin.Context) { c.String(http.StatusOK, "admin") }

func TestAdmin(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	v, ks, err := remote.NewVerifier(t.Context(),
		remote.Config{Issuer: srv.URL},
		token.VerifierConfig{Audience: []string{srv.URL}, Now: srv.Now}) // expiry follows srv's clock
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	r := gin.New()
	r.GET("/admin", jwtgin.Middleware(&authn.Authenticator{Verifier: v}, authn.RequireRoles("admin")), admin)

	for _, tc := range []struct {
		tok  jwtauthtest.Token
		want int
	}{
		{jwtauthtest.Token{Subject: "alice", Roles: []string{"admin"}}, http.StatusOK},
		{jwtauthtest.Token{Subject: "bob"}, http.StatusForbidden},
		{jwtauthtest.Token{Roles: []string{"admin"}, ExpiresAt: srv.Now().Add(-time.Minute)}, http.StatusUnauthorized},
		{jwtauthtest.Token{Roles: []string{"admin"}, Audience: []string{"https://other.example"}}, http.StatusUnauthorized},
		{jwtauthtest.Token{Roles: []string{"admin"}, Unpublished: true}, http.StatusUnauthorized},
	} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/admin", nil)
		req.Header.Set("Authorization", "Bearer "+srv.Mint(tc.tok))
		r.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%+v: got %d, want %d", tc.tok, w.Code, tc.want)
		}
	}
}
