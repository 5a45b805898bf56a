package adaptertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A conforming exchange of each kind the drift cases below start from.
const (
	errorBody    = `{"error":"invalid_token","error_description":"the token has expired"}`
	validETag    = `"aGVsbG8gd29ybGQgaGVsbG8"`
	refreshToken = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	accessToken  = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
	jwksBody     = `{"keys":[{"kty":"RSA","kid":"3n0mAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","use":"sig","alg":"RS256","n":"AQAB","e":"AQAB"}]}`
	loginBody    = `{"access_token":"` + accessToken + `","token":"` + accessToken + `","token_type":"Bearer","expires_in":900,"refresh_token":"` + refreshToken + `"}`
	deviceCookie = "jwtauth_device=abc_DEF-123; Path=/login; Max-Age=15552000; HttpOnly; Secure; SameSite=Strict"
)

// hdr builds a header from name, value pairs; JSON answers get their
// Content-Type and the headers every JSON answer carries.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func jsonHdr(kv ...string) http.Header {
	return hdr(append([]string{"Content-Type", "application/json", "X-Content-Type-Options", "nosniff", "Cache-Control", "no-store", "Pragma", "no-cache"}, kv...)...)
}

type contractCase struct {
	name         string
	method, path string
	reqBody      string
	reqHeader    http.Header
	status       int
	header       http.Header
	body         string
	wantErr      string // "" for a conforming exchange
}

func (tc contractCase) exchange() *exchange {
	req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.reqBody))
	for k, v := range tc.reqHeader {
		req.Header[k] = v
	}
	return &exchange{req: req, reqBody: []byte(tc.reqBody), status: tc.status, header: tc.header, body: []byte(tc.body)}
}

var jsonCT = hdr("Content-Type", "application/json")

// TestOpenAPIContract shows that the check the behaviour table runs on
// every exchange passes conforming ones and catches each kind of drift
// between the code and openapi.yaml: an undescribed status, a missing
// required header, a body off its schema, a body where none is described,
// a path the description lacks answered as if it existed, and a
// description stricter than the server.
func TestOpenAPIContract(t *testing.T) {
	c, err := loadContract()
	require.NoError(t, err)
	cases := []contractCase{
		// Positive controls.
		{name: "healthz ok", method: "GET", path: "/healthz", status: 200, header: jsonHdr(), body: `{"status":"ok"}`},
		{name: "healthz HEAD", method: "HEAD", path: "/healthz", status: 200, header: jsonHdr()},
		{name: "jwks", method: "GET", path: "/.well-known/jwks.json", status: 200,
			header: hdr("Content-Type", "application/json", "X-Content-Type-Options", "nosniff", "Cache-Control", "public, max-age=300", "ETag", validETag), body: jwksBody},
		{name: "jwks 304", method: "GET", path: "/.well-known/jwks.json", reqHeader: hdr("If-None-Match", validETag), status: 304,
			header: hdr("Cache-Control", "public, max-age=300", "ETag", validETag)},
		{name: "login", method: "POST", path: "/login", reqBody: `{"username":"alice","password":"pw"}`, reqHeader: jsonCT, status: 200,
			header: jsonHdr("Set-Cookie", deviceCookie), body: loginBody},
		{name: "login throttled", method: "POST", path: "/login", reqBody: `{"username":"alice","password":"pw"}`, reqHeader: jsonCT, status: 429,
			header: jsonHdr("Retry-After", "60"), body: `{"error":"too_many_requests","error_description":"try later"}`},
		{name: "logout", method: "POST", path: "/logout", reqBody: `{"refresh_token":"` + refreshToken + `"}`, reqHeader: jsonCT, status: 204,
			header: hdr("Cache-Control", "no-store", "Pragma", "no-cache")},
		{name: "protected without a token", method: "GET", path: "/protected", status: 401,
			header: jsonHdr("WWW-Authenticate", `Bearer realm="jwtauth"`), body: `{"error":"unauthorized","error_description":"an access token is required"}`},
		{name: "register without Content-Type refused", method: "POST", path: "/register", reqBody: `{"username":"alice","password":"correct horse"}`, status: 415,
			header: jsonHdr(), body: `{"error":"invalid_request","error_description":"Content-Type: application/json is required"}`},
		{name: "unknown path", method: "GET", path: "/nope", status: 404, header: jsonHdr(), body: `{"error":"not_found","error_description":"no such endpoint"}`},
		{name: "wrong method", method: "GET", path: "/login", status: 405, header: jsonHdr("Allow", "POST"), body: `{"error":"method_not_allowed","error_description":"not allowed"}`},

		// Drift.
		{name: "undescribed status", method: "GET", path: "/healthz", status: 418, header: jsonHdr(), body: `{"status":"ok"}`,
			wantErr: "status 418 is not described for GET /healthz"},
		{name: "a 304 where none is described", method: "GET", path: "/healthz", status: 304, header: hdr(),
			wantErr: "status 304 is not described for GET /healthz"},
		{name: "JWKS without ETag", method: "GET", path: "/.well-known/jwks.json", status: 200,
			header: hdr("Content-Type", "application/json", "X-Content-Type-Options", "nosniff", "Cache-Control", "public, max-age=300"), body: jwksBody,
			wantErr: `"ETag"`},
		{name: "JWKS 304 without ETag", method: "GET", path: "/.well-known/jwks.json", reqHeader: hdr("If-None-Match", validETag), status: 304,
			header: hdr("Cache-Control", "public, max-age=300"), wantErr: "required header ETag is missing"},
		{name: "JWKS HEAD with a private Cache-Control", method: "HEAD", path: "/.well-known/jwks.json", status: 200,
			header:  hdr("Content-Type", "application/json", "X-Content-Type-Options", "nosniff", "Cache-Control", "private", "ETag", validETag),
			wantErr: `"Cache-Control"`},
		{name: "JWKS with a private key member", method: "GET", path: "/.well-known/jwks.json", status: 200,
			header:  hdr("Content-Type", "application/json", "X-Content-Type-Options", "nosniff", "Cache-Control", "public, max-age=300", "ETag", validETag),
			body:    strings.Replace(jwksBody, `"e":"AQAB"`, `"e":"AQAB","d":"c2VjcmV0"`, 1),
			wantErr: "response body doesn't match schema"},
		{name: "login answer without token_type", method: "POST", path: "/login", reqBody: `{"username":"alice","password":"pw"}`, reqHeader: jsonCT, status: 200,
			header: jsonHdr("Set-Cookie", deviceCookie), body: strings.Replace(loginBody, `"token_type":"Bearer",`, "", 1),
			wantErr: "response body doesn't match schema"},
		{name: "login answer without the device cookie", method: "POST", path: "/login", reqBody: `{"username":"alice","password":"pw"}`, reqHeader: jsonCT, status: 200,
			header: jsonHdr(), body: loginBody, wantErr: `"Set-Cookie"`},
		{name: "429 without Retry-After", method: "POST", path: "/login", reqBody: `{"username":"alice","password":"pw"}`, reqHeader: jsonCT, status: 429,
			header: jsonHdr(), body: `{"error":"too_many_requests","error_description":"try later"}`, wantErr: `"Retry-After"`},
		{name: "401 without a challenge", method: "GET", path: "/protected", reqHeader: hdr("Authorization", "Bearer x.y.z"), status: 401,
			header: jsonHdr(), body: errorBody, wantErr: `"WWW-Authenticate"`},
		{name: "an error code not in the enum", method: "GET", path: "/protected", reqHeader: hdr("Authorization", "Bearer x.y.z"), status: 401,
			header: jsonHdr("WWW-Authenticate", `Bearer realm="jwtauth", error="invalid_token", error_description="bad"`),
			body:   `{"error":"bad_token","error_description":"bad"}`, wantErr: "response body doesn't match schema"},
		{name: "an error body with a third member", method: "POST", path: "/register", reqBody: `{"username":"alice","password":"correct horse"}`, reqHeader: jsonCT, status: 409,
			header: jsonHdr(), body: `{"error":"user_exists","error_description":"taken","user":"alice"}`, wantErr: "response body doesn't match schema"},
		{name: "a body where none is described", method: "POST", path: "/logout", reqBody: `{"refresh_token":"` + refreshToken + `"}`, reqHeader: jsonCT, status: 204,
			header: hdr("Cache-Control", "no-store", "Pragma", "no-cache", "Content-Type", "application/json"), body: `{}`, wantErr: "describes no body"},
		{name: "an undescribed path served", method: "GET", path: "/metrics", status: 200, header: hdr("Content-Type", "text/plain"), body: "up 1",
			wantErr: "status 200 is not described for a path or method openapi.yaml does not describe"},
		{name: "a trailing slash served", method: "POST", path: "/login/", reqBody: `{"username":"alice","password":"pw"}`, reqHeader: jsonCT, status: 200,
			header: jsonHdr("Set-Cookie", deviceCookie), body: loginBody, wantErr: "is not described for a path or method"},
		{name: "an undescribed method served", method: "DELETE", path: "/register", status: 204, header: hdr(),
			wantErr: "status 204 is not described for a path or method"},
		{name: "a request the description refuses, served", method: "POST", path: "/register", reqBody: `{"username":"alice","password":"correct horse"}`, status: 201,
			header: jsonHdr(), body: `{"message":"user registered"}`, wantErr: "the description is stricter than the code"},
		{name: "a missing token answered 403", method: "GET", path: "/protected", status: 403,
			header: jsonHdr("WWW-Authenticate", `Bearer realm="jwtauth", error="insufficient_scope", error_description="no"`),
			body:   `{"error":"insufficient_scope","error_description":"no"}`, wantErr: "not 401"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.check(t.Context(), endpoints, "", tc.exchange())
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err, "drift not caught")
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// TestOpenAPIContractMounted checks the prefix handling of a mounted
// service: its routes are checked under the prefix, and the application's
// own routes and the described paths it does not mount are not.
func TestOpenAPIContractMounted(t *testing.T) {
	c, err := loadContract()
	require.NoError(t, err)
	served := map[string]bool{"/login": true, "/.well-known/jwks.json": true}
	for _, tc := range []struct {
		path   string
		status int
		want   verdict
		err    bool
	}{
		{"/auth/login", 405, unrouted, false},
		{"/auth/login", 200, unrouted, true},    // 200 to GET /login: not described
		{"/login", 200, unchecked, false},       // the application's own
		{"/authx/login", 200, unchecked, false}, // not under /auth
		{"/auth/healthz", 404, unchecked, false},
	} {
		ex := contractCase{method: "GET", path: tc.path, status: tc.status, header: jsonHdr("Allow", "POST"),
			body: `{"error":"method_not_allowed","error_description":"x"}`}.exchange()
		v, err := c.checkMounted(t.Context(), mounted, "/auth", served, ex)
		assert.Equal(t, tc.want, v, "GET %s", tc.path)
		assert.Equal(t, tc.err, err != nil, "GET %s: %v", tc.path, err)
	}
}

// fakeRow records what a validating handler reports.
type fakeRow struct{ msgs []string }

func (r *fakeRow) Name() string { return "TestSomething/the_row" }
func (r *fakeRow) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

// TestValidatedNamesTheRow: a handler that drifts from openapi.yaml is
// reported against the row that sent the request, naming it, the request,
// the answer and the departure; the answer still reaches the client as it
// was.
func TestValidatedNamesTheRow(t *testing.T) {
	drifted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte(`{"status":"teapot"}`))
	})
	var n traffic
	h := validated(t, drifted, endpoints, "", &n)
	row := &fakeRow{}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, withRow(httptest.NewRequest(http.MethodGet, "/healthz", nil), row))

	require.Len(t, row.msgs, 1)
	msg := row.msgs[0]
	for _, want := range []string{"TestSomething/the_row", "GET /healthz answered 418", `{"status":"teapot"}`, "status 418 is not described for GET /healthz"} {
		assert.Contains(t, msg, want)
	}
	assert.Equal(t, http.StatusTeapot, rec.Code)
	assert.JSONEq(t, `{"status":"teapot"}`, rec.Body.String())
	assert.Equal(t, "1 requests (0 of them refused by the description, each answered 4xx; 0 more to paths or methods it lacks, answered 404/405) and 1 responses", n.String())
}

// Conforming cookie-mode exchanges the drift cases below start from.
const (
	refreshCookie  = "jwtauth_refresh=" + refreshToken + "; Path=/refresh; Max-Age=2592000; HttpOnly; Secure; SameSite=Strict"
	logoutCookie   = "jwtauth_refresh=" + refreshToken + "; Path=/logout; Max-Age=2592000; HttpOnly; Secure; SameSite=Strict"
	clearedRefresh = "jwtauth_refresh=; Path=/refresh; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
	clearedLogout  = "jwtauth_refresh=; Path=/logout; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
	accessCookie   = "access=" + accessToken + "; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Strict"
	cookieBody     = `{"access_token":"` + accessToken + `","token":"` + accessToken + `","token_type":"Bearer","expires_in":900}`
	csrfBody       = `{"error":"csrf_check_failed","error_description":"the X-CSRF-Protection header is required on a request authenticated by a cookie"}`
)

// TestOpenAPIContractCookies is TestOpenAPIContract for cookie mode, in the
// mode RunCookies checks with: the session cookies, the CSRF check's 403,
// bodyless refresh and logout, and each kind of drift the description (or
// what it says in words, checkRefreshCarried) lets the check see.
func TestOpenAPIContractCookies(t *testing.T) {
	c, err := loadContract()
	require.NoError(t, err)
	fromPageHdr := func(kv ...string) http.Header {
		return hdr(append([]string{"Cookie", "jwtauth_refresh=" + refreshToken, "X-Csrf-Protection", "1", "Origin", "https://auth.example.test", "Sec-Fetch-Site", "same-origin"}, kv...)...)
	}
	login := contractCase{method: "POST", path: "/login", reqBody: `{"username":"alice","password":"pw"}`, reqHeader: jsonCT, status: 200,
		header: jsonHdr("Set-Cookie", deviceCookie, "Set-Cookie", refreshCookie, "Set-Cookie", logoutCookie, "Set-Cookie", accessCookie), body: cookieBody}
	refresh := contractCase{method: "POST", path: "/refresh", reqHeader: fromPageHdr(), status: 200,
		header: jsonHdr("Set-Cookie", refreshCookie, "Set-Cookie", logoutCookie), body: cookieBody}
	csrf := contractCase{method: "POST", path: "/refresh", reqHeader: hdr("Cookie", "jwtauth_refresh="+refreshToken), status: 403, header: jsonHdr(), body: csrfBody}
	with := func(base contractCase, name, wantErr string, edit func(*contractCase)) contractCase {
		base.name, base.wantErr = name, wantErr
		base.header = base.header.Clone()
		edit(&base)
		return base
	}
	cases := []contractCase{
		// Positive controls.
		with(login, "cookie login", "", func(*contractCase) {}),
		with(refresh, "bodyless refresh from the cookie", "", func(*contractCase) {}),
		with(refresh, "refresh with {} and the cookie", "", func(tc *contractCase) {
			tc.reqBody = `{}`
			tc.reqHeader = fromPageHdr("Content-Type", "application/json")
		}),
		with(csrf, "refresh without the CSRF header", "", func(*contractCase) {}),
		with(csrf, "logout without the CSRF header", "", func(tc *contractCase) { tc.path = "/logout" }),
		{name: "logout from the cookie", method: "POST", path: "/logout", reqHeader: fromPageHdr(), status: 204,
			header: hdr("Cache-Control", "no-store", "Pragma", "no-cache", "Set-Cookie", clearedRefresh, "Set-Cookie", clearedLogout)},
		{name: "reused cookie", method: "POST", path: "/refresh", reqHeader: fromPageHdr(), status: 401,
			header: jsonHdr("Set-Cookie", clearedRefresh, "Set-Cookie", clearedLogout), body: `{"error":"invalid_grant","error_description":"reused"}`},
		{name: "logout with a malformed cookie clears it", method: "POST", path: "/logout", reqHeader: fromPageHdr(), status: 400,
			header: jsonHdr("Set-Cookie", clearedRefresh, "Set-Cookie", clearedLogout), body: `{"error":"invalid_request","error_description":"malformed"}`},
		{name: "two refresh cookies", method: "POST", path: "/refresh", reqHeader: fromPageHdr("Cookie", "jwtauth_refresh="+strings.Repeat("B", 43)), status: 400,
			header: jsonHdr(), body: `{"error":"invalid_request","error_description":"more than one cookie"}`},
		{name: "an application's POST with the access cookie, no CSRF header", method: "POST", path: "/protected", reqHeader: hdr("Cookie", "access="+accessToken), status: 403,
			header: jsonHdr(), body: csrfBody},
		{name: "a blank CSRF header is refused by the description", method: "POST", path: "/refresh",
			reqHeader: hdr("Cookie", "jwtauth_refresh="+refreshToken, "X-Csrf-Protection", " "), status: 403, header: jsonHdr(), body: csrfBody},

		// Drift.
		with(csrf, "a 403 without the JSON error body", "Content-Type has unexpected value", func(tc *contractCase) {
			tc.header = hdr("Cache-Control", "no-store", "X-Content-Type-Options", "nosniff", "Content-Type", "text/plain")
			tc.body = "Forbidden"
		}),
		with(csrf, "a 403 with no body at all", "Content-Type has unexpected value", func(tc *contractCase) {
			tc.header = hdr("Cache-Control", "no-store", "X-Content-Type-Options", "nosniff")
			tc.body = ""
		}),
		with(csrf, "a JSON 403 with an empty body", "response body", func(tc *contractCase) { tc.body = "" }),
		with(csrf, "a 403 with another error code", "response body doesn't match schema", func(tc *contractCase) {
			tc.body = `{"error":"insufficient_scope","error_description":"no"}`
		}),
		with(csrf, "a 403 without nosniff", `"X-Content-Type-Options"`, func(tc *contractCase) { tc.header.Del("X-Content-Type-Options") }),
		with(csrf, "a blank CSRF header served", "the description is stricter than the code", func(tc *contractCase) {
			tc.reqHeader = fromPageHdr()
			tc.reqHeader.Set("X-Csrf-Protection", " ")
			tc.status, tc.header, tc.body = refresh.status, refresh.header, refresh.body
		}),
		with(login, "a Set-Cookie-less login claimed as cookie mode", "no refresh token", func(tc *contractCase) {
			tc.header = jsonHdr("Set-Cookie", deviceCookie)
		}),
		with(login, "cookie mode leaking the refresh token into the body", "both in the body and in a jwtauth_refresh cookie", func(tc *contractCase) {
			tc.body = loginBody
		}),
		with(refresh, "one refresh cookie only", "twice with one value", func(tc *contractCase) {
			tc.header = jsonHdr("Set-Cookie", refreshCookie)
		}),
		with(refresh, "a second refresh cookie without HttpOnly", "value 2 of 2", func(tc *contractCase) {
			tc.header = jsonHdr("Set-Cookie", refreshCookie, "Set-Cookie", strings.Replace(logoutCookie, "; HttpOnly", "", 1))
		}),
		with(login, "an access cookie with SameSite=None", "value 4 of 4", func(tc *contractCase) {
			tc.header = jsonHdr("Set-Cookie", deviceCookie, "Set-Cookie", refreshCookie, "Set-Cookie", logoutCookie, "Set-Cookie", strings.Replace(accessCookie, "Strict", "None", 1))
		}),
		{name: "a logout that keeps the cookie alive", method: "POST", path: "/logout", reqHeader: fromPageHdr(), status: 204,
			header:  hdr("Cache-Control", "no-store", "Pragma", "no-cache", "Set-Cookie", "jwtauth_refresh=; Path=/refresh; Max-Age=60; HttpOnly; Secure; SameSite=Strict", "Set-Cookie", clearedLogout),
			wantErr: `"Set-Cookie"`},
		{name: "an application's CSRF 403 without its body", method: "POST", path: "/protected", reqHeader: hdr("Cookie", "access="+accessToken), status: 403,
			header: hdr("Cache-Control", "no-store"), wantErr: "403 of * #/components/responses"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.check(t.Context(), browser, "", tc.exchange())
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err, "drift not caught")
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
