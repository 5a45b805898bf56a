package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// testNow is the injected clock of every test; proofs are made for it.
var testNow = time.Unix(1_800_000_000, 0)

const (
	testURL   = "https://api.example.com/resource"
	testToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
)

var b64 = base64.RawURLEncoding.EncodeToString

// testKeys are the proof keys of the tests, made once.
type testKeys struct {
	ec, ec2 *ecdsa.PrivateKey
	p384    *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	rsa     *rsa.PrivateKey
	weak    *rsa.PrivateKey
}

func newKeys(tb testing.TB) *testKeys {
	tb.Helper()
	gen := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &testKeys{ec: gen(elliptic.P256()), ec2: gen(elliptic.P256()), p384: gen(elliptic.P384()), ed: ed,
		rsa: keystest.Keys(tb)[0], weak: keystest.Weak(tb)}
}

var jtiCounter atomic.Int64

// jwkMap is the public jwk of pub as a map, so rows can add members.
func jwkMap(tb testing.TB, pub crypto.PublicKey) map[string]any {
	tb.Helper()
	m := map[string]any{}
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		pt, err := pub.Bytes()
		if err != nil {
			tb.Fatal(err)
		}
		size := (len(pt) - 1) / 2
		m["kty"], m["crv"], m["x"], m["y"] = "EC", pub.Curve.Params().Name, b64(pt[1:1+size]), b64(pt[1+size:])
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	default:
		k, err := fromPublic(pub)
		if err != nil {
			tb.Fatal(err)
		}
		if err := json.Unmarshal([]byte(k.jwkJSON()), &m); err != nil {
			tb.Fatal(err)
		}
	}
	return m
}

// proofParts are the header and claims of a proof before signing.
type proofParts struct {
	header, claims, jwk map[string]any
}

func defaultParts(tb testing.TB, key crypto.Signer, alg string) proofParts {
	j := jwkMap(tb, key.Public())
	return proofParts{
		header: map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": j},
		jwk:    j,
		claims: map[string]any{"jti": "jti-" + strconv.FormatInt(jtiCounter.Add(1), 10), "htm": "GET", "htu": testURL, "iat": testNow.Unix()},
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// signRaw signs header and claims JSON as given with key under alg.
func signRaw(tb testing.TB, key crypto.Signer, alg string, header, claims []byte) string {
	tb.Helper()
	s, err := sign(key, alg, header, claims)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func algOf(key crypto.Signer) string {
	switch key.(type) {
	case *ecdsa.PrivateKey:
		return ES256
	case ed25519.PrivateKey:
		return EdDSA
	}
	return RS256
}

func newTestVerifier(tb testing.TB, cfg Config) *Verifier {
	tb.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestVerifyAccepts(t *testing.T) {
	k := newKeys(t)
	rsaAlgs := Config{Algs: []string{ES256, EdDSA, Ed25519, RS256, PS256}}
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		opts ProofOptions
		cfg  Config
		htu  string // the proof's htu, default testURL
		url  string // the request URL, default testURL
	}{
		{name: "ES256", key: k.ec},
		{name: "EdDSA", key: k.ed},
		{name: "Ed25519 alg name", key: k.ed, opts: ProofOptions{Alg: Ed25519}, cfg: rsaAlgs},
		{name: "RS256 enabled", key: k.rsa, cfg: rsaAlgs},
		{name: "PS256 enabled", key: k.rsa, opts: ProofOptions{Alg: PS256}, cfg: rsaAlgs},
		{name: "with access token", key: k.ec, opts: ProofOptions{AccessToken: testToken}},
		{name: "iat at the window's start", key: k.ec, opts: ProofOptions{Now: testNow.Add(-DefaultIATWindow)}},
		{name: "iat within the leeway", key: k.ed, opts: ProofOptions{Now: testNow.Add(DefaultLeeway)}},
		{name: "request URL query ignored", key: k.ec, url: testURL + "?page=2#top"},
		{name: "htu scheme, host case and default port", key: k.ec, htu: "HTTPS://API.Example.COM:443/resource"},
		{name: "request URL default port", key: k.ec, url: "https://api.example.com:443/resource"},
		{name: "http default port", key: k.ec, htu: "http://api.example.com:80/resource", url: "http://API.example.com/resource"},
		{name: "percent-encoding normalized", key: k.ec, htu: "https://api.example.com/%7Euser/a%2fb", url: "https://api.example.com/~user/a%2Fb"},
		{name: "empty path is /", key: k.ec, htu: "https://api.example.com", url: "https://api.example.com/"},
		{name: "non-default port kept", key: k.ec, htu: "https://api.example.com:8443/resource", url: "https://api.example.com:8443/resource"},
		{name: "IPv6 host", key: k.ec, htu: "https://[2001:DB8::1]:443/r", url: "https://[2001:db8::1]/r"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(t, tc.cfg)
			htu, reqURL := tc.htu, tc.url
			if htu == "" {
				htu = testURL
			}
			if reqURL == "" {
				reqURL = testURL
			}
			opts := tc.opts
			if opts.Now.IsZero() {
				opts.Now = testNow
			}
			proof, err := NewProof(tc.key, "GET", htu, opts)
			if err != nil {
				t.Fatal(err)
			}
			jkt, err := Thumbprint(tc.key.Public())
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(context.Background(), ProofRequest{Header: []string{proof}, Method: "GET", URL: reqURL, AccessToken: opts.AccessToken, JKT: jkt})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wantAlg := opts.Alg
			if wantAlg == "" {
				wantAlg = algOf(tc.key)
			}
			u, _ := url.Parse(htu)
			wantHTU := u.String() // NewProof writes the scheme in lower case
			wantATH := ""
			if opts.AccessToken != "" {
				wantATH = ATH(opts.AccessToken)
			}
			if p.JKT != jkt || p.Alg != wantAlg || p.HTM != "GET" || p.HTU != wantHTU || !p.IAT.Equal(opts.Now.Truncate(time.Second)) ||
				p.ATH != wantATH || p.Nonce != "" || len(p.JTI) != 26 {
				t.Errorf("proof = %+v, want jkt %s alg %s htu %s iat %v ath %q and a 26-byte jti", p, jkt, wantAlg, wantHTU, opts.Now, wantATH)
			}
			if got, err := Thumbprint(p.Key); err != nil || got != jkt {
				t.Errorf("Thumbprint(p.Key) = %q, %v; want %q", got, err, jkt)
			}
		})
	}
}

// row is one refused proof: parts are edited, then signed, then the proof,
// the request or the configuration may be edited.
type row struct {
	name   string
	key    crypto.Signer // signs, and is the jwk; default k.ec
	alg    string
	cfg    Config
	edit   func(p *proofParts)
	raw    func(header, claims []byte) ([]byte, []byte) // edit the JSON text
	proof  func(jws string) string
	req    func(r *ProofRequest)
	want   string // the exact reason
	nonce  bool   // want ErrUseNonce rather than ErrInvalidProof
	sigKey crypto.Signer
}

func badRows(tb testing.TB, k *testKeys) []row {
	rsaCfg := Config{Algs: []string{ES256, EdDSA, RS256}}
	otherJKT, err := Thumbprint(k.ec2.Public())
	if err != nil {
		tb.Fatal(err)
	}
	replace := func(b []byte, old, new string) []byte { return []byte(strings.Replace(string(b), old, new, 1)) }
	return []row{
		// the DPoP header itself
		{name: "no header", proof: func(string) string { return "" }, want: "no DPoP header"},
		{name: "two DPoP headers", req: func(r *ProofRequest) { r.Header = append(r.Header, r.Header[0]) }, want: "more than one DPoP header"},
		{name: "oversized proof", edit: func(p *proofParts) { p.claims["pad"] = strings.Repeat("a", 8<<10) }, want: "proof larger than 8192 bytes"},
		{name: "over a smaller MaxProofSize", cfg: Config{MaxProofSize: 300}, want: "proof larger than 300 bytes"},
		// JWS structure and encoding
		{name: "truncated: two parts", proof: func(s string) string { return s[:strings.LastIndex(s, ".")] }, want: "not a compact JWS of three parts"},
		{name: "truncated: one part", proof: func(s string) string { return s[:strings.Index(s, ".")] }, want: "not a compact JWS of three parts"},
		{name: "four parts", proof: func(s string) string { return s + ".e30" }, want: "not a compact JWS of three parts"},
		{name: "truncated signature", proof: func(s string) string {
			sig, _ := base64.RawURLEncoding.DecodeString(s[strings.LastIndex(s, ".")+1:])
			return s[:strings.LastIndex(s, ".")+1] + b64(sig[:len(sig)-16])
		}, want: "bad signature"},
		{name: "padded header", proof: func(s string) string { h, r, _ := strings.Cut(s, "."); return h + "==." + r }, want: "header is not canonical base64url"},
		{name: "padded claims", proof: func(s string) string {
			p := strings.Split(s, ".")
			return p[0] + "." + p[1] + "==." + p[2]
		}, want: "claims are not canonical base64url"},
		{name: "signature with a newline", proof: func(s string) string { return s[:len(s)-10] + "\n" + s[len(s)-10:] }, want: "signature is not canonical base64url"},
		{name: "signature with non-zero trailing bits", proof: func(s string) string {
			// 64 bytes are 86 characters: the last one carries 4 unused bits.
			last := strings.IndexByte(alphabet, s[len(s)-1])
			return s[:len(s)-1] + string(alphabet[last|1])
		}, want: "signature is not canonical base64url"},
		{name: "standard base64 alphabet", proof: func(s string) string {
			p := strings.Split(s, ".")
			return p[0] + "." + p[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(p[2]+"-_")
		}, want: "signature is not canonical base64url"},
		// header
		{name: "header not JSON", raw: func(h, c []byte) ([]byte, []byte) { return []byte("{typ"), c }, want: "header is not valid JSON"},
		{name: "header an array", raw: func(h, c []byte) ([]byte, []byte) { return []byte("[1]"), c }, want: "header is not a JSON object"},
		{name: "duplicate alg", raw: func(h, c []byte) ([]byte, []byte) { return replace(h, `{`, `{"alg":"EdDSA",`), c }, want: "header has a duplicate member"},
		{name: "typ missing", edit: func(p *proofParts) { delete(p.header, "typ") }, want: "typ missing"},
		{name: "typ jwt", edit: func(p *proofParts) { p.header["typ"] = "JWT" }, want: `typ is not "dpop+jwt"`},
		{name: "typ in other case", edit: func(p *proofParts) { p.header["typ"] = "DPoP+jwt" }, want: `typ is not "dpop+jwt"`},
		{name: "typ a number", edit: func(p *proofParts) { p.header["typ"] = 1 }, want: "typ is not a string"},
		{name: "crit", edit: func(p *proofParts) { p.header["crit"] = []string{"exp"} }, want: "crit header not supported"},
		{name: "alg missing", edit: func(p *proofParts) { delete(p.header, "alg") }, want: "alg missing"},
		{name: "alg none", edit: func(p *proofParts) { p.header["alg"] = "none" }, proof: func(s string) string { return s[:strings.LastIndex(s, ".")+1] }, want: "alg not allowed"},
		{name: "alg HS256", edit: func(p *proofParts) { p.header["alg"] = "HS256" }, proof: func(s string) string {
			in := s[:strings.LastIndex(s, ".")]
			m := hmac.New(sha256.New, []byte("secret"))
			m.Write([]byte(in))
			return in + "." + b64(m.Sum(nil))
		}, want: "alg not allowed"},
		{name: "alg HS256 with an oct jwk", edit: func(p *proofParts) {
			p.header["alg"] = "HS256"
			p.header["jwk"] = map[string]any{"kty": "oct", "k": b64([]byte("secret"))}
		}, want: "alg not allowed"},
		{name: "RS256 not enabled", key: k.rsa, want: "alg not allowed"},
		{name: "ES384", key: k.p384, alg: "ES384", proof: func(s string) string { return s }, want: "alg not allowed", sigKey: k.ec},
		{name: "jwk missing", edit: func(p *proofParts) { delete(p.header, "jwk") }, want: "jwk missing"},
		{name: "jwk a string", edit: func(p *proofParts) { p.header["jwk"] = "key" }, want: "jwk is not a JSON object"},
		{name: "jwk duplicate x", raw: func(h, c []byte) ([]byte, []byte) { return replace(h, `"jwk":{`, `"jwk":{"x":"AA",`), c }, want: "jwk has a duplicate member"},
		// jwk against alg
		{name: "ES256 with an OKP key", edit: func(p *proofParts) { p.header["jwk"] = jwkMap(tb, k.ed.Public()) }, want: "jwk kty does not match alg"},
		{name: "EdDSA with an EC key", key: k.ed, edit: func(p *proofParts) { p.header["jwk"] = jwkMap(tb, k.ec.Public()) }, want: "jwk kty does not match alg"},
		{name: "RS256 with an EC key", cfg: rsaCfg, key: k.rsa, edit: func(p *proofParts) { p.header["jwk"] = jwkMap(tb, k.ec.Public()) }, want: "jwk kty does not match alg"},
		{name: "ES256 with a P-384 key", edit: func(p *proofParts) { p.header["jwk"] = jwkMap(tb, k.p384.Public()) }, want: "jwk crv does not match alg"},
		{name: "EdDSA with X25519", key: k.ed, edit: func(p *proofParts) { p.jwk["crv"] = "X25519" }, want: "jwk crv does not match alg"},
		{name: "EC point off the curve", edit: func(p *proofParts) { p.jwk["y"] = p.jwk["x"] }, want: "jwk is not a point on P-256"},
		{name: "EC x short", edit: func(p *proofParts) { p.jwk["x"] = b64(make([]byte, 31)) }, want: "jwk x or y is not a canonical 32-byte coordinate"},
		{name: "EC private key (d)", edit: func(p *proofParts) { p.jwk["d"] = b64(k.ec.D.Bytes()) }, want: "jwk holds a private or symmetric key"},
		{name: "OKP private key (d)", key: k.ed, edit: func(p *proofParts) { p.jwk["d"] = b64(k.ed.Seed()) }, want: "jwk holds a private or symmetric key"},
		{name: "RSA private key (d)", cfg: rsaCfg, key: k.rsa, edit: func(p *proofParts) { p.jwk["d"] = b64(k.rsa.D.Bytes()) }, want: "jwk holds a private or symmetric key"},
		{name: "RSA prime (p)", cfg: rsaCfg, key: k.rsa, edit: func(p *proofParts) { p.jwk["p"] = b64(k.rsa.Primes[0].Bytes()) }, want: "jwk holds a private or symmetric key"},
		{name: "symmetric member (k)", edit: func(p *proofParts) { p.jwk["k"] = "c2VjcmV0" }, want: "jwk holds a private or symmetric key"},
		{name: "RSA 1024", cfg: rsaCfg, key: k.weak, want: "jwk RSA modulus not of 2048–8192 bits"},
		{name: "RSA n with a leading zero", cfg: rsaCfg, key: k.rsa, edit: func(p *proofParts) { p.jwk["n"] = b64(append([]byte{0}, k.rsa.N.Bytes()...)) }, want: "jwk n or e is not a canonical unsigned integer"},
		{name: "RSA even e", cfg: rsaCfg, key: k.rsa, edit: func(p *proofParts) { p.jwk["e"] = b64([]byte{1, 0, 0}) }, want: "jwk e is not an odd integer of at least 3"},
		// signature
		{name: "signed by another key", sigKey: k.ec2, want: "bad signature"},
		{name: "claims changed after signing", proof: func(s string) string {
			p := strings.Split(s, ".")
			c, _ := base64.RawURLEncoding.DecodeString(p[1])
			return p[0] + "." + b64([]byte(strings.Replace(string(c), `"GET"`, `"PUT"`, 1))) + "." + p[2]
		}, req: func(r *ProofRequest) { r.Method = "PUT" }, want: "bad signature"},
		{name: "EdDSA signature bit flipped", key: k.ed, proof: func(s string) string {
			sig, _ := base64.RawURLEncoding.DecodeString(s[strings.LastIndex(s, ".")+1:])
			sig[5] ^= 1
			return s[:strings.LastIndex(s, ".")+1] + b64(sig)
		}, want: "bad signature"},
		{name: "ES256 signature in DER", proof: func(s string) string {
			sig, _ := base64.RawURLEncoding.DecodeString(s[strings.LastIndex(s, ".")+1:])
			return s[:strings.LastIndex(s, ".")+1] + b64(asn1Signature(nil, sig[:32], sig[32:]))
		}, want: "bad signature"},
		// claims
		{name: "claims not an object", raw: func(h, c []byte) ([]byte, []byte) { return h, []byte(`"x"`) }, want: "claims is not a JSON object"},
		{name: "duplicate htu", raw: func(h, c []byte) ([]byte, []byte) {
			return h, replace(c, `{`, `{"htu":"https://evil.example/resource",`)
		}, want: "claims has a duplicate member"},
		{name: "jti missing", edit: func(p *proofParts) { delete(p.claims, "jti") }, want: "jti missing"},
		{name: "jti empty", edit: func(p *proofParts) { p.claims["jti"] = "" }, want: "jti missing"},
		{name: "jti a number", edit: func(p *proofParts) { p.claims["jti"] = 7 }, want: "jti is not a string"},
		{name: "jti too long", edit: func(p *proofParts) { p.claims["jti"] = strings.Repeat("j", 257) }, want: "jti longer than 256 bytes"},
		{name: "htm missing", edit: func(p *proofParts) { delete(p.claims, "htm") }, want: "htm missing"},
		{name: "htu missing", edit: func(p *proofParts) { delete(p.claims, "htu") }, want: "htu missing"},
		{name: "iat missing", edit: func(p *proofParts) { delete(p.claims, "iat") }, want: "iat missing"},
		{name: "iat a string", edit: func(p *proofParts) { p.claims["iat"] = strconv.FormatInt(testNow.Unix(), 10) }, want: "iat is not a number"},
		{name: "iat negative", edit: func(p *proofParts) { p.claims["iat"] = -1 }, want: "iat out of range"},
		{name: "iat past 9999", edit: func(p *proofParts) { p.claims["iat"] = 1e300 }, want: "iat out of range"},
		{name: "wrong htm", edit: func(p *proofParts) { p.claims["htm"] = "POST" }, want: "htm does not match the request method"},
		{name: "htm in lower case", edit: func(p *proofParts) { p.claims["htm"] = "get" }, want: "htm does not match the request method"},
		{name: "wrong htu host", edit: func(p *proofParts) { p.claims["htu"] = "https://other.example.com/resource" }, want: "htu does not match the request URL"},
		{name: "wrong htu path", edit: func(p *proofParts) { p.claims["htu"] = testURL + "/2" }, want: "htu does not match the request URL"},
		{name: "htu path case", edit: func(p *proofParts) { p.claims["htu"] = "https://api.example.com/Resource" }, want: "htu does not match the request URL"},
		{name: "htu http for https", edit: func(p *proofParts) { p.claims["htu"] = "http://api.example.com/resource" }, want: "htu does not match the request URL"},
		{name: "htu another port", edit: func(p *proofParts) { p.claims["htu"] = "https://api.example.com:8443/resource" }, want: "htu does not match the request URL"},
		{name: "htu relative", edit: func(p *proofParts) { p.claims["htu"] = "/resource" }, want: "htu is not an absolute http(s) URL"},
		{name: "htu with user info", edit: func(p *proofParts) { p.claims["htu"] = "https://u@api.example.com/resource" }, want: "htu is not an absolute http(s) URL"},
		{name: "htu ftp", edit: func(p *proofParts) { p.claims["htu"] = "ftp://api.example.com/resource" }, want: "htu is not an absolute http(s) URL"},
		{name: "request URL relative", req: func(r *ProofRequest) { r.URL = "/resource" }, want: "request URL is not an absolute http(s) URL"},
		{name: "iat too old", edit: func(p *proofParts) { p.claims["iat"] = testNow.Add(-DefaultIATWindow - time.Second).Unix() }, want: "iat too old"},
		{name: "iat older than a shorter window", cfg: Config{IATWindow: 10 * time.Second}, edit: func(p *proofParts) { p.claims["iat"] = testNow.Unix() - 11 }, want: "iat too old"},
		{name: "iat beyond the leeway", edit: func(p *proofParts) { p.claims["iat"] = testNow.Add(DefaultLeeway + time.Second).Unix() }, want: "iat in the future"},
		{name: "iat a fraction beyond the leeway", edit: func(p *proofParts) { p.claims["iat"] = float64(testNow.Unix()) + 5.5 }, want: "iat in the future"},
		{name: "ath missing with a token", req: func(r *ProofRequest) { r.AccessToken = testToken }, want: "ath missing with an access token"},
		{name: "wrong ath", edit: func(p *proofParts) { p.claims["ath"] = ATH(testToken + "x") }, req: func(r *ProofRequest) { r.AccessToken = testToken }, want: "ath does not match the access token"},
		{name: "ath a number", edit: func(p *proofParts) { p.claims["ath"] = 1 }, want: "ath is not a string"},
		{name: "another key's jkt", req: func(r *ProofRequest) { r.JKT = otherJKT }, want: "proof key does not match the bound key (jkt)"},
	}
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// makeRow returns the proof, request and configuration of r.
func makeRow(tb testing.TB, k *testKeys, r row) (string, ProofRequest, Config) {
	key := r.key
	if key == nil {
		key = k.ec
	}
	alg := r.alg
	if alg == "" {
		alg = algOf(key)
	}
	parts := defaultParts(tb, key, alg)
	if r.edit != nil {
		r.edit(&parts)
	}
	h, c := mustJSON(tb, parts.header), mustJSON(tb, parts.claims)
	if r.raw != nil {
		h, c = r.raw(h, c)
	}
	sigKey, sigAlg := key, alg
	if r.sigKey != nil {
		sigKey, sigAlg = r.sigKey, algOf(r.sigKey)
	}
	if _, ok := algKinds[sigAlg]; !ok {
		sigAlg = ES256
	}
	proof := signRaw(tb, sigKey, sigAlg, h, c)
	if r.proof != nil {
		proof = r.proof(proof)
	}
	req := ProofRequest{Header: []string{proof}, Method: "GET", URL: testURL}
	if r.req != nil {
		r.req(&req)
	}
	return proof, req, r.cfg
}

func TestVerifyRefuses(t *testing.T) {
	k := newKeys(t)
	for _, r := range badRows(t, k) {
		t.Run(r.name, func(t *testing.T) {
			proof, req, cfg := makeRow(t, k, r)
			v := newTestVerifier(t, cfg)
			p, err := v.Verify(context.Background(), req)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalidProof) || p != nil {
				t.Fatalf("Verify = %+v, %v; want an *Error wrapping ErrInvalidProof", p, err)
			}
			if e.Reason != r.want {
				t.Errorf("reason %q, want %q", e.Reason, r.want)
			}
			if want := "dpop: invalid DPoP proof: " + r.want; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if len(proof) > 8 && strings.Contains(err.Error(), proof) {
				t.Errorf("error %q contains the proof", err)
			}
			if ErrorCode(err) != "invalid_dpop_proof" {
				t.Errorf("ErrorCode = %q", ErrorCode(err))
			}
		})
	}
}

func TestVerifyRefusesReplay(t *testing.T) {
	k := newKeys(t)
	now := testNow
	v := newTestVerifier(t, Config{Now: func() time.Time { return now }})
	proof, err := NewProof(k.ec, "POST", testURL, ProofOptions{Now: testNow, JTI: "once"})
	if err != nil {
		t.Fatal(err)
	}
	req := ProofRequest{Header: []string{proof}, Method: "POST", URL: testURL}
	if _, err := v.Verify(context.Background(), req); err != nil {
		t.Fatalf("first use: %v", err)
	}
	now = testNow.Add(DefaultIATWindow) // the last moment the proof is fresh
	_, err = v.Verify(context.Background(), req)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalidProof) || e.Reason != "jti already used (replay)" {
		t.Fatalf("second use: %v, want the replay refusal", err)
	}
	// The same jti by another key is another proof.
	other, err := NewProof(k.ec2, "POST", testURL, ProofOptions{Now: testNow, JTI: "once"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), ProofRequest{Header: []string{other}, Method: "POST", URL: testURL}); err != nil {
		t.Fatalf("same jti, another key: %v", err)
	}
	// A refused proof does not use up its jti.
	fresh, err := NewProof(k.ed, "POST", testURL, ProofOptions{Now: now, JTI: "later"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), ProofRequest{Header: []string{fresh}, Method: "GET", URL: testURL}); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("wrong method: %v", err)
	}
	if _, err := v.Verify(context.Background(), ProofRequest{Header: []string{fresh}, Method: "POST", URL: testURL}); err != nil {
		t.Fatalf("after a refusal: %v", err)
	}
}

type failingCache struct{}

func (failingCache) Seen(context.Context, string, time.Time, time.Time) (bool, error) {
	return false, errors.New("store down")
}

func TestVerifyReplayCacheFailure(t *testing.T) {
	k := newKeys(t)
	v := newTestVerifier(t, Config{Replay: failingCache{}})
	proof, err := NewProof(k.ec, "GET", testURL, ProofOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), ProofRequest{Header: []string{proof}, Method: "GET", URL: testURL})
	if err == nil || errors.Is(err, ErrInvalidProof) || ErrorCode(err) != "" || err.Error() != "dpop: replay cache: store down" {
		t.Fatalf("Verify = %v, want the cache's error, not an invalid proof", err)
	}
}

func TestVerifyNonce(t *testing.T) {
	k := newKeys(t)
	now := testNow
	clock := func() time.Time { return now }
	nonces, err := NewRotatingNonces([]byte(strings.Repeat("s", 32)), time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, Config{Nonce: nonces, Now: clock})
	current, _ := nonces.Nonce(context.Background())
	verify := func(nonce string) (*Proof, error) {
		proof, err := NewProof(k.ed, "POST", testURL, ProofOptions{Now: now, Nonce: nonce})
		if err != nil {
			t.Fatal(err)
		}
		return v.Verify(context.Background(), ProofRequest{Header: []string{proof}, Method: "POST", URL: testURL})
	}
	for _, tc := range []struct{ nonce, reason string }{{"", "nonce required"}, {"made-up", "nonce not current"}} {
		_, err := verify(tc.nonce)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrUseNonce) || errors.Is(err, ErrInvalidProof) || e.Reason != tc.reason || e.Nonce != current {
			t.Fatalf("nonce %q: %v (%+v), want ErrUseNonce %q carrying %q", tc.nonce, err, e, tc.reason, current)
		}
		if ErrorCode(err) != "use_dpop_nonce" || v.Challenge(err) != `DPoP error="use_dpop_nonce", algs="ES256 EdDSA"` {
			t.Errorf("code %q, challenge %q", ErrorCode(err), v.Challenge(err))
		}
	}
	if p, err := verify(current); err != nil || p.Nonce != current {
		t.Fatalf("current nonce: %v, %v", p, err)
	}
	now = now.Add(time.Minute) // the previous period's nonce still passes
	if _, err := verify(current); err != nil {
		t.Fatalf("previous nonce: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err := verify(current); !errors.Is(err, ErrUseNonce) {
		t.Fatalf("nonce two periods old: %v", err)
	}
	if _, err := NewRotatingNonces(make([]byte, 31), time.Minute, nil); err == nil {
		t.Error("31-byte secret accepted")
	}
}

func TestMemoryReplayCache(t *testing.T) {
	ctx := context.Background()
	c := NewMemoryReplayCache(2)
	exp := testNow.Add(time.Minute)
	seen := func(key string, expires, now time.Time) bool {
		s, err := c.Seen(ctx, key, expires, now)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if seen("a", exp, testNow) || !seen("a", exp, testNow) {
		t.Fatal("a: want new, then seen")
	}
	if seen("b", exp, testNow) || seen("c", exp, testNow) || c.Evicted() != 1 || c.Len() != 2 {
		t.Fatalf("full cache: evicted %d, len %d; want 1, 2", c.Evicted(), c.Len())
	}
	if !seen("a", exp, testNow) { // a was evicted, the oldest, before its expiry: it cannot be told from a replay
		t.Fatal("a, evicted early, answered unseen")
	}
	if !seen("c", exp, exp) {
		t.Fatal("c forgotten at its expiry")
	}
	if seen("c", exp.Add(time.Minute), exp.Add(time.Nanosecond)) || c.Len() != 1 {
		t.Fatalf("after expiry: c still seen or not dropped (len %d)", c.Len())
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Algs: []string{"none"}}, `dpop: Algs: "none" is never allowed: a proof must be signed by an asymmetric key`},
		{Config{Algs: []string{ES256, "HS256"}}, `dpop: Algs: "HS256" is never allowed: a proof must be signed by an asymmetric key`},
		{Config{Algs: []string{"ES384"}}, `dpop: Algs: unsupported algorithm "ES384" (ES256, EdDSA, Ed25519, RS256, PS256)`},
		{Config{IATWindow: -1}, "dpop: IATWindow, Leeway, MaxProofSize, ReplayCacheSize and ReplayTimeout must not be negative"},
	} {
		if _, err := NewVerifier(tc.cfg); err == nil || err.Error() != tc.want {
			t.Errorf("NewVerifier(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestChallenge(t *testing.T) {
	v := newTestVerifier(t, Config{})
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, `DPoP algs="ES256 EdDSA"`},
		{invalid("bad signature"), `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"`},
		{errors.New("other"), `DPoP algs="ES256 EdDSA"`},
	} {
		if got := v.Challenge(tc.err); got != tc.want {
			t.Errorf("Challenge(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if got := Challenge("invalid_dpop_proof", []string{RS256}); got != `DPoP error="invalid_dpop_proof", algs="RS256"` {
		t.Errorf("Challenge = %q", got)
	}
}

// TestThumbprintAgainstJWX checks Thumbprint and NewProof against an
// independent JOSE implementation: jwx computes the same RFC 7638
// thumbprints and verifies the proofs with the jwk they carry.
func TestThumbprintAgainstJWX(t *testing.T) {
	k := newKeys(t)
	for _, tc := range []struct {
		key crypto.Signer
		alg jwa.SignatureAlgorithm
	}{{k.ec, jwa.ES256()}, {k.ed, jwa.EdDSA()}, {k.rsa, jwa.RS256()}} {
		jk, err := jwk.Import(tc.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		sum, err := jk.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Thumbprint(tc.key.Public())
		if err != nil || got != b64(sum) {
			t.Errorf("%s: Thumbprint = %q, %v; jwx says %q", tc.alg, got, err, b64(sum))
		}
		proof, err := NewProof(tc.key, "GET", testURL+"?q=1#f", ProofOptions{Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		payload, err := jws.Verify([]byte(proof), jws.WithKey(tc.alg, tc.key.Public()))
		if err != nil {
			t.Fatalf("%s: jwx refuses the proof: %v", tc.alg, err)
		}
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil || claims["htu"] != testURL || claims["htm"] != "GET" || claims["iat"] != float64(testNow.Unix()) {
			t.Errorf("%s: claims %v, want htu %s without query and fragment", tc.alg, claims, testURL)
		}
	}
	if _, err := Thumbprint(&k.p384.PublicKey); err == nil {
		t.Error("P-384 key accepted")
	}
	if _, err := Thumbprint(&k.weak.PublicKey); err == nil {
		t.Error("1024-bit RSA key accepted")
	}
}

func TestATH(t *testing.T) {
	// RFC 9449 §7.1's example: the token and its ath.
	const tok = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	if got := ATH(tok); got != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Errorf("ATH = %q", got)
	}
}

// TestMemoryReplayCacheGrows: the ring starts small and grows up to its
// size, also when its oldest entry is not at the start (expired entries
// were dropped before it grew), keeping every key and the recording order.
func TestMemoryReplayCacheGrows(t *testing.T) {
	ctx := context.Background()
	const size = 300
	c := NewMemoryReplayCache(size)
	seen := func(key string, expires, now time.Time) bool {
		t.Helper()
		s, err := c.Seen(ctx, key, expires, now)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	early, later := testNow.Add(time.Minute), testNow.Add(time.Hour)
	for i := range 40 {
		seen(fmt.Sprintf("early-%d", i), early, testNow)
	}
	now := early.Add(time.Second) // the early keys have expired: the ring's head moves past them
	for i := range size {
		if seen(fmt.Sprintf("k-%d", i), later, now) {
			t.Fatalf("k-%d seen before it was recorded", i)
		}
	}
	if c.Len() != size || c.Evicted() != 0 {
		t.Fatalf("len %d, evicted %d; want %d, 0", c.Len(), c.Evicted(), size)
	}
	for i := range size {
		if !seen(fmt.Sprintf("k-%d", i), later, now) {
			t.Fatalf("k-%d forgotten while the ring grew", i)
		}
	}
	if seen("one-more", later.Add(time.Second), now.Add(time.Second)) || c.Evicted() != 1 {
		t.Fatalf("full: evicted %d, want 1", c.Evicted())
	}
	if c.Len() != size || !seen("k-1", later, now) || !seen("k-299", later, now) {
		t.Fatal("a key other than the oldest (k-0) forgotten")
	}
}

// TestHTUMismatchNamesTheURL: the refusal of a proof for another URL names
// the URL the server expected (what a client behind a proxy or using
// another host name needs) in ExpectedHTU and Description, clipped so that
// a long Host cannot swell it, and keeps it out of the error's text, which
// is logged.
func TestHTUMismatchNamesTheURL(t *testing.T) {
	v, err := NewVerifier(Config{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.Repeat("a", 300) + ".example.com"
	proof, err := NewProof(key, "GET", "https://api.example.com/orders", ProofOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), ProofRequest{Header: []string{proof}, Method: "GET", URL: "https://" + host + "/orders"})
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("err %v, want a *dpop.Error", err)
	}
	want := "https://" + host[:256-len("https://")] + "…"
	if de.Reason != "htu does not match the request URL" || de.ExpectedHTU != want || strings.Contains(err.Error(), host[:20]) {
		t.Fatalf("reason %q, expected htu %q, error %q; want the fixed reason, %q, and no host in the error's text", de.Reason, de.ExpectedHTU, err, want)
	}
	if got := de.Description(); got != "htu does not match the request URL, expected "+want {
		t.Fatalf("description %q", got)
	}
	if got := clip("ab€", 3); got != "ab…" { // not inside the 3-byte rune
		t.Fatalf("clip cut a rune: %q", got)
	}
}

// TestReplayFloodByOneKey: a client that floods the verifier with its own
// valid proofs (more than the replay cache holds, within the window) must
// not reopen another client's proof to replay. With the oldest entry of
// all forgotten first, the victim's proof was accepted again after the
// flood (the adversarial trial: 100,147 proofs in 17 s against serve).
func TestReplayFloodByOneKey(t *testing.T) {
	const size = 64
	now := testNow
	v := newTestVerifier(t, Config{ReplayCacheSize: size, Now: func() time.Time { return now }})
	victim, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	flooder, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(proof string) error {
		_, err := v.Verify(context.Background(), ProofRequest{Header: []string{proof}, Method: "GET", URL: testURL})
		return err
	}
	captured, err := NewProof(victim, "GET", testURL, ProofOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(captured); err != nil {
		t.Fatal(err)
	}
	for i := range 4 * size {
		now = now.Add(200 * time.Millisecond) // the cache spans 12.8 s of proofs
		p, err := NewProof(flooder, "GET", testURL, ProofOptions{Now: now, JTI: fmt.Sprintf("flood-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(p); err != nil {
			t.Fatalf("flood proof %d refused: %v", i, err) // a full cache never refuses a valid proof
		}
	}
	var de *Error
	if err := verify(captured); !errors.As(err, &de) || de.Reason != "jti already used (replay)" {
		t.Fatalf("the victim's proof replayed after the flood: %v, want refused as a replay", err)
	}
	c := v.replay.(*MemoryReplayCache)
	if c.Len() != size || c.Evicted() != 3*size+1 {
		t.Fatalf("len %d, evicted %d; want %d, %d", c.Len(), c.Evicted(), size, 3*size+1)
	}
}

// TestReplayFloodCannotReopenABusyVictim: the trial's cases against the
// rule that a full cache forgets the busiest key's entries first, which
// left a victim busier than each flooding key exposed: a victim with 40
// proofs in the cache and two flooding keys (35 and 26 proofs), and a
// victim with 10 proofs among 89 other clients and one flooding key.
// Either way the captured proof stays refused; fresh proofs, the victim's
// included, are still accepted.
func TestReplayFloodCannotReopenABusyVictim(t *testing.T) {
	for _, c := range []struct {
		name           string
		victim, others int
		flooders       []int
	}{
		{"two flooding keys", 40, 0, []int{35, 26}},
		{"one flooding key among other clients", 10, 89, []int{2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := testNow
			v := newTestVerifier(t, Config{ReplayCacheSize: 100, Now: func() time.Time { return now }})
			key := func() *ecdsa.PrivateKey {
				k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				return k
			}
			send := func(k *ecdsa.PrivateKey) (string, error) {
				now = now.Add(100 * time.Millisecond) // the cache spans 10 s of proofs
				p, err := NewProof(k, "GET", testURL, ProofOptions{Now: now})
				if err != nil {
					t.Fatal(err)
				}
				_, err = v.Verify(context.Background(), ProofRequest{Header: []string{p}, Method: "GET", URL: testURL})
				return p, err
			}
			victim := key()
			captured, err := send(victim)
			if err != nil {
				t.Fatal(err)
			}
			for range c.victim - 1 {
				if _, err := send(victim); err != nil {
					t.Fatal(err)
				}
			}
			for range c.others {
				if _, err := send(key()); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range c.flooders {
				k := key()
				for range n {
					if _, err := send(k); err != nil {
						t.Fatalf("a flood proof refused: %v", err) // a full cache never refuses a fresh proof
					}
				}
			}
			if v.replay.(*MemoryReplayCache).Evicted() == 0 {
				t.Fatal("the cache never overflowed: the test checks nothing")
			}
			_, err = v.Verify(context.Background(), ProofRequest{Header: []string{captured}, Method: "GET", URL: testURL})
			var de *Error
			if !errors.As(err, &de) || de.Reason != "jti already used (replay)" {
				t.Fatalf("the captured proof after the flood: %v, want refused", err)
			}
			if _, err := send(victim); err != nil {
				t.Fatalf("a fresh proof by the victim after the flood: %v", err)
			}
		})
	}
}

// TestMemoryReplayCacheForgetsNothingItCannotTell: once a full cache has
// forgotten a key early, it answers "seen" for every key that could have
// been recorded by the forgotten one's recording time (expiry less the
// longest lifetime recorded), and records keys that could not.
func TestMemoryReplayCacheForgetsNothingItCannotTell(t *testing.T) {
	ctx := context.Background()
	c := NewMemoryReplayCache(2)
	seen := func(key string, expires, now time.Time) bool {
		t.Helper()
		s, err := c.Seen(ctx, key, expires, now)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const life = time.Minute
	t1, t2, t3 := testNow, testNow.Add(time.Second), testNow.Add(2*time.Second)
	seen("a", t1.Add(life), t1)
	seen("b", t2.Add(life), t2)
	if seen("c", t3.Add(life), t3) || c.Evicted() != 1 { // a is forgotten: recorded at t1
		t.Fatalf("evicted %d, want 1", c.Evicted())
	}
	if !seen("a", t1.Add(life), t3) {
		t.Fatal("a, forgotten early, accepted again")
	}
	if !seen("never", t1.Add(life), t3) { // could have been recorded at t1
		t.Fatal("a key as old as the forgotten one recorded")
	}
	if seen("fresh", t3.Add(life), t3) { // recorded after t1 or not at all
		t.Fatal("a fresh key answered seen")
	}
}

// blockingCache waits for its context, as a store behind a held lock does.
type blockingCache struct{}

func (blockingCache) Seen(ctx context.Context, _ string, _, _ time.Time) (bool, error) {
	if _, ok := ctx.Deadline(); !ok {
		return false, errors.New("no deadline")
	}
	<-ctx.Done()
	return false, ctx.Err()
}

// TestVerifyReplayTimeout: ReplayTimeout bounds the replay cache's call;
// past it Verify fails as a server failure, not as an invalid proof.
func TestVerifyReplayTimeout(t *testing.T) {
	k := newKeys(t)
	v := newTestVerifier(t, Config{Replay: blockingCache{}, ReplayTimeout: time.Millisecond})
	proof, err := NewProof(k.ec, "GET", testURL, ProofOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), ProofRequest{Header: []string{proof}, Method: "GET", URL: testURL})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrInvalidProof) || ErrorCode(err) != "" {
		t.Fatalf("Verify = %v, want the cache's deadline error, not an invalid proof", err)
	}
	if _, err := NewVerifier(Config{ReplayTimeout: -time.Second}); err == nil {
		t.Fatal("a negative ReplayTimeout accepted")
	}
}

// lateCache answers "unseen" only after its context is done, as a cache
// that ignores ctx and answers late does.
type lateCache struct{}

func (lateCache) Seen(ctx context.Context, _ string, _, _ time.Time) (bool, error) {
	<-ctx.Done()
	return false, nil
}

// TestVerifyDistrustsALateAnswer: an "unseen" that arrives after
// ReplayTimeout is not trusted: Verify fails as a server failure.
func TestVerifyDistrustsALateAnswer(t *testing.T) {
	k := newKeys(t)
	v := newTestVerifier(t, Config{Replay: lateCache{}, ReplayTimeout: time.Millisecond})
	proof, err := NewProof(k.ec, "GET", testURL, ProofOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), ProofRequest{Header: []string{proof}, Method: "GET", URL: testURL})
	if p != nil || !errors.Is(err, context.DeadlineExceeded) || ErrorCode(err) != "" {
		t.Fatalf("Verify = %v, %v; want no proof and the deadline's error", p, err)
	}
}
