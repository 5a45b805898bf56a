// Command gin: a gin app with jwtauth under /auth; roles from a claims hook (EXAMPLE_ADMINS).
// With --demo (JWTAUTH_DEMO=1): cookie mode and the browser demo page at /demo/.
package main

import (
	"cmp"
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/demo"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

func main() {
	addr := flag.String("addr", cmp.Or(os.Getenv("JWTAUTH_ADDR"), "127.0.0.1:8080"), "listen address")
	db := flag.String("store", cmp.Or(os.Getenv("JWTAUTH_STORE"), "sqlite:./example.db"), "sqlite:PATH")
	withDemo := flag.Bool("demo", os.Getenv("JWTAUTH_DEMO") == "1", "cookie mode and the browser demo page at /demo/")
	flag.Parse()
	store, err := sqlite.Open(context.Background(), strings.TrimPrefix(*db, "sqlite:"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	svc, err := jwtauth.New(context.Background(), jwtauth.Config{Store: store, Claims: roles, ClaimNames: []string{"roles"},
		Issuer:  cmp.Or(os.Getenv("JWTAUTH_ISSUER"), "http://"+*addr+"/auth"),
		Cookies: jwtauth.CookieMode{Enabled: *withDemo}}) // refresh token in an HttpOnly cookie
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	log.Print(http.ListenAndServe(*addr, newApp(svc, *withDemo)))
}

func newApp(svc *jwtauth.Service, withDemo bool) *gin.Engine {
	r := gin.New()
	if err := jwtgin.MountService(r, svc); err != nil {
		log.Fatal(err)
	}
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/api/me", jwtgin.Middleware(svc.Authenticator()), func(c *gin.Context) {
		claims, _ := jwtgin.ClaimsFromContext(c)
		c.JSON(http.StatusOK, gin.H{"sub": claims.Subject, "roles": claims.Roles()})
	})
	r.GET("/api/admin", jwtgin.Middleware(svc.Authenticator(), authn.RequireRoles("admin")), func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"message": "welcome, admin"})
	})
	if withDemo { // the page of package demo, calling /auth/… and /api/me
		r.GET("/demo/*file", gin.WrapH(demo.Handler(demo.Config{AuthPath: svc.MountPath(), Protected: "/api/me"})))
	}
	return r
}

// roles is the claims hook, called at every login and refresh. EXAMPLE_ADMINS grants admin by
// username, so the first to register such a name (/auth/register is open) is an admin: safe only
// where those names are reserved or registration is closed. In your app, read roles from data
// only it writes, e.g. a role column of its users table (adapters/sqlite Example_ownUsersTable).
func roles(_ context.Context, username string) (map[string]any, error) {
	if slices.Contains(strings.Split(os.Getenv("EXAMPLE_ADMINS"), ","), username) {
		return map[string]any{"roles": []string{"user", "admin"}}, nil
	}
	return map[string]any{"roles": []string{"user"}}, nil
}
