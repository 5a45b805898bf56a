package nethttp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/jwtauth/jwtauth/adapters/adaptertest"
	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
)

// FuzzMiddleware sends GET /protected with arbitrary Authorization and
// x-access-token values through this adapter and, differentially, through
// adapters/gin. The text {{valid}} in a value is replaced by a valid token,
// so that the fuzzer mutates around a real one; a value is split on U+001E
// into several header lines. Invariants: no panic; only 200 or 401, never a
// 5xx; 200 only when the request's one token is exactly the valid one (as
// presentsOnly judges, independently of authn.TokenFromRequest), and 200
// for a request in the plain form of SPEC §2 carrying the valid token; every
// 401 carries the RFC 6750 challenge; both adapters answer alike.
func FuzzMiddleware(f *testing.F) {
	fx := adaptertest.NewFixture(f)
	valid := fx.Token(f, "alice")
	gin.SetMode(gin.TestMode)
	adapters := []struct {
		name string
		h    http.Handler
	}{
		{"nethttp", nethttp.Handler(fx.Routes, fx.Auth)},
		{"gin", jwtgin.New(fx.Routes, fx.Auth)},
	}
	for _, seed := range [][2]string{
		{"Bearer {{valid}}", ""},
		{"", "{{valid}}"},
		{"bearer   {{valid}}  ", "{{valid}}"},
		{"Bearer {{valid}}", "{{valid}}x"},
		{"Bearer {{valid}}\x1eBearer {{valid}}", ""},
		{"Basic YWxpY2U6cHc=", "{{valid}}"},
		{"Bearer ", ""},
		{"Bearer", ""},
		{"Bearer {{valid}}.", ""},
		{"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.", ""},
		{"Bearer \x00\r\n{{valid}}", ""},
		{"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	realm := `Bearer realm="` + adaptertest.Realm + `"`
	f.Fuzz(func(t *testing.T, authorization, accessToken string) {
		authorization = strings.ReplaceAll(authorization, "{{valid}}", valid)
		accessToken = strings.ReplaceAll(accessToken, "{{valid}}", valid)
		var authLines []string
		if authorization != "" {
			authLines = strings.Split(authorization, "\x1e")
		}
		newRequest := func() *http.Request {
			req := httptest.NewRequest(http.MethodGet, "/protected", nil)
			for _, v := range authLines {
				req.Header.Add("Authorization", v)
			}
			if accessToken != "" {
				req.Header.Set("x-access-token", accessToken)
			}
			return req
		}
		plain := (authorization == "" || authorization == "Bearer "+valid) && (accessToken == "" || accessToken == valid) &&
			authorization+accessToken != ""
		var first *httptest.ResponseRecorder
		for _, a := range adapters {
			rec := httptest.NewRecorder()
			a.h.ServeHTTP(rec, newRequest())
			if plain && rec.Code != http.StatusOK {
				t.Fatalf("%s: %d for the valid token in plain form: Authorization %q, x-access-token %q", a.name, rec.Code, authorization, accessToken)
			}
			switch rec.Code {
			case http.StatusOK:
				if !presentsOnly(authLines, accessToken, valid) {
					t.Fatalf("%s: 200 for Authorization %q, x-access-token %q", a.name, authorization, accessToken)
				}
			case http.StatusUnauthorized:
				if ch := rec.Header().Get("WWW-Authenticate"); ch != realm && !strings.HasPrefix(ch, realm+`, error="invalid_token", error_description="`) {
					t.Fatalf("%s: 401 with WWW-Authenticate %q", a.name, ch)
				}
			default:
				t.Fatalf("%s: status %d for Authorization %q, x-access-token %q: %s", a.name, rec.Code, authorization, accessToken, rec.Body)
			}
			if first == nil {
				first = rec
			} else if rec.Code != first.Code || rec.Header().Get("WWW-Authenticate") != first.Header().Get("WWW-Authenticate") {
				t.Fatalf("adapters disagree: %s %d %q, %s %d %q", adapters[0].name, first.Code, first.Header().Get("WWW-Authenticate"),
					a.name, rec.Code, rec.Header().Get("WWW-Authenticate"))
			}
		}
	})
}

// presentsOnly is the oracle of FuzzMiddleware, written from SPEC §2 and
// RFC 6750 §2.1 and §2.3 without jwtauth's code: it reports whether the
// request may be let in with token valid. That needs at most one
// Authorization line; every credential the request carries (the words after
// a "Bearer" scheme, in any case, of the Authorization line; the words of
// x-access-token) equal to valid; and at least one of them. An
// Authorization line of another scheme (Basic …) carries no bearer token.
func presentsOnly(authLines []string, accessToken, valid string) bool {
	if len(authLines) > 1 {
		return false
	}
	var creds []string
	if len(authLines) == 1 {
		words := strings.FieldsFunc(authLines[0], unicode.IsSpace)
		if len(words) > 0 && strings.EqualFold(words[0], "bearer") {
			creds = append(creds, words[1:]...)
		}
	}
	creds = append(creds, strings.FieldsFunc(accessToken, unicode.IsSpace)...)
	for _, c := range creds {
		if c != valid {
			return false
		}
	}
	return len(creds) > 0
}
