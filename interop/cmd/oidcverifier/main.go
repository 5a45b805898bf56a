// Command oidcverifier is the yardstick of examples/verifier (issue 21): the
// same verify-only service on coreos/go-oidc (oidc.NewProvider, Verifier,
// Verify), built by TestVerifierBinarySizes to compare binary sizes.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

func main() {
	issuer := flag.String("issuer", os.Getenv("JWTAUTH_ISSUER"), "issuer URL (env JWTAUTH_ISSUER)")
	audience := flag.String("audience", os.Getenv("JWTAUTH_AUDIENCE"), "accepted aud, default the issuer (env JWTAUTH_AUDIENCE)")
	flag.Parse()
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, *issuer)
	if err != nil {
		log.Fatal(err)
	}
	v := p.Verifier(&oidc.Config{ClientID: cmp.Or(*audience, *issuer), SupportedSigningAlgs: []string{oidc.RS256}})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok, err := v.Verify(r.Context(), raw)
		var c struct {
			Scope string `json:"scope"`
		}
		if !ok || err != nil || tok.Claims(&c) != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if !slices.Contains(strings.Fields(c.Scope), "orders:read") {
			http.Error(w, "insufficient_scope", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "orders of %s\n", tok.Subject)
	})
	log.Fatal(http.ListenAndServe(cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8081"), mux))
}
