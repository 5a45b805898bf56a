package gin_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys"
)

// ExampleMount wires a complete auth server into a gin application: the
// endpoints of jwtauth.Routes under /auth next to the application's own
// routes, which sit behind the same middleware and read the verified claims
// from the gin.Context.
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

	r := gin.Default()
	jwtgin.Mount(r.Group("/auth"), jwtauth.Routes(jwtauth.RoutesConfig{
		Accounts:  accounts,
		JWKS:      jwtauth.NewJWKSHandler(km, 5*time.Minute),
		Discovery: discovery,
		Health:    store.Ping,
	}), auth)

	// The application's own routes, behind the same middleware.
	api := r.Group("/api", jwtgin.Middleware(auth))
	api.GET("/me", func(c *gin.Context) {
		claims, _ := jwtgin.ClaimsFromContext(c)
		c.JSON(http.StatusOK, gin.H{"user": claims.Subject})
	})

	log.Fatal(r.Run("127.0.0.1:8080"))
}

// ExampleNew serves only the jwtauth endpoints on a gin.Engine, with JSON 404
// and 405 answers for everything else.
func ExampleNew() {
	var (
		routes []jwtauth.Route        // jwtauth.Routes(…), as in ExampleMount
		auth   *jwtauth.Authenticator // as in ExampleMount
	)
	log.Fatal(jwtgin.New(routes, auth).Run("127.0.0.1:8080"))
}
