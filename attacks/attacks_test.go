// Package attacks_test runs the attack-token corpus of testdata/attacks
// (issue 7) against every token verifier and HTTP adapter of the module: the
// local Verifier over a keys.Manager, the remote Verifier over a JWKS served
// by net/http/httptest, and adapters/nethttp and adapters/gin in front of
// each of them. Every case must be rejected with its expected sentinel error;
// through HTTP always 401 with the RFC 6750 §3 WWW-Authenticate challenge
// that error gives, never 2xx or 5xx, never a panic.
//
// The corpus format is described in testdata/attacks/README.md.
package attacks_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/adaptertest"
	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// corpusDir holds one JSON file per attack case.
const corpusDir = "../testdata/attacks"

// minCases is the size issue 7 asks of the corpus.
const minCases = 40

// attackCase is one file of the corpus: a literal token or a recipe that
// builds one with the test's keys, and the sentinel error it must produce.
type attackCase struct {
	Name        string  `json:"name"`
	Class       string  `json:"class"`
	Source      string  `json:"source"`
	Description string  `json:"description"`
	Token       *string `json:"token"`
	Recipe      *recipe `json:"recipe"`
	Expect      string  `json:"expect"`

	file string
}

// recipe describes a token declaratively; see testdata/attacks/README.md.
type recipe struct {
	Header        *string  `json:"header"`
	Payload       *string  `json:"payload"`
	Sign          string   `json:"sign"`
	TamperHeader  *string  `json:"tamper_header"`
	TamperPayload *string  `json:"tamper_payload"`
	Mutate        []string `json:"mutate"`
	Append        string   `json:"append"`
	Length        int      `json:"length"`
}

const (
	defaultHeader  = `{"alg":"RS256","typ":"JWT","kid":"{{kid}}"}`
	defaultPayload = `{"iss":"{{iss}}","sub":"alice","aud":"{{aud}}","exp":{{now+300}},"nbf":{{now}},"iat":{{now}},"jti":"attack"}`
)

// sentinels are the errors a case may expect, by the name it uses.
var sentinels = map[string]error{
	"ErrTokenMissing":         token.ErrTokenMissing,
	"ErrTokenTooLarge":        token.ErrTokenTooLarge,
	"ErrTokenMalformed":       token.ErrTokenMalformed,
	"ErrUnsupportedAlgorithm": token.ErrUnsupportedAlgorithm,
	"ErrUnsupportedCritical":  token.ErrUnsupportedCritical,
	"ErrUnknownKey":           token.ErrUnknownKey,
	"ErrInvalidSignature":     token.ErrInvalidSignature,
	"ErrTokenExpired":         token.ErrTokenExpired,
	"ErrTokenNotYetValid":     token.ErrTokenNotYetValid,
	"ErrInvalidIssuer":        token.ErrInvalidIssuer,
	"ErrInvalidAudience":      token.ErrInvalidAudience,
	"ErrMissingClaim":         token.ErrMissingClaim,
}

func loadCorpus(t *testing.T) []attackCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	require.NoError(t, err)
	var out []attackCase
	names := map[string]string{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var c attackCase
		require.NoError(t, dec.Decode(&c), file)
		c.file = filepath.Base(file)
		require.NotEmpty(t, c.Name, "%s: name", file)
		require.NotEmpty(t, c.Class, "%s: class", file)
		require.NotEmpty(t, c.Source, "%s: source", file)
		require.True(t, (c.Token == nil) != (c.Recipe == nil), "%s: exactly one of token and recipe", file)
		require.Contains(t, sentinels, c.Expect, "%s: expect must name a sentinel error", file)
		require.Equal(t, strings.TrimSuffix(c.file, ".json"), c.Name, "%s: the file is named after the case", file)
		if prev, dup := names[c.Name]; dup {
			t.Fatalf("%s: name %q already used by %s", file, c.Name, prev)
		}
		names[c.Name] = file
		out = append(out, c)
	}
	return out
}

// env is what recipes are built with.
type env struct {
	now      time.Time
	iss, aud string
	test     *rsa.PrivateKey // signs the fixture's valid tokens; its kid is {{kid}}
	other    *rsa.PrivateKey // in no key set
	weak     *rsa.PrivateKey // 1024 bits, published in the remote JWKS
	enc      *rsa.PrivateKey // published in the remote JWKS with "use":"enc"
	kids     map[*rsa.PrivateKey]string
	certB64  string // a self-signed certificate of other, for x5c
}

func newEnv(t *testing.T, f *adaptertest.Fixture) *env {
	t.Helper()
	e := &env{now: time.Now(), iss: adaptertest.Issuer, aud: adaptertest.Audience,
		test: f.ActiveKey(t).Private, other: f.Outsider, weak: keystest.Weak(t), kids: map[*rsa.PrivateKey]string{}}
	// The enc key: a fixed 2048-bit key that the fixture does not hold.
	var used []*rsa.PublicKey
	for _, k := range f.Keys.Current().Keys() {
		used = append(used, k.Public())
	}
	used = append(used, &f.Outsider.PublicKey)
	for _, k := range keystest.Keys(t) {
		if !slices.ContainsFunc(used, func(p *rsa.PublicKey) bool { return p.Equal(&k.PublicKey) }) {
			e.enc = k
			break
		}
	}
	require.NotNil(t, e.enc, "no spare test key for the enc case")
	require.Equal(t, 1024, e.weak.N.BitLen())
	for _, k := range []*rsa.PrivateKey{e.test, e.other, e.weak, e.enc} {
		e.kids[k] = thumbprint(&k.PublicKey)
	}
	require.Equal(t, f.ActiveKey(t).KID, e.kids[e.test], "RFC 7638 thumbprints are the kids")
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: e.now.Add(-time.Hour), NotAfter: e.now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &e.other.PublicKey, e.other)
	require.NoError(t, err)
	e.certB64 = base64.StdEncoding.EncodeToString(der)
	return e
}

// thumbprint is the RFC 7638 §3 SHA-256 JWK thumbprint of pub, computed
// here because keys.Thumbprint refuses keys under 2048 bits.
func thumbprint(pub *rsa.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"e":"` + b64(big.NewInt(int64(pub.E)).Bytes()) + `","kty":"RSA","n":"` + b64(pub.N.Bytes()) + `"}`))
	return b64(sum[:])
}

var placeholder = regexp.MustCompile(`\{\{([^{}]*)\}\}`)

// expand replaces the {{…}} placeholders of s (README.md lists them).
func (e *env) expand(t *testing.T, s string, filler int) string {
	t.Helper()
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		p := m[2 : len(m)-2]
		if r, n, ok := strings.Cut(p, "*"); ok && len(r) == 1 {
			count, err := strconv.Atoi(n)
			require.NoError(t, err, "placeholder %s", m)
			return strings.Repeat(r, count)
		}
		if rest, ok := strings.CutPrefix(p, "now"); ok {
			off := 0
			if rest != "" {
				var err error
				off, err = strconv.Atoi(rest)
				require.NoError(t, err, "placeholder %s", m)
			}
			return strconv.FormatInt(e.now.Unix()+int64(off), 10)
		}
		switch p {
		case "kid":
			return e.kids[e.test]
		case "other_kid":
			return e.kids[e.other]
		case "weak_kid":
			return e.kids[e.weak]
		case "enc_kid":
			return e.kids[e.enc]
		case "iss":
			return e.iss
		case "aud":
			return e.aud
		case "n":
			return b64(e.test.N.Bytes())
		case "other_n":
			return b64(e.other.N.Bytes())
		case "x5c":
			return e.certB64
		case "filler":
			return strings.Repeat("A", filler)
		}
		t.Fatalf("unknown placeholder %s", m)
		return ""
	})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// build returns the token of c.
func (e *env) build(t *testing.T, c attackCase) string {
	t.Helper()
	if c.Token != nil {
		return e.expand(t, *c.Token, 0)
	}
	r := c.Recipe
	if r.Length == 0 {
		return e.buildRecipe(t, r, 0, "")
	}
	// Grow the payload's {{filler}} (and, as base64url skips every length
	// ≡ 1 mod 4, the header's trailing whitespace) until the token has
	// exactly r.Length bytes.
	require.Contains(t, *r.Payload, "{{filler}}", "%s: length needs a {{filler}} in the payload", c.Name)
	for pad := range 4 {
		for n := max(0, r.Length*3/4-1400); n < r.Length; n++ {
			tok := e.buildRecipe(t, r, n, strings.Repeat(" ", pad))
			if len(tok) == r.Length {
				return tok
			}
			if len(tok) > r.Length {
				break
			}
		}
	}
	t.Fatalf("%s: cannot build a token of exactly %d bytes", c.Name, r.Length)
	return ""
}

// hmacSecrets are the bytes an algorithm-confusion attacker keys HMAC with.
func (e *env) hmacSecret(t *testing.T, kind string) []byte {
	t.Helper()
	pub := &e.test.PublicKey
	switch kind {
	case "public-pem":
		der, err := x509.MarshalPKIXPublicKey(pub)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	case "public-pkcs1-pem":
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})
	case "public-der":
		der, err := x509.MarshalPKIXPublicKey(pub)
		require.NoError(t, err)
		return der
	case "n":
		return []byte(b64(pub.N.Bytes()))
	case "empty-secret":
		return []byte{}
	}
	t.Fatalf("unknown HMAC secret %q", kind)
	return nil
}

func (e *env) buildRecipe(t *testing.T, r *recipe, filler int, headerPad string) string {
	t.Helper()
	h, p := defaultHeader, defaultPayload
	if r.Header != nil {
		h = *r.Header
	}
	if r.Payload != nil {
		p = *r.Payload
	}
	h = e.expand(t, h, filler) + headerPad
	p = e.expand(t, p, filler)
	var pre, post []string // mutations of the signing input, then of the signed token
	for _, m := range r.Mutate {
		op, seg, _ := strings.Cut(m, ":")
		if seg == "header" || seg == "payload" {
			pre = append(pre, m)
		} else {
			post = append(post, op+":"+seg)
		}
	}
	hs := mutate(t, pre, "header", []byte(h))
	ps := mutate(t, pre, "payload", []byte(p))
	input := hs + "." + ps

	var sig []byte
	switch mode := r.Sign; {
	case mode == "none", mode == "strip":
		// "none": the attacker sends no signature; "strip": a signed token
		// whose signature was cut off. Both leave an empty third segment.
	case mode == "rs256-test-key", mode == "tamper":
		sig = signRSA(t, e.test, crypto.SHA256, false, input)
	case mode == "rs256-other-key":
		sig = signRSA(t, e.other, crypto.SHA256, false, input)
	case mode == "rs256-weak-key":
		sig = signRSA(t, e.weak, crypto.SHA256, false, input)
	case mode == "rs256-enc-key":
		sig = signRSA(t, e.enc, crypto.SHA256, false, input)
	case mode == "rs512-test-key":
		sig = signRSA(t, e.test, crypto.SHA512, false, input)
	case mode == "ps256-test-key":
		sig = signRSA(t, e.test, crypto.SHA256, true, input)
	case mode == "zero-signature":
		sig = make([]byte, e.test.Size())
	case strings.HasPrefix(mode, "hs"):
		alg, secret, ok := strings.Cut(mode, "-with-")
		require.True(t, ok, "sign %q", mode)
		var hf func() hash.Hash
		switch alg {
		case "hs256":
			hf = sha256.New
		case "hs384":
			hf = sha512.New384
		case "hs512":
			hf = sha512.New
		default:
			t.Fatalf("sign %q", mode)
		}
		mac := hmac.New(hf, e.hmacSecret(t, secret))
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	default:
		t.Fatalf("unknown signing mode %q", mode)
	}
	if r.Sign == "tamper" {
		require.True(t, r.TamperHeader != nil || r.TamperPayload != nil, "tamper needs tamper_header or tamper_payload")
		if r.TamperHeader != nil {
			hs = b64([]byte(e.expand(t, *r.TamperHeader, filler)))
		}
		if r.TamperPayload != nil {
			ps = b64([]byte(e.expand(t, *r.TamperPayload, filler)))
		}
	}
	tok := hs + "." + ps + "." + mutate(t, post, "signature", sig)
	for _, m := range post {
		switch m {
		case "json-general:", "json-flattened:":
			tok = jsonSerialization(t, tok, m == "json-general:")
		case "drop:signature":
			tok = hs + "." + ps
		}
	}
	return tok + e.expand(t, r.Append, filler)
}

func signRSA(t *testing.T, k *rsa.PrivateKey, h crypto.Hash, pss bool, input string) []byte {
	t.Helper()
	d := h.New()
	d.Write([]byte(input))
	var sig []byte
	var err error
	if pss {
		sig, err = rsa.SignPSS(rand.Reader, k, h, d.Sum(nil), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, d.Sum(nil))
	}
	require.NoError(t, err)
	return sig
}

// mutate encodes b as segment seg, applying the mutations in ms that name
// seg. Each mutation must change the encoding while a lenient decoder would
// still read the same bytes, so the case tests strictness and nothing else.
func mutate(t *testing.T, ms []string, seg string, b []byte) string {
	t.Helper()
	s := b64(b)
	for _, m := range ms {
		op, target, _ := strings.Cut(m, ":")
		if target != seg {
			continue
		}
		before := s
		switch op {
		case "pad":
			s = base64.URLEncoding.EncodeToString(b)
		case "std":
			s = base64.RawStdEncoding.EncodeToString(b)
		case "trailing-bits":
			require.NotZero(t, len(s)%4, "%s: %s has no trailing bits", m, seg)
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			i := strings.IndexByte(alphabet, s[len(s)-1])
			s = s[:len(s)-1] + string(alphabet[i|1])
		case "newline":
			s = s[:len(s)/2] + "\n" + s[len(s)/2:]
		case "drop":
			continue // buildRecipe drops the segment
		default:
			t.Fatalf("unknown mutation %q", m)
		}
		require.NotEqual(t, before, s, "%s changed nothing", m)
		if op != "newline" && op != "drop" {
			lenient, err := base64.URLEncoding.DecodeString(strings.NewReplacer("+", "-", "/", "_").Replace(padded(strings.TrimRight(s, "="))))
			if op == "trailing-bits" {
				lenient, err = base64.RawURLEncoding.DecodeString(s)
			}
			require.NoError(t, err, "%s: a lenient decoder must still read the segment", m)
			require.Equal(t, b, lenient, "%s: a lenient decoder must read the same bytes", m)
		}
	}
	return s
}

func padded(s string) string {
	if n := len(s) % 4; n != 0 {
		return s + strings.Repeat("=", 4-n)
	}
	return s
}

// jsonSerialization turns a compact JWS into the general or flattened JWS
// JSON Serialization (RFC 7515 §7.2), with the same, valid, signature.
func jsonSerialization(t *testing.T, compact string, general bool) string {
	t.Helper()
	parts := strings.Split(compact, ".")
	require.Len(t, parts, 3)
	sig := map[string]string{"protected": parts[0], "signature": parts[2]}
	var v any = map[string]any{"payload": parts[1], "protected": parts[0], "signature": parts[2]}
	if general {
		v = map[string]any{"payload": parts[1], "signatures": []any{sig}}
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// verifierUnderTest is one TokenVerifier with its name.
type verifierUnderTest struct {
	name string
	v    token.TokenVerifier
}

// remoteVerifier serves the fixture's JWKS plus a 1024-bit key and a key
// marked "use":"enc" (both able to sign the corpus's JWKS cases) from an
// httptest server and returns a remote Verifier over it.
func remoteVerifier(t *testing.T, f *adaptertest.Fixture, e *env) token.TokenVerifier {
	t.Helper()
	rec := httptest.NewRecorder()
	jwtauth.NewJWKSHandler(f.Keys, adaptertest.JWKSMaxAge).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	require.NotEmpty(t, doc.Keys)
	rsaJWK := func(k *rsa.PrivateKey, use string) map[string]any {
		return map[string]any{"kty": "RSA", "kid": e.kids[k], "use": use, "alg": "RS256",
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	}
	doc.Keys = append(doc.Keys, rsaJWK(e.weak, "sig"), rsaJWK(e.enc, "enc"))
	body, err := json.Marshal(doc)
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, ks, err := remote.NewVerifier(ctx,
		remote.Config{JWKSURL: srv.URL + "/.well-known/jwks.json", HTTPClient: srv.Client(), Logger: slog.New(slog.DiscardHandler)},
		token.VerifierConfig{Issuer: adaptertest.Issuer, Audience: []string{adaptertest.Audience}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ks.Close() })
	// The served set holds the weak and the enc key; the verifier must not use them.
	kids := ks.KIDs()
	assert.Contains(t, kids, e.kids[e.test])
	assert.NotContains(t, kids, e.kids[e.weak], "a 1024-bit key from the JWKS must not be usable")
	assert.NotContains(t, kids, e.kids[e.enc], `a "use":"enc" key from the JWKS must not be usable`)
	return v
}

// handlerUnderTest is an adapter's handler over one verifier.
type handlerUnderTest struct {
	name string
	h    http.Handler
}

func handlers(f *adaptertest.Fixture, vs []verifierUnderTest) []handlerUnderTest {
	gin.SetMode(gin.TestMode)
	var out []handlerUnderTest
	for _, v := range vs {
		auth := &authn.Authenticator{Verifier: v.v, Realm: adaptertest.Realm}
		out = append(out,
			handlerUnderTest{"nethttp/" + v.name, nethttp.Handler(f.Routes, auth)},
			handlerUnderTest{"gin/" + v.name, jwtgin.New(f.Routes, auth)})
	}
	return out
}

// challenge is the 401 answer the core gives for err: the header and body
// every adapter must send for a case expecting err.
func challenge(err error) (wwwAuthenticate, code string) {
	rec := httptest.NewRecorder()
	(&authn.Authenticator{Realm: adaptertest.Realm}).Challenge(rec, err)
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Header().Get("WWW-Authenticate"), body.Error
}

// get sends GET /protected with the token in header ("Authorization" as a
// Bearer credential, or "x-access-token").
func get(h http.Handler, header, token string) *http.Response {
	req := httptest.NewRequest(http.MethodGet, "/protected", nil)
	if header == "Authorization" {
		req.Header.Set("Authorization", "Bearer "+token)
	} else {
		req.Header.Set(header, token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// TestAttackCorpus runs every case of testdata/attacks against every
// verifier and every adapter.
func TestAttackCorpus(t *testing.T) {
	corpus := loadCorpus(t)
	require.GreaterOrEqual(t, len(corpus), minCases, "issue 7 asks for at least %d cases", minCases)

	f := adaptertest.NewFixture(t)
	e := newEnv(t, f)
	uncached, err := token.NewVerifier(token.VerifierConfig{Keys: f.Keys, Issuer: adaptertest.Issuer,
		Audience: []string{adaptertest.Audience}, CacheSize: -1})
	require.NoError(t, err)
	verifiers := []verifierUnderTest{
		{"local", f.Auth.Verifier},
		{"remote", remoteVerifier(t, f, e)},
		{"local uncached", uncached},
	}
	hs := handlers(f, verifiers)

	// The control: the recipe defaults make a valid token, which every
	// verifier and adapter accepts; so each rejection below is the attack's.
	// It also leaves the valid token in the caches of the local and remote
	// verifiers, so every attack (most are that token altered) meets a warm
	// cache there and a verifier without one beside them.
	t.Run("control", func(t *testing.T) {
		valid := e.build(t, attackCase{Name: "control", Recipe: &recipe{Sign: "rs256-test-key"}})
		for _, v := range verifiers {
			c, err := v.v.Verify(context.Background(), valid)
			require.NoError(t, err, v.name)
			assert.Equal(t, "alice", c.Subject, v.name)
		}
		for _, h := range hs {
			for _, header := range []string{"Authorization", "x-access-token"} {
				res := get(h.h, header, valid)
				assert.Equal(t, http.StatusOK, res.StatusCode, "%s with %s", h.name, header)
			}
		}
	})

	ctx := context.Background()
	for _, c := range corpus {
		t.Run(c.Name, func(t *testing.T) {
			tok := e.build(t, c)
			want := sentinels[c.Expect]
			for _, v := range verifiers {
				claims, err := v.v.Verify(ctx, tok)
				if assert.Error(t, err, "%s accepted %s (%s)", v.name, c.Name, c.file) {
					assert.ErrorIs(t, err, want, "%s: %s: got %v", v.name, c.file, err)
				}
				assert.Nil(t, claims, v.name)
			}
			wantAuth, wantCode := challenge(want)
			for _, h := range hs {
				for _, header := range []string{"Authorization", "x-access-token"} {
					res := get(h.h, header, tok)
					body, _ := io.ReadAll(res.Body)
					assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "%s with %s: %s", h.name, header, body)
					assert.Equal(t, wantAuth, res.Header.Get("WWW-Authenticate"), "%s with %s", h.name, header)
					var got struct {
						Error string `json:"error"`
					}
					assert.NoError(t, json.Unmarshal(body, &got), "%s with %s: body %s", h.name, header, body)
					assert.Equal(t, wantCode, got.Error, "%s with %s", h.name, header)
				}
			}
		})
	}
}

// TestCorpusCoversIssue7 keeps the corpus honest: every attack class issue 7
// lists has at least one case.
func TestCorpusCoversIssue7(t *testing.T) {
	classes := map[string]int{}
	for _, c := range loadCorpus(t) {
		classes[c.Class]++
	}
	for _, want := range []string{
		"alg-none", "algorithm-confusion", "signature-stripping", "payload-tampering", "foreign-key",
		"embedded-jwk", "key-url-headers", "kid-injection", "crit", "unencoded-payload", "expired",
		"not-yet-valid", "missing-exp", "numeric-date-types", "issuer", "audience", "duplicate-members",
		"non-canonical-base64url", "jwe", "json-serialization", "oversize", "deep-nesting",
		"jwks-weak-key", "jwks-enc-key",
	} {
		assert.Positive(t, classes[want], "no case of class %q", want)
	}
}
