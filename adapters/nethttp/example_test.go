package nethttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// ExampleMount wires a complete auth server on a net/http mux: the endpoints
// of jwtauth.Routes next to the application's own, which sit behind the same
// middleware and read the verified claims from the request's context.
//
// This is the wiring of the pieces, for a setup of your own; ExampleMountService
// does the same in one call.
func ExampleMount() {
	ctx := context.Background()
	store := memory.New() // adapters/sqlite or adapters/postgres in production

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	km, err := keys.Open(ctx, keys.Config{Store: store}) // creates the first keys
	if err != nil {
		log.Fatal(err)
	}
	go km.Run(ctx, 0) // scheduled rotation, until ctx ends

	const issuer = "https://auth.example.com"
	audience := []string{"https://api.example.com"}
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: km, Issuer: issuer, Audience: audience})
	if err != nil {
		log.Fatal(err)
	}
	ver, err := token.NewVerifier(token.VerifierConfig{Keys: km, Issuer: issuer, Audience: audience})
	if err != nil {
		log.Fatal(err)
	}
	accounts, err := account.New(account.Config{Users: store, RefreshTokens: store, Issuer: iss})
	if err != nil {
		log.Fatal(err)
	}
	discovery, err := jwtauth.NewDiscoveryHandler(issuer)
	if err != nil {
		log.Fatal(err)
	}
	auth := &authn.Authenticator{Verifier: ver, Realm: "example"}

	mux := http.NewServeMux()
	nethttp.Mount(mux, jwtauth.Routes(jwtauth.RoutesConfig{
		Accounts:  accounts,
		JWKS:      jwtauth.NewJWKSHandler(km, 5*time.Minute),
		Discovery: discovery,
		Health:    store.Ping,
	}), auth)

	// The application's own endpoint, behind the same middleware.
	mux.Handle("GET /api/me", nethttp.Middleware(auth)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := token.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s\n", claims.Subject)
	})))

	// In production: log.Fatal(http.ListenAndServe(":8080", mux)). Here the
	// application's route answers a request without a token.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/me", nil))
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
	// Output:
	// 401 Bearer realm="example"
}

// ExampleHandler serves only the jwtauth endpoints, with JSON 404 and 405
// answers for everything else.
func ExampleHandler() {
	var (
		routes []jwtauth.Route      // jwtauth.Routes(…), as in ExampleMount
		auth   *authn.Authenticator // as in ExampleMount
	)
	srv := &http.Server{Addr: ":8080", Handler: nethttp.Handler(routes, auth), ReadHeaderTimeout: 10 * time.Second}
	// In production: log.Fatal(srv.ListenAndServe()). Here the handler
	// answers a request directly.
	rec := httptest.NewRecorder()
	srv.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/no-such-endpoint", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 404 {"error":"not_found","error_description":"no such endpoint"}
}

// ExampleMountService mounts the whole service jwtauth.New builds under the
// path of its issuer URL on the application's mux.
func ExampleMountService() {
	ctx := context.Background()
	store := memory.New() // adapters/sqlite or adapters/postgres in production
	svc, err := jwtauth.New(ctx, jwtauth.Config{Store: store, Issuer: "https://app.example.com/auth"})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	mux := http.NewServeMux()
	nethttp.MountService(mux, svc)
	mux.Handle("GET /api/me", nethttp.Middleware(svc.Authenticator())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := token.ClaimsFromContext(r.Context())
		fmt.Fprintln(w, "hello", claims.Subject)
	})))

	// In production: an http.Server with mux as its Handler. Here the
	// discovery document, under the issuer's path.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/auth/.well-known/openid-configuration", nil))
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &doc)
	fmt.Println(rec.Code, doc.JWKSURI)
	// Output:
	// 200 https://app.example.com/auth/.well-known/jwks.json
}
