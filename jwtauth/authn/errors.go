package authn

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Error is an API error with its HTTP status and OAuth 2.0 style code
// (RFC 6749 §5.2); it is written as {"error":Code,"error_description":Description}.
type Error struct {
	// Status is the HTTP status code (RFC 9110 §15), e.g. 400, 401, 429.
	Status int
	// Code is the machine-readable error code, e.g. "invalid_request",
	// "invalid_grant", "invalid_token" (RFC 6749 §5.2, RFC 6750 §3.1).
	Code string
	// Description is the human-readable error_description; never a secret.
	Description string
	// RetryAfter, when positive, is sent as a Retry-After header (RFC 9110
	// §10.2.3), rounded up to whole seconds.
	RetryAfter time.Duration
}

// Error returns "code: description".
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Description) }

// WriteError writes e as it is: status e.Status, the JSON body
// {"error":Code,"error_description":Description} with Content-Type
// application/json, Cache-Control: no-store, X-Content-Type-Options:
// nosniff, and Retry-After in whole seconds (rounded up) when e.RetryAfter
// is positive (RFC 9110 §10.2.3). The middleware answers with it;
// jwtauth.WriteError maps any error to an *Error and then writes it here.
func WriteError(w http.ResponseWriter, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	b, err := json.Marshal(map[string]string{"error": e.Code, "error_description": e.Description})
	status := e.Status
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error","error_description":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// CSRFHeader is the request header a browser page must send, with any
// non-empty value (the demo page sends "1"), on every state-changing
// request that a cookie authenticates: /refresh and /logout with the
// jwtauth.RefreshCookieName cookie, and the application's POST, PUT, PATCH and
// DELETE routes when the access token comes from a CookieSource. A
// cross-site HTML form cannot send a custom header, and a cross-origin
// fetch that sends one needs a CORS preflight, which jwtauth never grants
// (OWASP CSRF Prevention Cheat Sheet, "Employing Custom Request Headers for
// AJAX/API"). The Origin and Sec-Fetch-Site headers are checked as well
// when the browser sends them (see jwtauth.CookieMode.Origin).
const CSRFHeader = "X-CSRF-Protection"

// ErrCrossSite is returned (wrapped, with the reason) by
// Authenticator.Authenticate for a state-changing request whose access
// token came from a cookie but which lacks the CSRFHeader or comes from
// another origin; Challenge answers it with 403 csrf_check_failed.
var ErrCrossSite = errors.New("jwtauth: cross-site request refused")

// CheckCSRF applies the CSRF check of CSRFHeader to r (Authenticator applies
// it to a state-changing request whose token came from a cookie): the custom header
// is required; Sec-Fetch-Site (Fetch Metadata), when sent, must be
// same-origin; Origin, when sent, must be origin (if set) or the origin of
// r itself (its Host, with https when it came over TLS, else http). It returns an error wrapping ErrCrossSite naming the
// failed rule, nil when r passes.
func CheckCSRF(r *http.Request, origin string) error {
	if strings.TrimSpace(r.Header.Get(CSRFHeader)) == "" {
		return fmt.Errorf("%w: the %s header is required on a request authenticated by a cookie", ErrCrossSite, CSRFHeader)
	}
	return checkSameOrigin(r, origin)
}

// checkSameOrigin is the part of CheckCSRF a browser's WebSocket handshake
// can meet, which cannot carry the CSRFHeader: a Sec-Fetch-Site, if any,
// of same-origin, and an Origin, if any, equal to origin or to r's own.
// A browser sends Origin on every WebSocket handshake (RFC 6455 §4.1),
// and Sec-Fetch-Site too where it implements Fetch Metadata.
func checkSameOrigin(r *http.Request, origin string) error {
	if s := r.Header.Values("Sec-Fetch-Site"); len(s) > 1 || len(s) == 1 && !strings.EqualFold(s[0], "same-origin") {
		return fmt.Errorf("%w: Sec-Fetch-Site must be same-origin", ErrCrossSite)
	}
	o := r.Header.Values("Origin")
	if len(o) == 0 {
		return nil
	}
	got, ok := CanonicalOrigin(o[0])
	if len(o) == 1 && ok {
		if origin != "" && got == origin {
			return nil
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if own, ok := CanonicalOrigin(scheme + "://" + r.Host); ok && got == own {
			return nil // the origin of the request itself (scheme as received)
		}
	}
	return fmt.Errorf("%w: the request's Origin is not this site's", ErrCrossSite)
}

// upgradeRequest reports whether r asks to switch protocols (an Upgrade
// header, RFC 9110 §7.8), as a WebSocket handshake does (RFC 6455 §4.1).
// Any Upgrade header counts, whatever its value or the Connection header:
// scripts cannot set it (a forbidden request header), and a server or a
// library that reads it loosely must not turn a refused request into a
// hijackable one.
func upgradeRequest(r *http.Request) bool {
	return len(r.Header.Values("Upgrade")) > 0
}

// CSRFRefusal is the answer to a request that failed the CSRF check: 403
// csrf_check_failed, its description the reason err (an error of CheckCSRF,
// wrapping ErrCrossSite) names, without the ErrCrossSite text.
func CSRFRefusal(err error) *Error {
	desc := strings.TrimPrefix(err.Error(), ErrCrossSite.Error()+": ")
	return &Error{Status: http.StatusForbidden, Code: "csrf_check_failed", Description: desc}
}

// unsafeMethod reports whether method may change state (RFC 9110 §9.2.1).
func unsafeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// CanonicalOrigin returns the serialization of the origin of u (RFC 6454
// §6.1: scheme://host[:port], lower case, an IPv6 host in brackets, the
// scheme's default port omitted), and whether u is an http(s) URL with a
// host and no user information. The CSRF check compares Origin headers in
// this form.
func CanonicalOrigin(u string) (string, bool) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
		return "", false
	}
	scheme, host, port := strings.ToLower(p.Scheme), strings.ToLower(p.Hostname()), p.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + host, true
	}
	return scheme + "://" + host + ":" + port, true
}
