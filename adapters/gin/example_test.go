package gin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// ExampleMount wires a complete auth server into a gin application: the
// endpoints of jwtauth.Routes under /auth next to the application's own
// routes, which sit behind the same middleware and read the verified claims
// from the gin.Context.
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

	r := gin.New() // gin.Default() also logs every request
	r.Use(gin.Recovery())
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

	// In production: log.Fatal(r.Run(":8080")). Here the
	// application's route answers a request without a token.
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/me", nil))
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
	// Output:
	// 401 Bearer realm="example"
}

// ExampleMountService mounts the whole service jwtauth.New builds under the
// path of its issuer URL, beside the application's own routes.
func ExampleMountService() {
	ctx := context.Background()
	store := memory.New() // adapters/sqlite or adapters/postgres in production
	svc, err := jwtauth.New(ctx, jwtauth.Config{Store: store, Issuer: "https://app.example.com/auth"})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	r := gin.New()
	if err := jwtgin.MountService(r, svc); err != nil {
		log.Fatal(err)
	}
	r.GET("/api/me", jwtgin.Middleware(svc.Authenticator()), func(c *gin.Context) {
		claims, _ := jwtgin.ClaimsFromContext(c)
		c.JSON(http.StatusOK, gin.H{"sub": claims.Subject})
	})

	// In production: log.Fatal(r.Run(":8080")). Here a test server, and a
	// client registering, logging in and calling /api/me.
	srv := httptest.NewServer(r)
	defer srv.Close()
	const creds = `{"username":"alice","password":"correct horse battery"}`
	for _, path := range []string{"/auth/register", "/auth/login"} {
		res, err := http.Post(srv.URL+path, "application/json", strings.NewReader(creds))
		if err != nil {
			log.Fatal(err)
		}
		var tok account.TokenResponse
		_ = json.NewDecoder(res.Body).Decode(&tok)
		res.Body.Close()
		fmt.Println(path+":", res.Status)
		if tok.AccessToken != "" {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/me", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				log.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			fmt.Println("/api/me:", res.Status, string(body))
		}
	}
	// Output:
	// /auth/register: 201 Created
	// /auth/login: 200 OK
	// /api/me: 200 OK {"sub":"alice"}
}

// ExampleNew serves only the jwtauth endpoints on a gin.Engine, with JSON 404
// and 405 answers for everything else.
func ExampleNew() {
	var (
		routes []jwtauth.Route      // jwtauth.Routes(…), as in ExampleMount
		auth   *authn.Authenticator // as in ExampleMount
	)
	engine := jwtgin.New(routes, auth)
	// In production: log.Fatal(engine.Run(":8080")). Here the engine
	// answers a request directly.
	rec := httptest.NewRecorder()
	engine.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/no-such-endpoint", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 404 {"error":"not_found","error_description":"no such endpoint"}
}
