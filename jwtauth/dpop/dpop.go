package dpop

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Errors of Verify. Every refused proof is an *Error that wraps one of them;
// its text names the reason only and never contains the proof, the access
// token or key material.
var (
	// ErrInvalidProof: the proof is missing, malformed, badly signed, stale,
	// replayed or for another request, token or key. A token endpoint
	// answers 400 invalid_dpop_proof, a resource 401 with
	// WWW-Authenticate: DPoP error="invalid_dpop_proof" (RFC 9449 §5, §7.1).
	ErrInvalidProof = errors.New("dpop: invalid DPoP proof")
	// ErrUseNonce: the proof lacks the server's current nonce (RFC 9449 §8,
	// §9). The answer is error "use_dpop_nonce" with the *Error's Nonce in
	// the DPoP-Nonce header; the client retries with a proof carrying it.
	ErrUseNonce = errors.New("dpop: use the server's DPoP nonce")
)

// Error is a refused proof. errors.Is(err, ErrInvalidProof) or
// errors.Is(err, ErrUseNonce) tells which kind.
type Error struct {
	// Reason says why in a few words, e.g. "htm does not match the request
	// method". It never contains input.
	Reason string
	// Nonce is, with ErrUseNonce, the nonce to send in DPoP-Nonce.
	Nonce string
	// ExpectedHTU is, when the proof's htu did not match, the URL the
	// server expected (normalized, at most 256 bytes): a client calling
	// the server by another host name or behind a proxy needs it. It may
	// come from the request's Host, so it is kept out of Error's text
	// (logs); Description adds it for the client.
	ExpectedHTU string
	kind        error
}

// Description is the text for the client's error_description: Reason,
// and for an htu mismatch the URL expected, e.g. "htu does not match the
// request URL, expected https://api.example.com/orders".
func (e *Error) Description() string {
	if e.ExpectedHTU == "" {
		return e.Reason
	}
	return e.Reason + ", expected " + e.ExpectedHTU
}

// Error returns the sentinel's text and the reason, e.g.
// "dpop: invalid DPoP proof: htm does not match the request method".
func (e *Error) Error() string { return e.kind.Error() + ": " + e.Reason }

// Unwrap returns ErrInvalidProof or ErrUseNonce.
func (e *Error) Unwrap() error { return e.kind }

func invalid(reason string) error { return &Error{Reason: reason, kind: ErrInvalidProof} }

// ErrorCode is the OAuth error code for err: "invalid_dpop_proof",
// "use_dpop_nonce" (RFC 9449 §7.1, §8), or "" for other errors (such as a
// failing ReplayCache, which is the server's fault).
func ErrorCode(err error) string {
	switch {
	case errors.Is(err, ErrUseNonce):
		return "use_dpop_nonce"
	case errors.Is(err, ErrInvalidProof):
		return "invalid_dpop_proof"
	}
	return ""
}

// Challenge is the WWW-Authenticate value of a resource's 401 (RFC 9449
// §7.1): `DPoP algs="ES256 EdDSA"`, with `error="<code>"` first when code
// is not empty, e.g. `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"`.
// code should be one of ErrorCode's answers.
func Challenge(code string, algs []string) string {
	var b strings.Builder
	b.WriteString("DPoP ")
	if code != "" {
		b.WriteString(`error="` + code + `", `)
	}
	b.WriteString(`algs="` + strings.Join(algs, " ") + `"`)
	return b.String()
}

// Proof is a verified DPoP proof (RFC 9449 §4.2).
type Proof struct {
	JKT   string           // RFC 7638 SHA-256 thumbprint of the proof key, base64url: a bound token's cnf.jkt (§6.1)
	Key   crypto.PublicKey // the proof key: *ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey
	Alg   string           // the JWS alg, one of Config.Algs
	JTI   string           // unique identifier of the proof
	HTM   string           // HTTP method of the request
	HTU   string           // HTTP target URI as the proof wrote it (without query and fragment)
	IAT   time.Time        // creation time
	ATH   string           // base64url SHA-256 of the access token; "" when absent
	Nonce string           // server nonce (§8); "" when absent
}

// ProofRequest is what Verify checks a proof against.
type ProofRequest struct {
	// Header holds every value of the request's DPoP header, e.g.
	// r.Header.Values("DPoP"); exactly one is accepted (RFC 9449 §4.3).
	Header []string
	// Method is the request method, compared with htm exactly.
	Method string
	// URL is the target URI of the request as the client sees it (scheme,
	// host, path; behind a proxy, the public one). A query and fragment are
	// ignored; both sides are normalized per RFC 3986 §6.2.2–6.2.3 (scheme
	// and host lower-cased, default port removed, empty path as "/",
	// percent-encoding normalized; dot segments are not removed).
	URL string
	// AccessToken, when not empty, must be hashed in the proof's ath
	// (resource requests, §4.3 step 11, §7); it is "" at token endpoints.
	AccessToken string
	// JKT, when not empty, is the thumbprint the token or refresh family is
	// bound to (cnf.jkt); the proof key must have it (§6, §5).
	JKT string
}

// Algorithm names Config.Algs may hold (RFC 7518 §3.1, RFC 8037 §3.1,
// RFC 9864 for "Ed25519"). "none" and the HMAC algorithms are never
// accepted: a proof must be signed by a private key whose public half it
// carries.
const (
	ES256   = "ES256"   // ECDSA P-256 SHA-256, jwk kty EC crv P-256
	EdDSA   = "EdDSA"   // Ed25519, jwk kty OKP crv Ed25519
	Ed25519 = "Ed25519" // the same, under its fully specified name
	RS256   = "RS256"   // RSASSA-PKCS1-v1_5 SHA-256, jwk kty RSA of at least 2048 bits
	PS256   = "PS256"   // RSASSA-PSS SHA-256, jwk kty RSA of at least 2048 bits
)

// keyKind is the jwk a signature algorithm needs.
type keyKind int

const (
	kindEC keyKind = iota + 1
	kindOKP
	kindRSA
)

var algKinds = map[string]keyKind{ES256: kindEC, EdDSA: kindOKP, Ed25519: kindOKP, RS256: kindRSA, PS256: kindRSA}

// Defaults of Config.
const (
	DefaultIATWindow       = 60 * time.Second
	DefaultLeeway          = 5 * time.Second
	DefaultMaxProofSize    = 8 << 10
	DefaultReplayCacheSize = 100_000
	DefaultReplayTimeout   = 5 * time.Second
	// MaxJTILength bounds the jti claim, in bytes.
	MaxJTILength = 256
)

// DefaultAlgs are the algorithms accepted when Config.Algs is empty.
var DefaultAlgs = []string{ES256, EdDSA}

// Config configures a Verifier. The zero value is usable.
type Config struct {
	// Algs are the accepted JWS algorithms, advertised as
	// dpop_signing_alg_values_supported and in challenges; default
	// DefaultAlgs. Allowed: ES256, EdDSA, Ed25519, RS256, PS256.
	Algs []string
	// IATWindow is how old a proof may be (iat at least now−IATWindow),
	// default 60 s. Its jti is remembered that long (RFC 9449 §11.1).
	IATWindow time.Duration
	// Leeway is how far in the future iat may be (clock skew), default 5 s.
	Leeway time.Duration
	// MaxProofSize bounds the DPoP header value in bytes, checked before
	// any decoding; default 8 KiB.
	MaxProofSize int
	// Replay remembers the proofs seen; default an in-memory cache of
	// ReplayCacheSize entries, private to this process (see ReplayCache).
	Replay ReplayCache
	// ReplayCacheSize bounds the default in-memory cache; default 100,000.
	ReplayCacheSize int
	// ReplayTimeout bounds each call into Replay (a shared store's write
	// may wait on a lock): past it Verify fails with the cache's error (a
	// server failure, not ErrInvalidProof); default 5 s.
	ReplayTimeout time.Duration
	// Nonce, when set, makes every proof carry a nonce it accepts
	// (RFC 9449 §8); otherwise nonces are not checked.
	Nonce NonceSource
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Verifier checks DPoP proofs (RFC 9449 §4.3). It is safe for concurrent use.
type Verifier struct {
	algs         []string
	allowed      map[string]keyKind
	window       time.Duration
	leeway       time.Duration
	maxProofSize int
	replay       ReplayCache
	replayWait   time.Duration
	nonce        NonceSource
	now          func() time.Time
}

// NewVerifier returns a Verifier for cfg. It fails on an unknown algorithm,
// on "none" or an HMAC algorithm, and on negative durations or sizes.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{
		window: cfg.IATWindow, leeway: cfg.Leeway, maxProofSize: cfg.MaxProofSize,
		replay: cfg.Replay, replayWait: cfg.ReplayTimeout, nonce: cfg.Nonce, now: cfg.Now,
		allowed: map[string]keyKind{},
	}
	algs := cfg.Algs
	if len(algs) == 0 {
		algs = DefaultAlgs
	}
	for _, a := range algs {
		kind, ok := algKinds[a]
		switch {
		case a == "none" || strings.HasPrefix(a, "HS"):
			return nil, fmt.Errorf("dpop: Algs: %q is never allowed: a proof must be signed by an asymmetric key", a)
		case !ok:
			return nil, fmt.Errorf("dpop: Algs: unsupported algorithm %q (ES256, EdDSA, Ed25519, RS256, PS256)", a)
		}
		if _, dup := v.allowed[a]; !dup {
			v.allowed[a] = kind
			v.algs = append(v.algs, a)
		}
	}
	if v.window < 0 || v.leeway < 0 || v.maxProofSize < 0 || cfg.ReplayCacheSize < 0 || v.replayWait < 0 {
		return nil, errors.New("dpop: IATWindow, Leeway, MaxProofSize, ReplayCacheSize and ReplayTimeout must not be negative")
	}
	if v.window == 0 {
		v.window = DefaultIATWindow
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}
	if v.maxProofSize == 0 {
		v.maxProofSize = DefaultMaxProofSize
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.replayWait == 0 {
		v.replayWait = DefaultReplayTimeout
	}
	if v.replay == nil {
		size := cfg.ReplayCacheSize
		if size == 0 {
			size = DefaultReplayCacheSize
		}
		v.replay = NewMemoryReplayCache(size)
	}
	return v, nil
}

// Algs returns the accepted algorithms, in the configured order: the
// values of dpop_signing_alg_values_supported and of a challenge's algs.
func (v *Verifier) Algs() []string { return append([]string(nil), v.algs...) }

// Challenge is Challenge(ErrorCode(err), v.Algs()): the WWW-Authenticate
// value answering err (or, with a nil err, a request without credentials).
func (v *Verifier) Challenge(err error) string { return Challenge(ErrorCode(err), v.algs) }

// ATH returns the ath claim for accessToken: base64url (no padding) of its
// SHA-256 over its ASCII bytes (RFC 9449 §4.2).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Verify checks the request's DPoP proof per RFC 9449 §4.3 and returns it.
// In order: exactly one DPoP header of at most MaxProofSize bytes; a
// compact JWS of three canonical base64url parts; a header of unique
// members with typ "dpop+jwt", an accepted alg, no crit, and a jwk that is a
// public key of the alg's type (P-256, Ed25519, or RSA of 2048–8192 bits)
// with no private member; a valid signature; claims of unique members with
// jti (1–256 bytes), htm equal to r.Method, htu equal to r.URL after
// normalization, iat within [now−IATWindow, now+Leeway]; ath equal to
// ATH(r.AccessToken) when r.AccessToken is set; the key's thumbprint equal
// to r.JKT when set; an accepted nonce when Config.Nonce is set (else an
// ErrUseNonce error); and a jkt+jti pair not seen within IATWindow, which
// Verify then records. A refused proof is an *Error wrapping
// ErrInvalidProof or ErrUseNonce; a failing ReplayCache returns its own
// error wrapped (neither sentinel).
func (v *Verifier) Verify(ctx context.Context, r ProofRequest) (*Proof, error) {
	switch {
	case len(r.Header) == 0 || len(r.Header) == 1 && r.Header[0] == "":
		return nil, invalid("no DPoP header")
	case len(r.Header) > 1:
		return nil, invalid("more than one DPoP header")
	}
	jws := r.Header[0]
	if len(jws) > v.maxProofSize {
		return nil, invalid(fmt.Sprintf("proof larger than %d bytes", v.maxProofSize))
	}
	h, rest, ok1 := strings.Cut(jws, ".")
	c, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, invalid("not a compact JWS of three parts")
	}
	hb, err := decodeSegment(h)
	if err != nil {
		return nil, invalid("header is not canonical base64url")
	}
	cb, err := decodeSegment(c)
	if err != nil {
		return nil, invalid("claims are not canonical base64url")
	}
	sig, err := decodeSegment(s)
	if err != nil {
		return nil, invalid("signature is not canonical base64url")
	}

	p := &Proof{}
	key, err := v.parseHeader(hb, p)
	if err != nil {
		return nil, err
	}
	if !key.verify(p.Alg, jws[:len(h)+1+len(c)], sig) {
		return nil, invalid("bad signature")
	}
	p.Key, p.JKT = key.pub, key.thumbprint()
	if err := parseClaims(cb, p); err != nil {
		return nil, err
	}

	if p.HTM != r.Method {
		return nil, invalid("htm does not match the request method")
	}
	want, ok := normalizeURL(r.URL)
	if !ok {
		return nil, invalid("request URL is not an absolute http(s) URL")
	}
	got, ok := normalizeURL(p.HTU)
	if !ok {
		return nil, invalid("htu is not an absolute http(s) URL")
	}
	if got != want {
		return nil, &Error{Reason: "htu does not match the request URL", ExpectedHTU: clip(want, 256), kind: ErrInvalidProof}
	}
	now := v.now()
	if p.IAT.Before(now.Add(-v.window)) {
		return nil, invalid("iat too old")
	}
	if p.IAT.After(now.Add(v.leeway)) {
		return nil, invalid("iat in the future")
	}
	if r.AccessToken != "" {
		if p.ATH == "" {
			return nil, invalid("ath missing with an access token")
		}
		if p.ATH != ATH(r.AccessToken) {
			return nil, invalid("ath does not match the access token")
		}
	}
	if r.JKT != "" && p.JKT != r.JKT {
		return nil, invalid("proof key does not match the bound key (jkt)")
	}
	if v.nonce != nil {
		if err := v.checkNonce(ctx, p.Nonce); err != nil {
			return nil, err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, v.replayWait)
	seen, err := v.replay.Seen(rctx, replayKey(p.JKT, p.JTI), p.IAT.Add(v.window), now)
	if err == nil && !seen && rctx.Err() != nil {
		// An answer past the deadline is not trusted: the request may have
		// been given up on, and a cache that ignores ctx must not decide.
		err = rctx.Err()
	}
	cancel()
	if err != nil {
		return nil, fmt.Errorf("dpop: replay cache: %w", err)
	}
	if seen {
		return nil, invalid("jti already used (replay)")
	}
	return p, nil
}

func (v *Verifier) checkNonce(ctx context.Context, nonce string) error {
	if nonce != "" && v.nonce.Valid(ctx, nonce) {
		return nil
	}
	fresh, err := v.nonce.Nonce(ctx)
	if err != nil {
		return fmt.Errorf("dpop: nonce source: %w", err)
	}
	reason := "nonce required"
	if nonce != "" {
		reason = "nonce not current"
	}
	return &Error{Reason: reason, Nonce: fresh, kind: ErrUseNonce}
}

// replayKey is the ReplayCache key of a proof: base64url SHA-256 of jkt, a
// zero byte and jti, so a key is 43 bytes whatever the jti.
func replayKey(jkt, jti string) string {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0]))
}

var strictB64 = base64.RawURLEncoding.Strict()

// decodeSegment decodes canonical base64url without padding (RFC 7515 §2):
// '=', '+', '/', CR, LF and non-zero trailing bits are refused.
func decodeSegment(seg string) ([]byte, error) {
	if strings.ContainsAny(seg, "\r\n") { // Strict still skips CR and LF
		return nil, errors.New("not canonical")
	}
	return strictB64.DecodeString(seg)
}

// maxMembers bounds the members of the header, the jwk and the claims, so
// the duplicate check (quadratic) stays cheap.
const maxMembers = 32

var parsers fastjson.ParserPool

// parseObject validates b as strict JSON holding one object and returns it.
// The value lives as long as p.
func parseObject(p *fastjson.Parser, b []byte, what string) (*fastjson.Value, error) {
	if fastjson.ValidateBytes(b) != nil {
		return nil, invalid(what + " is not valid JSON")
	}
	v, err := p.ParseBytes(b)
	if err != nil || v.Type() != fastjson.TypeObject {
		return nil, invalid(what + " is not a JSON object")
	}
	return v, nil
}

// members calls member for each member of the object v in order, failing
// on more than maxMembers members or a repeated name (RFC 7515 §5.2, RFC
// 7519 §4: a parser may refuse duplicates; taking the last lets a tampered
// copy win).
func members(v *fastjson.Value, what string, member func(name string, v *fastjson.Value) error) error {
	o, _ := v.Object()
	if o.Len() > maxMembers {
		return invalid(fmt.Sprintf("%s has more than %d members", what, maxMembers))
	}
	var seen [maxMembers]string
	names := seen[:0]
	var err error
	o.Visit(func(key []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		for _, n := range names {
			if n == string(key) {
				err = invalid(what + " has a duplicate member")
				return
			}
		}
		names = append(names, string(key))
		err = member(names[len(names)-1], v)
	})
	return err
}

// str returns v as a string, or an error naming what.
func str(v *fastjson.Value, what string) (string, error) {
	b, err := v.StringBytes()
	if err != nil {
		return "", invalid(what + " is not a string")
	}
	return string(b), nil
}

// parseHeader reads the JOSE header (RFC 9449 §4.2): typ, alg, jwk; crit
// is refused, other members ignored. It sets p.Alg and returns the key.
func (v *Verifier) parseHeader(b []byte, p *Proof) (*publicKey, error) {
	parser := parsers.Get()
	defer parsers.Put(parser)
	obj, err := parseObject(parser, b, "header")
	if err != nil {
		return nil, err
	}
	var typ string
	var jwk *fastjson.Value
	err = members(obj, "header", func(name string, val *fastjson.Value) (err error) {
		switch name {
		case "typ":
			typ, err = str(val, "typ")
		case "alg":
			p.Alg, err = str(val, "alg")
		case "jwk":
			if val.Type() != fastjson.TypeObject {
				return invalid("jwk is not a JSON object")
			}
			jwk = val
		case "crit":
			return invalid("crit header not supported")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case typ == "":
		return nil, invalid("typ missing")
	case typ != "dpop+jwt":
		return nil, invalid(`typ is not "dpop+jwt"`)
	case p.Alg == "":
		return nil, invalid("alg missing")
	}
	kind, ok := v.allowed[p.Alg]
	if !ok {
		return nil, invalid("alg not allowed")
	}
	if jwk == nil {
		return nil, invalid("jwk missing")
	}
	return parseJWK(jwk, kind)
}

// parseClaims reads the claims (RFC 9449 §4.2) into p; unknown claims are
// ignored.
func parseClaims(b []byte, p *Proof) error {
	parser := parsers.Get()
	defer parsers.Put(parser)
	obj, err := parseObject(parser, b, "claims")
	if err != nil {
		return err
	}
	hasIAT := false
	err = members(obj, "claims", func(name string, val *fastjson.Value) (err error) {
		switch name {
		case "jti":
			p.JTI, err = str(val, "jti")
		case "htm":
			p.HTM, err = str(val, "htm")
		case "htu":
			p.HTU, err = str(val, "htu")
		case "ath":
			p.ATH, err = str(val, "ath")
		case "nonce":
			p.Nonce, err = str(val, "nonce")
		case "iat":
			hasIAT = true
			p.IAT, err = numericDate(val)
		}
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case p.JTI == "":
		return invalid("jti missing")
	case len(p.JTI) > MaxJTILength:
		return invalid(fmt.Sprintf("jti longer than %d bytes", MaxJTILength))
	case p.HTM == "":
		return invalid("htm missing")
	case p.HTU == "":
		return invalid("htu missing")
	case !hasIAT:
		return invalid("iat missing")
	}
	return nil
}

// maxNumericDate is the end of the year 9999, so time arithmetic cannot
// overflow.
const maxNumericDate = 253402300799

// numericDate reads a NumericDate (RFC 7519 §2): a JSON number of seconds,
// possibly fractional, from 0 to the year 9999.
func numericDate(v *fastjson.Value) (time.Time, error) {
	if v.Type() != fastjson.TypeNumber {
		return time.Time{}, invalid("iat is not a number")
	}
	f, err := v.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, invalid("iat out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// clip returns s cut to at most n bytes, at a rune boundary, marked with
// "…" when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
