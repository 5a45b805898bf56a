package nethttp_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys"
)

// ExampleMount wires a complete auth server on a net/http mux: the endpoints
// of jwtauth.Routes next to the application's own, which sit behind the same
// middleware and read the verified claims from the request's context.
func ExampleMount() {
	ctx := context.Background()
	store := memory.New() // adapters/sqlite or adapters/postgres in production

	km, err := keys.Open(ctx, keys.Config{Store: store}) // creates the first keys
	if err != nil {
		log.Fatal(err)
	}
	go km.Run(ctx, 0) // scheduled rotation

	const issuer = "https://auth.example.com"
	audience := []string{"https://api.example.com"}
	iss, err := jwtauth.NewIssuer(jwtauth.IssuerConfig{Keys: km, Issuer: issuer, Audience: audience})
	if err != nil {
		log.Fatal(err)
	}
	ver, err := jwtauth.NewVerifier(jwtauth.VerifierConfig{Keys: km, Issuer: issuer, Audience: audience})
	if err != nil {
		log.Fatal(err)
	}
	accounts, err := jwtauth.NewAccounts(jwtauth.AccountsConfig{Users: store, RefreshTokens: store, Issuer: iss})
	if err != nil {
		log.Fatal(err)
	}
	discovery, err := jwtauth.NewDiscoveryHandler(issuer)
	if err != nil {
		log.Fatal(err)
	}
	auth := &jwtauth.Authenticator{Verifier: ver, Realm: "example"}

	mux := http.NewServeMux()
	nethttp.Mount(mux, jwtauth.Routes(jwtauth.RoutesConfig{
		Accounts:  accounts,
		JWKS:      jwtauth.NewJWKSHandler(km, 5*time.Minute),
		Discovery: discovery,
		Health:    store.Ping,
	}), auth)

	// The application's own endpoint, behind the same middleware.
	mux.Handle("GET /api/me", nethttp.Middleware(auth)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := jwtauth.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s\n", claims.Subject)
	})))

	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

// ExampleHandler serves only the jwtauth endpoints, with JSON 404 and 405
// answers for everything else.
func ExampleHandler() {
	var (
		routes []jwtauth.Route        // jwtauth.Routes(…), as in ExampleMount
		auth   *jwtauth.Authenticator // as in ExampleMount
	)
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: nethttp.Handler(routes, auth), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
