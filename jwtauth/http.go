package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// MaxBodySize is the largest request body the account endpoints read (1 MiB).
const MaxBodySize = 1 << 20

// maxBodyMembers bounds the members of an account request body, whose
// objects have at most two known fields; room is left for clients that send
// a few extra ones (ignored).
const maxBodyMembers = 32

func badRequest(desc string) *authn.Error {
	return &authn.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}

// storeRetryAfter is the Retry-After of a 503 for a store that failed or did
// not answer in time.
const storeRetryAfter = 5 * time.Second

// WriteError writes err as a JSON error body (see authn.WriteError). An
// *authn.Error is written as it is;
// an error wrapping token.ErrStoreUnavailable or context.DeadlineExceeded, or
// keys.ErrKeyEncryptionKey or keys.ErrCorruptKey (the stored key set does not
// decode here, see keys.Manager.SigningKey), becomes 503
// temporarily_unavailable with Retry-After: 5 and a description naming the
// cause; anything else 500 server_error with a generic description (the
// detail goes to the log, never to the client).
func WriteError(w http.ResponseWriter, err error) {
	e, ok := apiError(err)
	if !ok {
		if desc := keySetFailure(err); desc != "" {
			// Logged once per change of state by the key manager, not here.
			e = &authn.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: desc, RetryAfter: storeRetryAfter}
		} else if errors.Is(err, context.Canceled) {
			// The client went away (or the server is stopping): nothing
			// failed here, and nobody reads the answer.
			slog.Debug("request canceled", "err", err)
			e = &authn.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the request was canceled", RetryAfter: storeRetryAfter}
		} else if errors.Is(err, token.ErrStoreUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			e = &authn.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the store is unavailable; try again later", RetryAfter: storeRetryAfter}
		} else {
			slog.Error("request failed", "err", err)
			e = &authn.Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error"}
		}
	}
	authn.WriteError(w, e)
}

// accountStatus is the HTTP status of each account.Error code.
var accountStatus = map[string]int{
	"invalid_request":         http.StatusBadRequest,
	"invalid_credentials":     http.StatusUnauthorized,
	"user_exists":             http.StatusConflict,
	"invalid_grant":           http.StatusUnauthorized,
	"unsupported_grant_type":  http.StatusNotImplemented,
	"too_many_requests":       http.StatusTooManyRequests,
	"temporarily_unavailable": http.StatusServiceUnavailable,
	"not_implemented":         http.StatusNotImplemented, // account.ErrUserAdminUnsupported
	"invalid_dpop_proof":      http.StatusBadRequest,     // RFC 9449 §5: a token endpoint answers 400
}

// apiError returns the *Error err holds, or the one an *account.Error it
// holds is answered with (its status from accountStatus), and whether
// there was one.
func apiError(err error) (*authn.Error, bool) {
	var e *authn.Error
	if errors.As(err, &e) {
		return e, true
	}
	var ae *account.Error
	if errors.As(err, &ae) {
		status, ok := accountStatus[ae.Code]
		if !ok {
			status = http.StatusBadRequest
		}
		return &authn.Error{Status: status, Code: ae.Code, Description: ae.Description, RetryAfter: ae.RetryAfter}, true
	}
	return nil, false
}

// noStore forbids caching the answer: Cache-Control: no-store, and
// Pragma: no-cache for HTTP/1.0 caches, as RFC 6749 §5.1 requires of token
// responses (every account answer gets both).
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// writeJSON writes v as a JSON body with status, never cached and never
// content-sniffed (X-Content-Type-Options: nosniff).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error","error_description":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	noStore(h)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeFields reads a JSON object body of string members into the named
// fields; a field named with a trailing "?" is optional (read under its
// name without the "?"). It refuses a missing or non-JSON Content-Type, a
// charset other than UTF-8 or a Content-Encoding (415), a body over
// MaxBodySize (413), invalid UTF-8, a \u escape of an unpaired UTF-16
// surrogate (see loneSurrogate), malformed JSON, more than maxBodyMembers
// members, duplicate or non-string members, and missing or empty fields
// (400); unknown members are ignored. Requiring the JSON
// Content-Type makes a cross-origin POST from a web page need a CORS
// preflight (Fetch Standard, "CORS-safelisted request-header"), which this
// server never grants: a page cannot spread login guesses or lockouts over
// its visitors' addresses.
func decodeFields(w http.ResponseWriter, r *http.Request, fields ...string) (map[string]string, *authn.Error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, &authn.Error{Status: http.StatusUnsupportedMediaType, Code: "invalid_request", Description: "Content-Type: application/json is required"}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, &authn.Error{Status: http.StatusUnsupportedMediaType, Code: "invalid_request", Description: "Content-Type must be application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, &authn.Error{Status: http.StatusUnsupportedMediaType, Code: "invalid_request", Description: "JSON must be UTF-8 (RFC 8259 §8.1)"}
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, &authn.Error{Status: http.StatusUnsupportedMediaType, Code: "invalid_request", Description: "Content-Encoding is not supported; send the body uncompressed"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &authn.Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: fmt.Sprintf("request body exceeds %d bytes", MaxBodySize)}
		}
		return nil, badRequest("request body could not be read")
	}
	if !utf8.Valid(body) {
		// encoding/json would turn invalid bytes into U+FFFD, so two
		// different passwords could become one.
		return nil, badRequest("request body must be valid UTF-8")
	}
	if loneSurrogate(body) {
		// For the same reason: encoding/json would turn the escape into
		// U+FFFD.
		return nil, badRequest(`request body must not escape unpaired UTF-16 surrogates (\uD800 to \uDFFF outside a high-low pair)`)
	}
	out := make(map[string]string, len(fields))
	err = token.DecodeObject(body, maxBodyMembers, func(name string, dec *json.Decoder) error {
		for _, f := range fields {
			if strings.TrimSuffix(f, "?") == name {
				s, err := token.StringValue(dec, name)
				out[name] = s
				return err
			}
		}
		return token.SkipValue(dec)
	})
	if err != nil {
		return nil, badRequest("request body must be a JSON object: " + err.Error())
	}
	for _, f := range fields {
		if !strings.HasSuffix(f, "?") && out[f] == "" {
			return nil, badRequest(fmt.Sprintf("%s is required", f))
		}
	}
	return out, nil
}

// Route is one endpoint of the reference server: Method, Path, Handler and
// whether the adapter's authentication middleware must run first
// (Protected). It is authn.Route, so that the adapters mount routes without
// importing this package; []Route and []authn.Route are the same type.
type Route = authn.Route

// RoutesConfig names what Routes serves. Accounts, JWKS and Discovery are
// required; Health may be nil (then /healthz always answers ok).
type RoutesConfig struct {
	Accounts  *account.Accounts // the account flow behind /register, /login, /refresh, /logout
	JWKS      http.Handler      // serves /.well-known/jwks.json (see NewJWKSHandler)
	Discovery http.Handler      // serves /.well-known/openid-configuration and /.well-known/oauth-authorization-server (see NewDiscoveryHandler)
	// Health reports whether the store is reachable; /healthz answers 503 when it fails.
	Health func(context.Context) error
	// TrustedProxies are the networks of the reverse proxies in front of the
	// server. Empty (the default): the client address that login and
	// registration throttling count is the one the adapter's framework
	// determined (adapters/gin: gin's c.ClientIP, honouring
	// engine.SetTrustedProxies; see ContextWithClientIP), else the
	// connection's (RemoteAddr) with X-Forwarded-For ignored.
	// Otherwise, on any adapter, it is the right-most X-Forwarded-For entry
	// outside these networks, read only when the connection itself comes
	// from one of them (see ClientIP).
	TrustedProxies []netip.Prefix

	// Cookies turns on the cookie mode for browser pages (see CookieMode):
	// the refresh token in an HttpOnly cookie, with a CSRF check. Off by
	// default. Routes panics when it is invalid (SameSite None, a malformed
	// Origin).
	Cookies CookieMode

	// site is set by New from the issuer: the path the browser sees the
	// endpoints under, and whether it is https (for the cookies' Path and
	// Secure attributes).
	site cookieSite

	// DPoP, when set, checks the DPoP proofs (RFC 9449 §5) of /login and
	// /refresh (see DPoPIssuing; New sets it unless Config.DPoP is off);
	// in cookie mode it also makes a page's proof refuse an unbound
	// session (see CookieMode). Nil: the DPoP header is not read, and
	// a bound refresh token is refused (no proof can come with it).
	DPoP *DPoPIssuing
}

// Routes returns every endpoint of the reference server: POST /register, /login,
// /refresh, /logout; POST /password, GET /protected and DELETE /account
// (Protected); the JWKS, the discovery document at
// /.well-known/openid-configuration and the same document as RFC 8414
// metadata at /.well-known/oauth-authorization-server; and /healthz.
// /register and /login pass the client address
// (ClientIP with cfg.TrustedProxies) to Accounts.RegisterFrom and
// Accounts.LoginWithDevice for throttling; /login also passes the device
// token of its body's device_token member or of the DeviceCookieName cookie
// and sets that cookie on success. With cfg.Cookies enabled, /login,
// /refresh and /logout also work as CookieMode describes. With cfg.DPoP,
// /login and /refresh check DPoP proofs and bind tokens to their keys
// (DPoPIssuing, docs/dpop.md). Routes panics when cfg.Cookies or cfg.DPoP
// is invalid.
func Routes(cfg RoutesConfig) []Route {
	a := cfg.Accounts
	trusted := slices.Clone(cfg.TrustedProxies)
	cm, err := cfg.Cookies.resolve()
	if err != nil {
		panic(err)
	}
	site := cfg.site
	if cm != nil {
		if cm.path != "" {
			site.path = cm.path
		}
		cm.secure = cm.secure || site.secure
		site.secure = cm.secure
	}
	dp := cfg.DPoP.resolve()
	creds := func(op string, f func(r *http.Request, u, p string) (any, int, error)) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			in, e := decodeFields(w, r, "username", "password")
			if e != nil {
				a.Refused(op, refusal(e))
				WriteError(w, e)
				return
			}
			v, status, err := f(r, in["username"], in["password"])
			if err != nil {
				WriteError(w, err)
				return
			}
			writeJSON(w, status, v)
		})
	}
	refresh := func(op string, f func(ctx context.Context, token string) (*account.TokenResponse, int, error)) http.Handler {
		logout := op == "logout"
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var cookie string
			if cm != nil {
				// Before the body is read: a forged request spends nothing.
				var e *authn.Error
				if cookie, e = cm.refreshFromCookie(r); e != nil {
					a.Refused(op, refusal(e))
					WriteError(w, e)
					return
				}
			}
			var in map[string]string
			if cookie != "" && r.ContentLength == 0 {
				in = map[string]string{} // a page's POST with no body
			} else {
				field := "refresh_token"
				if cookie != "" {
					field += "?"
				}
				var e *authn.Error
				if in, e = decodeFields(w, r, field); e != nil {
					a.Refused(op, refusal(e))
					WriteError(w, e)
					return
				}
			}
			raw := in["refresh_token"]
			switch {
			case raw == "":
				raw = cookie
			case cookie != "" && raw != cookie:
				e := badRequest("the body's refresh_token differs from the " + RefreshCookieName + " cookie; send one of them")
				a.Refused(op, refusal(e))
				WriteError(w, e)
				return
			}
			var jkt string
			if !logout {
				// Before the token is looked at: a refused proof spends nothing.
				var ok bool
				if r, jkt, ok = dp.proof(w, r, a, op, "/refresh"); !ok {
					return
				}
			}
			r = cm.authorizeRedemption(r, raw == cookie, jkt)
			// The client address of the audit event.
			ctx := account.ContextWithClient(r.Context(), ClientIP(r, trusted))
			v, status, err := f(ctx, raw)
			dead, err := dp.answer(err)
			if cm != nil {
				e, _ := apiError(err)
				switch {
				case err == nil && !logout:
					cm.setSession(w, r, v, a.Now())
					body := *v
					body.RefreshToken = ""
					v = &body
				case err == nil, logout && e != nil && e.Status < 500,
					cookie != "" && (dead || errors.Is(err, account.ErrInvalidGrant)):
					// Logged out, or the cookie can never work again.
					cm.setSession(w, r, nil, a.Now())
				}
			}
			if err != nil {
				dp.challenge(w, err)
				WriteError(w, err)
				return
			}
			if v == nil {
				noStore(w.Header())
				w.WriteHeader(status)
				return
			}
			writeJSON(w, status, v)
		})
	}
	return []Route{
		{Method: http.MethodPost, Path: "/register", Handler: creds("register", func(r *http.Request, u, p string) (any, int, error) {
			return map[string]string{"message": "user registered"}, http.StatusCreated, a.RegisterFrom(r.Context(), ClientIP(r, trusted), u, p)
		})},
		{Method: http.MethodPost, Path: "/login", Handler: loginHandler(a, trusted, cm, site, dp)},
		{Method: http.MethodPost, Path: "/refresh", Handler: refresh("refresh", func(ctx context.Context, t string) (*account.TokenResponse, int, error) {
			resp, err := a.Refresh(ctx, t)
			return resp, http.StatusOK, err
		})},
		{Method: http.MethodPost, Path: "/password", Handler: passwordHandler(a, trusted, cm, site), Protected: true},
		{Method: http.MethodPost, Path: "/logout", Handler: refresh("logout", func(ctx context.Context, t string) (*account.TokenResponse, int, error) {
			return nil, http.StatusNoContent, a.Logout(ctx, t)
		})},
		{Method: http.MethodDelete, Path: "/account", Handler: deleteAccountHandler(a, trusted, cm), Protected: true},
		{Method: http.MethodGet, Path: "/protected", Handler: http.HandlerFunc(serveProtected), Protected: true},
		{Method: http.MethodGet, Path: "/.well-known/jwks.json", Handler: cfg.JWKS},
		{Method: http.MethodGet, Path: "/.well-known/openid-configuration", Handler: cfg.Discovery},
		{Method: http.MethodGet, Path: metadataPath, Handler: cfg.Discovery}, // RFC 8414 §3
		{Method: http.MethodGet, Path: "/healthz", Handler: healthHandler(cfg.Health)},
	}
}

// loginHandler serves /login: the credentials and an optional device_token
// member from the body, else the DeviceCookieName cookie, go to
// Accounts.LoginWithDevice with the ClientIP; a success sets the cookie to
// the new device token (and, with cm, the session cookies) and answers the
// account.TokenResponse. With DPoP (New, Config.DPoP), a valid DPoP proof
// binds the tokens to its key; a refused one is answered 400
// invalid_dpop_proof before anything is spent.
func loginHandler(a *account.Accounts, trusted []netip.Prefix, cm *cookieMode, site cookieSite, dp *dpopIssuing) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, e := decodeFields(w, r, "username", "password", "device_token?")
		if e != nil {
			a.Refused("login", refusal(e))
			WriteError(w, e)
			return
		}
		// Before the throttle and the password hash: a refused proof
		// spends neither.
		r, _, ok := dp.proof(w, r, a, "login", "/login")
		if !ok {
			return
		}
		device := in["device_token"]
		if c, err := r.Cookie(DeviceCookieName); device == "" && err == nil {
			device = c.Value
		}
		resp, err := a.LoginWithDevice(r.Context(), ClientIP(r, trusted), in["username"], in["password"], device)
		if err != nil {
			WriteError(w, err)
			return
		}
		http.SetCookie(w, deviceCookie(r, resp.DeviceToken, a.DeviceTokenTTL(), site))
		if cm != nil {
			cm.setSession(w, r, resp, a.Now())
			body := *resp
			body.RefreshToken = ""
			resp = &body
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// passwordHandler serves POST /password behind the adapters'
// authentication middleware: the subject of the access token (and nothing
// else) names the user, the body's current_password and new_password go to
// Accounts.ChangePassword with the ClientIP. In cookie mode the request must
// pass the CSRF check first (the answer replaces the session cookies), else
// 403 csrf_check_failed before the body is read. A success answers
// account.TokenResponse as /login does: the DeviceCookieName cookie set to
// the new device token (scoped to the login endpoint beside this one) and,
// with cm, the session cookies replaced and no refresh_token in the body.
func passwordHandler(a *account.Accounts, trusted []netip.Prefix, cm *cookieMode, site cookieSite) http.Handler {
	const op = "change_password"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := token.ClaimsFromContext(r.Context())
		if !ok || c.Subject == "" {
			WriteError(w, &authn.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "not authenticated"})
			return
		}
		if cm != nil {
			if err := authn.CheckCSRF(r, cm.origin); err != nil {
				e := authn.CSRFRefusal(err)
				a.Refused(op, refusal(e))
				WriteError(w, e)
				return
			}
		}
		in, e := decodeFields(w, r, "current_password", "new_password")
		if e != nil {
			a.Refused(op, refusal(e))
			WriteError(w, e)
			return
		}
		ctx := account.ContextWithClient(r.Context(), ClientIP(r, trusted))
		if jkt := c.JKT(); jkt != "" {
			// The middleware checked this request's proof by the key the
			// token is bound to: the new session stays bound to it.
			ctx = account.ContextWithDPoP(ctx, jkt)
		}
		resp, err := a.ChangePassword(ctx, c.Subject, in["current_password"], in["new_password"])
		if err != nil {
			WriteError(w, err)
			return
		}
		dc := deviceCookie(r, resp.DeviceToken, a.DeviceTokenTTL(), site)
		if site.path == "" {
			dc.Path = path.Join(path.Dir(requestPath(r)), "login")
		}
		http.SetCookie(w, dc)
		if cm != nil {
			cm.setSession(w, r, resp, a.Now())
			body := *resp
			body.RefreshToken = ""
			resp = &body
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// serveProtected is the tutorial's protected resource: it greets the
// authenticated subject.
func serveProtected(w http.ResponseWriter, r *http.Request) {
	c, ok := token.ClaimsFromContext(r.Context())
	if !ok || c.Subject == "" {
		WriteError(w, &authn.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "not authenticated"})
		return
	}
	// A struct, not a map: the same bytes (members in this order) without
	// sorting map keys on the hottest route.
	writeJSON(w, http.StatusOK, protectedBody{Message: "Welcome " + c.Subject + "! This is a protected route.", Sub: c.Subject})
}

type protectedBody struct {
	Message string `json:"message"`
	Sub     string `json:"sub"`
}

// keySetFailure describes an error that means the stored key set does not
// decode in this process, or returns "".
func keySetFailure(err error) string {
	switch {
	case errors.Is(err, keys.ErrKeyEncryptionKey):
		return "the key set cannot be decoded with this instance's key-encryption key"
	case errors.Is(err, keys.ErrCorruptKey):
		return "the stored key set does not decode: a key record is corrupt or was refused"
	}
	return ""
}

// healthHandler answers 200 while check passes and 503 naming the cause
// when it fails: the key set when it does not decode here, the store
// otherwise. It logs one line per change of state, not one per probe.
func healthHandler(check func(context.Context) error) http.Handler {
	var last atomic.Pointer[string] // description of the last failure; nil while healthy
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if check != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := check(ctx); err != nil {
				desc := keySetFailure(err)
				if desc == "" {
					desc = "the store is unreachable"
				}
				if p := last.Swap(&desc); p == nil || *p != desc {
					slog.Warn("health check failed", "cause", desc, "err", err)
				}
				WriteError(w, &authn.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: desc, RetryAfter: storeRetryAfter})
				return
			}
			if last.Swap(nil) != nil {
				slog.Info("health check passes again")
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// loneSurrogate reports whether data, UTF-8 JSON text, holds a \u escape of
// a UTF-16 surrogate (U+D800 to U+DFFF) that is not a high surrogate
// (\uD800-\uDBFF) directly followed by the escape of a low one
// (\uDC00-\uDFFF), which together name one character (RFC 8259 §7).
// encoding/json decodes such an unpaired escape into U+FFFD, so "\ud800" and
// "\udfff" would be the same string as a real U+FFFD. A backslash only
// starts an escape inside a string, so the scan needs no other JSON state;
// malformed text is left to the decoder. It is linear in len(data).
func loneSurrogate(data []byte) bool {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		i++ // the escaped byte: '\\' or '"' cannot start an escape
		if i >= len(data) || data[i] != 'u' {
			continue
		}
		r, ok := hex4(data[i+1:])
		if !ok || r < 0xD800 || r > 0xDFFF {
			continue
		}
		if r >= 0xDC00 {
			return true // a low surrogate not after a high one
		}
		// A high surrogate: the next six bytes must be \u and a low one.
		next := data[i+5:]
		if len(next) < 6 || next[0] != '\\' || next[1] != 'u' {
			return true
		}
		if low, ok := hex4(next[2:]); !ok || low < 0xDC00 || low > 0xDFFF {
			return true
		}
		i += 10 // the pair's last hex digit
	}
	return false
}

// hex4 decodes the four hex digits that start b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
