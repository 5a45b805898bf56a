// Command nethttp: a net/http app with jwtauth under /auth; roles from a claims hook (EXAMPLE_ADMINS).
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

func main() {
	addr := flag.String("addr", cmp.Or(os.Getenv("JWTAUTH_ADDR"), "127.0.0.1:8080"), "listen address")
	db := flag.String("store", cmp.Or(os.Getenv("JWTAUTH_STORE"), "sqlite:./example.db"), "sqlite:PATH")
	flag.Parse()
	store, err := sqlite.Open(context.Background(), strings.TrimPrefix(*db, "sqlite:"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	svc, err := jwtauth.New(context.Background(), jwtauth.Config{Store: store, Claims: roles, ClaimNames: []string{"roles"},
		Issuer: cmp.Or(os.Getenv("JWTAUTH_ISSUER"), "http://"+*addr+"/auth")})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	log.Print(http.ListenAndServe(*addr, newApp(svc)))
}

func newApp(svc *jwtauth.Service) *http.ServeMux {
	mux := http.NewServeMux()
	nethttp.MountService(mux, svc)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { reply(w, map[string]string{"status": "ok"}) })
	mux.Handle("GET /api/me", nethttp.Middleware(svc.Authenticator())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := token.ClaimsFromContext(r.Context())
		reply(w, map[string]any{"sub": claims.Subject, "roles": claims.Roles()})
	})))
	mux.Handle("GET /api/admin", nethttp.Middleware(svc.Authenticator(), authn.RequireRoles("admin"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reply(w, map[string]string{"message": "welcome, admin"}) })))
	return mux
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
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
