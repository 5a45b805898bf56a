package jwtauthtest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauthtest"
)

// The README's "Testing your handlers" snippet, verbatim but for its name.

func init() { gin.SetMode(gin.TestMode) }

func admin(c *gin.Context) { c.String(http.StatusOK, "admin") }

func TestREADMEGinRoute(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	v, ks, err := jwtauth.NewRemoteVerifier(t.Context(),
		jwtauth.RemoteConfig{Issuer: srv.URL},
		jwtauth.VerifierConfig{Audience: []string{srv.URL}, Now: srv.Now}) // expiry follows srv's clock
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	r := gin.New()
	r.GET("/admin", jwtgin.Middleware(&jwtauth.Authenticator{Verifier: v}, jwtauth.RequireRoles("admin")), admin)

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
