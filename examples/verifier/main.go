// Command verifier only verifies tokens of -issuer: GET /orders needs scope orders:read.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

func main() {
	issuer := flag.String("issuer", os.Getenv("JWTAUTH_ISSUER"), "issuer URL (env JWTAUTH_ISSUER)")
	audience := flag.String("audience", os.Getenv("JWTAUTH_AUDIENCE"), "accepted aud, default the issuer (env JWTAUTH_AUDIENCE)")
	flag.Parse()
	app, err := newApp(context.Background(), *issuer, *audience)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8081"), app))
}

func newApp(ctx context.Context, issuer, audience string) (http.Handler, error) {
	v, _, err := remote.NewVerifier(ctx, remote.Config{Issuer: issuer}, token.VerifierConfig{Audience: []string{cmp.Or(audience, issuer)}})
	if err != nil {
		return nil, err
	}
	auth, mux := &authn.Authenticator{Verifier: v}, http.NewServeMux()
	mux.Handle("GET /orders", auth.Middleware(authn.RequireScopes("orders:read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := token.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "orders of %s\n", c.Subject)
	})))
	return mux, nil
}
