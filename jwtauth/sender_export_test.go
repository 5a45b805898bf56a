package jwtauth

import (
	"net/http"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

// WithSenderCheck returns cfg with the cookie mode's sender check set to f
// (see cookieMode.authorizeRedemption), for the tests of that seam.
func WithSenderCheck(cfg RoutesConfig, f func(r *http.Request, token string, fromCookie bool) *authn.Error) RoutesConfig {
	cfg.senderCheck = f
	return cfg
}
