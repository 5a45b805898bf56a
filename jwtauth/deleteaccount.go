package jwtauth

import (
	"net/http"
	"net/netip"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// opDeleteAccount is the metrics operation of DELETE /account.
const opDeleteAccount = "delete_account"

// deleteAccountHandler serves DELETE /account (SPEC §2), behind the
// authentication middleware (Route.Protected): the body's password goes
// with the access token's sub to Accounts.DeleteAccount, with the ClientIP
// for the throttle; 204 on success. A token of a user deleted since is
// answered 401 invalid_credentials, as a wrong password. In cookie mode a
// request carrying the access cookie must pass the CSRF check (403
// csrf_check_failed before the body is read), and a success clears the
// session cookies.
func deleteAccountHandler(a *account.Accounts, trusted []netip.Prefix, cm *cookieMode) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := token.ClaimsFromContext(r.Context())
		if !ok || c.Subject == "" {
			WriteError(w, &authn.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "not authenticated"})
			return
		}
		if cm != nil && cm.access != "" && len(cookieValues(r, cm.access)) > 0 {
			if err := authn.CheckCSRF(r, cm.origin); err != nil {
				e := authn.CSRFRefusal(err)
				a.Refused(opDeleteAccount, refusal(e))
				WriteError(w, e)
				return
			}
		}
		in, e := decodeFields(w, r, "password")
		if e != nil {
			a.Refused(opDeleteAccount, refusal(e))
			WriteError(w, e)
			return
		}
		ctx := account.ContextWithClient(r.Context(), ClientIP(r, trusted))
		if err := a.DeleteAccount(ctx, c.Subject, in["password"]); err != nil {
			WriteError(w, err)
			return
		}
		if cm != nil {
			cm.setSession(w, r, nil, a.Now()) // the sessions are gone: so are their cookies
		}
		noStore(w.Header())
		w.WriteHeader(http.StatusNoContent)
	})
}
