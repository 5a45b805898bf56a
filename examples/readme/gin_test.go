package main

import (
	"context"
	"log"
	"net/http"

	"github.com/gin-gonic/gin"
	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

func main() {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, "./app.db") // users, sessions and the key set
	if err != nil {
		log.Fatal(err)
	}
	svc, err := jwtauth.New(ctx, jwtauth.Config{Store: store, Issuer: "http://127.0.0.1:8080/auth",
		Claims: roles, ClaimNames: []string{"roles"}}) // the claims roles adds, named in discovery
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(newApp(svc).Run("127.0.0.1:8080"))
}

func newApp(svc *jwtauth.Service) *gin.Engine {
	r := gin.Default()
	_ = r.SetTrustedProxies(nil) // no proxy in front: the throttles count the peer's address
	// POST /auth/register, /auth/login, /auth/password, …
	if err := jwtgin.MountService(r, svc); err != nil {
		log.Fatal(err)
	}
	r.GET("/admin", jwtgin.Middleware(svc.Authenticator(), authn.RequireRoles("admin")), func(c *gin.Context) {
		claims, _ := jwtgin.ClaimsFromContext(c)
		c.JSON(http.StatusOK, gin.H{"hello": claims.Subject})
	})
	return r
}

// admins stands for data only your app writes, such as a role column of its users table. A name
// listed here before its owner registers is an admin for whoever registers it first: list names
// that are already registered, or reserved.
var admins = map[string]bool{"alice": true}

// roles is the claims hook, run at every login and refresh: a role change applies at the next refresh.
func roles(ctx context.Context, username string) (map[string]any, error) {
	if admins[username] {
		return map[string]any{"roles": []string{"user", "admin"}}, nil
	}
	return map[string]any{"roles": []string{"user"}}, nil
}
