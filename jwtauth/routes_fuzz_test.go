package jwtauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// accountPaths are the JSON endpoints FuzzAccountRequests drives, with the
// string members each requires.
var accountPaths = []struct {
	path   string
	fields []string
}{
	{"/register", []string{"username", "password"}},
	{"/login", []string{"username", "password"}},
	{"/refresh", []string{"refresh_token"}},
	{"/logout", []string{"refresh_token"}},
}

// wellFormed is the oracle of FuzzAccountRequests, written independently of
// decodeFields: a JSON Content-Type, a body of at most MaxBodySize bytes of
// valid UTF-8 holding exactly one JSON object of at most 32 members without
// repeated member names or unpaired surrogate escapes, whose required
// members are non-empty strings.
func wellFormed(contentType string, body []byte, fields []string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return false
	}
	if len(body) > jwtauth.MaxBodySize || !utf8.Valid(body) || !json.Valid(body) || unpairedSurrogate(body) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	got := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		name := tok.(string)
		if _, dup := got[name]; dup {
			return false
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return false
		}
		got[name] = v
	}
	if len(got) > 32 {
		return false
	}
	for _, f := range fields {
		if s, ok := got[f].(string); !ok || s == "" {
			return false
		}
	}
	return true
}

var (
	jsonStringLit = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	jsonEscape    = regexp.MustCompile(`\\(?:u([0-9a-fA-F]{4})|.)`)
)

// unpairedSurrogate reports whether body, valid JSON, has a string with a
// \u escape of a UTF-16 surrogate that is not half of a high-low pair of
// adjacent escapes (RFC 8259 §7), which encoding/json would decode into
// U+FFFD. Written apart from the server's scanner: string literals found by a
// regular expression, pairs checked by unicode/utf16.
func unpairedSurrogate(body []byte) bool {
	for _, lit := range jsonStringLit.FindAll(body, -1) {
		high, highEnd := rune(-1), -1 // an escaped high surrogate waiting for its pair, and where it ends
		for _, m := range jsonEscape.FindAllSubmatchIndex(lit, -1) {
			r := rune(-1)
			if m[2] >= 0 {
				v, _ := strconv.ParseUint(string(lit[m[2]:m[3]]), 16, 16)
				r = rune(v)
			}
			if high >= 0 {
				if m[0] != highEnd || utf16.DecodeRune(high, r) == utf8.RuneError {
					return true
				}
				high = -1
				continue
			}
			if utf16.IsSurrogate(r) {
				if r >= 0xDC00 {
					return true
				}
				high, highEnd = r, m[1]
			}
		}
		if high >= 0 {
			return true
		}
	}
	return false
}

// FuzzAccountRequests posts arbitrary bodies and Content-Types to /register,
// /login, /refresh and /logout of Routes. Invariants: no panic; never a 5xx;
// a request the wellFormed oracle refuses is never answered 2xx. The text
// {{refresh}} in a body is replaced by a live refresh token, so that the
// fuzzer mutates around real ones.
func FuzzAccountRequests(f *testing.F) {
	ctx := context.Background()
	store := memory.New()
	m, err := keys.Open(ctx, keys.Config{Store: store, Generate: keystest.Generator(f), Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: m, Issuer: testIssuer, Audience: []string{testAudience}})
	if err != nil {
		f.Fatal(err)
	}
	// Throttling is off: this target checks request decoding, and the fuzzer
	// finds the refresh-token holder's name and fails its logins otherwise.
	acc, err := account.New(account.Config{Users: store, RefreshTokens: store, Issuer: iss, Argon2: fastArgon, Logger: quiet,
		Throttle: account.LoginThrottle{UserFailures: -1, IPFailures: -1}})
	if err != nil {
		f.Fatal(err)
	}
	disc, err := jwtauth.NewDiscoveryHandler(testIssuer)
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range jwtauth.Routes(jwtauth.RoutesConfig{Accounts: acc, JWKS: jwtauth.NewJWKSHandler(m, time.Minute), Discovery: disc}) {
		mux.Handle(rt.Method+" "+rt.Path, rt.Handler)
	}
	post := func(path, contentType string, body []byte, remoteAddr string) *http.Response {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.RemoteAddr = remoteAddr
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Result()
	}
	// The refresh tokens come from a user and an address that no seed names.
	const user, pass, holderAddr, fuzzAddr = "rt-holder-7f3a", "correct horse battery", "198.51.100.7:4000", "192.0.2.1:1234"
	if res := post("/register", "application/json", []byte(`{"username":"`+user+`","password":"`+pass+`"}`), holderAddr); res.StatusCode != http.StatusCreated {
		f.Fatalf("register: %d", res.StatusCode)
	}
	refresh := func(t *testing.T) string {
		res := post("/login", "application/json", []byte(`{"username":"`+user+`","password":"`+pass+`"}`), holderAddr)
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.RefreshToken == "" {
			t.Fatalf("login for a refresh token: status %d, %v", res.StatusCode, err)
		}
		return body.RefreshToken
	}

	for i, seed := range []string{
		`{"username":"alice","password":"correct horse battery"}`,
		`{"username":"bob","password":"correct horse battery"}`,
		`{"username":"a","password":"b","username":"c"}`,
		`{"username":"alice","password":123}`,
		`{"username":"alice","password":"pw","x":[[[[[[{}]]]]]]}`,
		`{"username":"\u0000","password":"\ud800\udc00"}`,
		`["username","password"]`,
		`{"refresh_token":"{{refresh}}"}`,
		`{"refresh_token":"{{refresh}}x"}`,
		`{"refresh_token":""}`,
		`{"refresh_token":"{{refresh}}"}{}`,
		"",
		"null",
	} {
		f.Add(uint8(i), "application/json", []byte(seed))
	}
	f.Add(uint8(0), "text/plain", []byte(`{"username":"alice","password":"correct horse battery"}`))
	f.Add(uint8(1), "application/json; charset=utf-8", []byte(`{"username":"bob","password":"correct horse battery"}`))
	f.Add(uint8(2), "application/json", []byte("{\"refresh_token\":\"\xff\"}"))
	f.Add(uint8(1), "", []byte(`{"username":"alice","password":"correct horse battery"}`)) // no Content-Type: 415
	// Unpaired surrogate escapes, which encoding/json turns into U+FFFD: 400,
	// while eight real U+FFFD characters are a password (0 /register, 1
	// /login, 3 /logout).
	f.Add(uint8(0), "application/json", []byte(`{"username":"lone-high","password":"\ud800\ud800\ud800\ud800\ud800\ud800\ud800\ud800"}`))
	f.Add(uint8(0), "application/json", []byte(`{"username":"lone-low","password":"\udfff\udc00\udfff\udc00\udfff\udc00\udfff\udc00"}`))
	f.Add(uint8(0), "application/json", []byte("{\"username\":\"fffd\",\"password\":\"\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\"}"))
	f.Add(uint8(1), "application/json", []byte(`{"username":"fffd","password":"\ud800\ud800\ud800\ud800\ud800\ud800\ud800\ud800"}`))
	f.Add(uint8(0), "application/json", []byte(`{"username":"pair","password":"`+strings.Repeat(`\ud83d\ude00`, 8)+`"}`))
	f.Add(uint8(3), "application/json", []byte(`{"refresh_token":"{{refresh}}","x":"\ud800"}`))

	f.Fuzz(func(t *testing.T, which uint8, contentType string, body []byte) {
		ep := accountPaths[int(which)%len(accountPaths)]
		if bytes.Contains(body, []byte("{{refresh}}")) {
			body = bytes.ReplaceAll(body, []byte("{{refresh}}"), []byte(refresh(t)))
		}
		res := post(ep.path, contentType, body, fuzzAddr)
		got, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 500 {
			t.Fatalf("POST %s (Content-Type %q) %q: %d %s", ep.path, contentType, body, res.StatusCode, got)
		}
		if res.StatusCode < 300 && !wellFormed(contentType, body, ep.fields) {
			t.Fatalf("POST %s (Content-Type %q) accepted a malformed request %q: %d %s", ep.path, contentType, body, res.StatusCode, got)
		}
	})
}
