package remote_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// startIssuer stands in for a running `jwtauth serve`: an issuer whose JWKS
// and discovery documents are served at its URL. It returns the URL and a
// function that issues a token for a subject.
func startIssuer() (url string, issue func(sub string) string, stop func()) {
	mgr, err := keys.Open(context.Background(), keys.Config{Store: memory.New(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	disc, err := jwtauth.NewDiscoveryHandler(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("GET /.well-known/jwks.json", jwtauth.NewJWKSHandler(mgr, 5*time.Minute))
	mux.Handle("GET /.well-known/openid-configuration", disc)
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: mgr, Issuer: srv.URL, Audience: []string{"https://api.example.com"}})
	if err != nil {
		log.Fatal(err)
	}
	return srv.URL, func(sub string) string {
		tok, err := iss.Issue(context.Background(), sub)
		if err != nil {
			log.Fatal(err)
		}
		return tok.Raw
	}, srv.Close
}

// A resource service trusts the tokens of a remote issuer: it discovers the
// issuer's JWKS and verifies tokens against it, refreshing in the background.
func ExampleNewKeySet() {
	issuerURL, issue, stop := startIssuer()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the background refresh

	ks, err := remote.NewKeySet(ctx, remote.Config{Issuer: issuerURL})
	if err != nil {
		log.Fatal(err) // the issuer could not be reached or served no usable key set
	}
	v, err := token.NewVerifier(token.VerifierConfig{
		Keys:     ks,
		Issuer:   issuerURL,
		Audience: []string{"https://api.example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	claims, err := v.Verify(ctx, issue("alice"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject)
	// Output: alice
}

// A net/http resource service: NewVerifier wires the remote key set and
// the verifier in one call, and authn.Authenticator's Middleware protects a
// handler with it.
func ExampleNewVerifier() {
	issuerURL, issue, stop := startIssuer()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	v, ks, err := remote.NewVerifier(ctx,
		remote.Config{Issuer: issuerURL},
		token.VerifierConfig{Audience: []string{"https://api.example.com"}}) // iss defaults to the issuer URL
	if err != nil {
		log.Fatal(err)
	}
	defer ks.Close()

	auth := &authn.Authenticator{Verifier: v, Realm: "api"}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := token.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", c.Subject)
	})
	api := httptest.NewServer(auth.Middleware()(hello))
	defer api.Close()

	for _, tok := range []string{issue("alice"), "not-a-token"} {
		req, _ := http.NewRequest(http.MethodGet, api.URL, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Println(res.StatusCode, strings.SplitN(string(body), ",", 2)[0])
	}
	// Output:
	// 200 hello alice
	// 401 {"error":"invalid_token"
}
