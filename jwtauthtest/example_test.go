package jwtauthtest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gin-gonic/gin"
	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/jwtauthtest"
)

// An application tests its gin route for role "admin", protected by the
// remote verifier, against the test issuer: a valid token gets 200, one
// without the role 403, an expired one 401.
func Example() {
	srv := jwtauthtest.NewServer(nil) // in a test: NewServer(t), closed when t ends
	defer srv.Close()

	// The application's wiring, pointed at the test issuer.
	v, ks, err := remote.NewVerifier(context.Background(),
		remote.Config{Issuer: srv.URL},
		token.VerifierConfig{Audience: []string{srv.URL}, Now: srv.Now})
	if err != nil {
		panic(err) // in a test: t.Fatal(err)
	}
	defer ks.Close()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.GET("/admin", jwtgin.Middleware(&authn.Authenticator{Verifier: v}, authn.RequireRoles("admin")),
		func(c *gin.Context) {
			claims, _ := jwtgin.ClaimsFromContext(c)
			c.String(http.StatusOK, "hello "+claims.Subject)
		})

	for _, tok := range []jwtauthtest.Token{
		{Subject: "alice", Roles: []string{"admin"}},
		{Subject: "bob", Roles: []string{"viewer"}},
		{Subject: "alice", Roles: []string{"admin"}, ExpiresAt: srv.Now().Add(-time.Minute)},
	} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/admin", nil)
		req.Header.Set("Authorization", "Bearer "+srv.Mint(tok))
		r.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 200 hello alice
	// 403 {"error":"insufficient_scope","error_description":"the token lacks a required role"}
	// 401 {"error":"invalid_token","error_description":"the token has expired"}
}

// With net/http and no network: Server.Verifier checks tokens against the
// server's keys and clock, and Advance lets a token expire.
func ExampleServer_Advance() {
	srv := jwtauthtest.NewServer(nil) // in a test: NewServer(t)
	defer srv.Close()
	orders := nethttp.Middleware(&authn.Authenticator{Verifier: srv.Verifier()})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, _ := token.ClaimsFromContext(r.Context())
			fmt.Fprint(w, "orders of ", claims.Subject)
		}))

	raw := srv.Mint(jwtauthtest.Token{Subject: "alice"}) // valid for 15 min
	for _, wait := range []time.Duration{0, 16 * time.Minute} {
		srv.Advance(wait)
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/orders", nil)
		req.Header.Set("Authorization", "Bearer "+raw)
		orders.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 200 orders of alice
	// 401 {"error":"invalid_token","error_description":"the token has expired"}
}

// A handler unit test without middleware: Claims gives the verified claims
// of a token, private claims included, to put in the request's context.
func ExampleServer_Claims() {
	srv := jwtauthtest.NewServer(nil) // in a test: NewServer(t)
	defer srv.Close()
	me := func(w http.ResponseWriter, r *http.Request) {
		claims, _ := token.ClaimsFromContext(r.Context())
		var tenant int
		_ = claims.Decode("tenant", &tenant)
		fmt.Fprintln(w, claims.Subject, claims.Groups(), claims.Scopes(), tenant)
	}

	claims := srv.Claims(jwtauthtest.Token{Subject: "alice", Groups: []string{"ops"},
		Scopes: []string{"orders:read"}, Claims: map[string]any{"tenant": 7}})
	req := httptest.NewRequest(http.MethodGet, "/me", nil)
	req = req.WithContext(token.ContextWithClaims(req.Context(), claims))
	w := httptest.NewRecorder()
	me(w, req)
	fmt.Print(w.Body.String())
	// Output:
	// alice [ops] [orders:read] 7
}

// An application tests its handler behind an Authenticator with DPoP
// (RFC 9449): a token bound to the client's key passes with a fresh proof
// by that key, and is refused as a Bearer token or with a replayed proof.
// The key and DPoPVerifier follow the server's clock, so proofs stay
// fresh after Advance.
func ExampleDPoPKey() {
	srv := jwtauthtest.NewServer(nil) // in a test: NewServer(t)
	defer srv.Close()
	auth := &authn.Authenticator{Verifier: srv.Verifier(),
		DPoP: &authn.DPoPConfig{Verifier: srv.DPoPVerifier()}}
	orders := nethttp.Middleware(auth)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := token.ClaimsFromContext(r.Context())
		fmt.Fprint(w, "orders of ", claims.Subject)
	}))
	send := func(req *http.Request) {
		w := httptest.NewRecorder()
		orders.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Body.String())
		if ch := w.Header().Get("WWW-Authenticate"); ch != "" {
			fmt.Println("  WWW-Authenticate:", ch)
		}
	}

	key := srv.NewDPoPKey()
	tok := srv.MintBound(jwtauthtest.Token{Subject: "alice"}, key)
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	key.Authorize(req, tok) // Authorization: DPoP <tok>, DPoP: <proof>
	send(req)
	send(req) // the same proof again

	bearer := httptest.NewRequest(http.MethodGet, "/orders", nil)
	bearer.Header.Set("Authorization", "Bearer "+tok)
	send(bearer)

	srv.Advance(10 * time.Minute) // the token is still valid; proofs are made at the new time
	req = httptest.NewRequest(http.MethodGet, "/orders", nil)
	key.Authorize(req, tok)
	send(req)
	// Output:
	// 200 orders of alice
	// 401 {"error":"invalid_dpop_proof","error_description":"the DPoP proof is not valid: jti already used (replay)"}
	//   WWW-Authenticate: DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"
	// 401 {"error":"invalid_token","error_description":"a DPoP-bound token needs Authorization: DPoP and a proof"}
	//   WWW-Authenticate: DPoP error="invalid_token", algs="ES256 EdDSA", error_description="a DPoP-bound token needs Authorization: DPoP and a proof"
	// 200 orders of alice
}
