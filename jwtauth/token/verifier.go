package token

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/jwtauth/jwtauth/jwtauth/internal/errfmt"
	"math"
	"slices"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/valyala/fastjson"
)

// MaxTokenSize is the largest token, in bytes, a Verifier decodes (8 KiB).
// Larger input is refused before any decoding or cryptography.
const MaxTokenSize = 8 << 10

// DefaultCacheSize is the number of verified tokens a Verifier remembers by
// default (10 000); see VerifierConfig.CacheSize.
const DefaultCacheSize = 10_000

// DefaultLeeway is the clock skew tolerated on exp, nbf and iat (30 s).
const DefaultLeeway = 30 * time.Second

// KeySet gives the public key for a kid. keys.Set and keys.Manager (local
// keys) and remote.KeySet implement it. Verify fails with
// ErrUnknownKey for every error it returns, wrapping it: keys.ErrUnknownKey
// and keys.ErrKeyRevoked name the token's fault; other errors (such as
// remote.ErrKeySetUnavailable or ErrStoreUnavailable) stay in the
// chain, and the Authenticator answers them with 503 rather than 401.
type KeySet interface {
	VerificationKey(ctx context.Context, kid string) (*rsa.PublicKey, error)
}

// TokenVerifier verifies a raw access token; *Verifier implements it. The
// middleware of the adapters takes this interface.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*Claims, error)
}

// VerifierConfig configures a Verifier. Keys, Issuer and Audience are
// required unless the loudly named opt-outs are set.
type VerifierConfig struct {
	// Keys supplies the verification keys, by kid.
	Keys KeySet
	// Issuer is the exact iss every token must carry.
	Issuer string
	// Audience lists the accepted audiences: aud must contain at least one.
	Audience []string
	// Leeway is the clock skew tolerated on exp, nbf and iat. Zero means
	// DefaultLeeway (30 s); a negative value means none.
	Leeway time.Duration
	// Algorithms lists the accepted JWS algorithms (RFC 7518 §3.1). Default
	// ["RS256"]; only RSA algorithms (RS256/384/512, PS256/384/512) may be
	// listed: HMAC and "none" make NewVerifier fail.
	Algorithms []string
	// RequiredClaims lists claims that must be present besides exp (always
	// required), e.g. "sub", "jti".
	RequiredClaims []string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// CacheSize bounds the cache of verified tokens, in entries: a token
	// seen before is answered by a map lookup instead of an RSA
	// verification. Zero means DefaultCacheSize (10 000); a negative value
	// turns the cache off. Each entry holds the token and its claims (about
	// 1.2 KiB for the tokens of this package's Issuer, at most MaxTokenSize
	// twice), evicted least recently used first. Only successes are cached;
	// on every hit exp, nbf and iat are checked against Now with the leeway,
	// and the key the token was verified with must still be the one Keys
	// returns for its kid, so expiry, revocation, removal and a replaced
	// remote key act at once.
	CacheSize int

	// Trace, when set, is told about every verification and cache lookup
	// (see VerifierTrace); nil: nothing is reported.
	Trace *VerifierTrace

	// InsecureSkipIssuerCheck accepts any iss. Only for tests and tools.
	InsecureSkipIssuerCheck bool
	// InsecureSkipAudienceCheck accepts any aud. Only for tests and tools.
	InsecureSkipAudienceCheck bool
}

// Verifier verifies access tokens (RFC 7519 §7.2, RFC 8725) against a key
// set. It is safe for concurrent use.
type Verifier struct {
	keys     KeySet
	issuer   string
	audience []string
	leeway   time.Duration
	algs     []rsaAlg
	required []string
	now      func() time.Time
	skipIss  bool
	skipAud  bool
	// cache maps a whole raw token to its verification; nil when off.
	cache *lru.Cache[string, *verified]
	// trace is VerifierConfig.Trace; nil without one.
	trace *VerifierTrace
}

// verified is a cached successful verification. Nothing in it changes
// after it is added; a hit returns claims.clone().
type verified struct {
	kid    string
	pub    *rsa.PublicKey // the key the signature was checked with
	claims *Claims
}

type rsaAlg struct {
	name string
	hash crypto.Hash
	pss  bool
}

var rsaAlgs = map[string]rsaAlg{
	"RS256": {"RS256", crypto.SHA256, false}, "RS384": {"RS384", crypto.SHA384, false}, "RS512": {"RS512", crypto.SHA512, false},
	"PS256": {"PS256", crypto.SHA256, true}, "PS384": {"PS384", crypto.SHA384, true}, "PS512": {"PS512", crypto.SHA512, true},
}

// verifySignature checks sig, the JWS Signature of the signing input (RFC
// 7515 §5.2: BASE64URL(header) "." BASE64URL(payload)), with pub under alg:
// RSASSA-PKCS1-v1_5 (RFC 7518 §3.3) or RSASSA-PSS with MGF1 over the same
// hash and a salt as long as the hash output (RFC 7518 §3.5). It fails
// for any signature these do not accept, including one of the wrong length.
func verifySignature(pub *rsa.PublicKey, alg rsaAlg, input string, sig []byte) error {
	var digest []byte
	switch alg.hash {
	case crypto.SHA256:
		sum := sha256.Sum256([]byte(input))
		digest = sum[:]
	case crypto.SHA384:
		sum := sha512.Sum384([]byte(input))
		digest = sum[:]
	case crypto.SHA512:
		sum := sha512.Sum512([]byte(input))
		digest = sum[:]
	default:
		return fmt.Errorf("%w: hash %v", ErrUnsupportedAlgorithm, alg.hash)
	}
	if alg.pss {
		return rsa.VerifyPSS(pub, alg.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: alg.hash})
	}
	return rsa.VerifyPKCS1v15(pub, alg.hash, digest, sig)
}

// NewVerifier checks cfg and returns a Verifier. It fails when Keys is nil,
// Issuer or Audience is empty without the matching Insecure opt-out, or an
// algorithm is not an RSA signature algorithm.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Keys == nil {
		return nil, errors.New("jwtauth: VerifierConfig.Keys is required")
	}
	if cfg.Issuer == "" && !cfg.InsecureSkipIssuerCheck {
		return nil, errors.New("jwtauth: VerifierConfig.Issuer is required")
	}
	if len(cfg.Audience) == 0 && !cfg.InsecureSkipAudienceCheck {
		return nil, errors.New("jwtauth: VerifierConfig.Audience is required")
	}
	v := &Verifier{
		keys: cfg.Keys, issuer: cfg.Issuer, audience: slices.Clone(cfg.Audience),
		leeway: cfg.Leeway, required: slices.Clone(cfg.RequiredClaims), now: cfg.Now,
		skipIss: cfg.InsecureSkipIssuerCheck, skipAud: cfg.InsecureSkipAudienceCheck,
		trace: cfg.Trace,
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	} else if v.leeway < 0 {
		v.leeway = 0
	}
	if v.now == nil {
		v.now = time.Now
	}
	names := cfg.Algorithms
	if len(names) == 0 {
		names = []string{keys.Algorithm}
	}
	for _, n := range names {
		a, ok := rsaAlgs[n]
		if !ok {
			return nil, fmt.Errorf("jwtauth: algorithm %q cannot verify with RSA keys (allowed: RS256, RS384, RS512, PS256, PS384, PS512)", n)
		}
		v.algs = append(v.algs, a)
	}
	for _, c := range v.required {
		switch c {
		case "iss", "sub", "aud", "exp", "nbf", "iat", "jti":
		default:
			return nil, fmt.Errorf("jwtauth: RequiredClaims: %q is not a registered claim this verifier checks", c)
		}
	}
	if cfg.CacheSize >= 0 {
		size := cfg.CacheSize
		if size == 0 {
			size = DefaultCacheSize
		}
		cache, err := lru.New[string, *verified](size)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: CacheSize: %w", err)
		}
		v.cache = cache
	}
	return v, nil
}

// Leeway returns the clock skew the verifier tolerates.
func (v *Verifier) Leeway() time.Duration { return v.leeway }

var strictB64 = base64.RawURLEncoding.Strict()

// errorf is errfmt.Errorf: the text carries "jwtauth: " once however deep
// the chain.
var errorf = errfmt.Errorf

// decodeSegment decodes one segment as canonical base64url without padding
// (RFC 7515 §2): '=', '+', '/', CR, LF and non-zero trailing bits are refused.
func decodeSegment(seg, name string) ([]byte, error) {
	b, err := strictB64.DecodeString(seg)
	if err != nil || strings.ContainsAny(seg, "\r\n") { // Strict still skips CR and LF
		return nil, fmt.Errorf("%w: %s is not canonical base64url", ErrTokenMalformed, name)
	}
	return b, nil
}

// header is the part of a JOSE header (RFC 7515 §4.1) the verifier reads.
type header struct {
	alg, kid, typ string
}

// parsers parse headers and claims without allocating per member.
var parsers fastjson.ParserPool

// maxMembers bounds the members of a header or claims object, so that the
// duplicate check (quadratic) stays cheap on input no signature vouches for.
const maxMembers = 64

// parseJSONObject validates b as strict RFC 8259 JSON holding one object and
// calls member for each member in order, failing on a repeated name (RFC
// 7515 §5.2 and RFC 7519 §4 let a parser reject duplicates; accepting the
// last one lets a tampered copy win). Values are only valid during member.
func parseJSONObject(b []byte, member func(name string, v *fastjson.Value) error) error {
	if err := fastjson.ValidateBytes(b); err != nil {
		return errors.New("not valid JSON")
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(b)
	if err != nil {
		return errors.New("not valid JSON")
	}
	o, err := v.Object()
	if err != nil {
		return errors.New("not a JSON object")
	}
	if o.Len() > maxMembers {
		return fmt.Errorf("more than %d members", maxMembers)
	}
	var seen [16]string
	names := seen[:0]
	o.Visit(func(key []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		for _, n := range names {
			if n == string(key) {
				err = fmt.Errorf("duplicate member %q", key)
				return
			}
		}
		name := string(key)
		names = append(names, name)
		err = member(name, v)
	})
	return err
}

func jsonString(v *fastjson.Value, name string) (string, error) {
	b, err := v.StringBytes()
	if err != nil {
		return "", fmt.Errorf("%s must be a string", name)
	}
	return string(b), nil
}

// jsonNumericDate reads an RFC 7519 §2 NumericDate: a JSON number (never a
// string), non-negative, at most the year 9999, fractions allowed.
func jsonNumericDate(v *fastjson.Value, name string) (time.Time, error) {
	if v.Type() != fastjson.TypeNumber {
		return time.Time{}, fmt.Errorf("%s must be a JSON number (NumericDate)", name)
	}
	if i, err := v.Int64(); err == nil {
		if i < 0 || i > maxNumericDate {
			return time.Time{}, fmt.Errorf("%s out of range", name)
		}
		return time.Unix(i, 0), nil
	}
	f, err := v.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, fmt.Errorf("%s out of range", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

func parseHeader(b []byte) (header, error) {
	var h header
	var hasAlg bool
	err := parseJSONObject(b, func(name string, v *fastjson.Value) error {
		var err error
		switch name {
		case "alg":
			h.alg, err = jsonString(v, name)
			hasAlg = true
		case "kid":
			h.kid, err = jsonString(v, name)
		case "typ":
			h.typ, err = jsonString(v, name)
		case "crit":
			// No extension is understood, so any crit makes the token
			// unacceptable (RFC 7515 §4.1.11), including b64 (RFC 7797).
			err = ErrUnsupportedCritical
		case "b64":
			if v.Type() != fastjson.TypeTrue {
				err = fmt.Errorf("%w: unencoded payload (RFC 7797)", ErrUnsupportedCritical)
			}
		}
		// jku, x5u, jwk, x5c and anything else are ignored: keys come only
		// from the configured key set (RFC 8725 §3.10).
		return err
	})
	if err != nil {
		if errors.Is(err, ErrUnsupportedCritical) {
			return h, err
		}
		return h, fmt.Errorf("%w: header: %v", ErrTokenMalformed, err)
	}
	if !hasAlg {
		return h, fmt.Errorf("%w: header has no alg", ErrTokenMalformed)
	}
	if h.typ != "" && !strings.EqualFold(h.typ, "JWT") && !strings.EqualFold(h.typ, "at+jwt") {
		return h, fmt.Errorf("%w: typ %q is not JWT", ErrTokenMalformed, h.typ)
	}
	return h, nil
}

// parseClaims decodes a claims set strictly: registered claims must have
// their RFC 7519 §4.1 types, dates must be JSON numbers.
func parseClaims(b []byte) (*Claims, error) {
	c := &Claims{}
	var extra []byte // the Extra values, one after the other: one allocation
	err := parseJSONObject(b, func(name string, v *fastjson.Value) error {
		var err error
		switch name {
		case "iss":
			c.Issuer, err = jsonString(v, name)
		case "sub":
			c.Subject, err = jsonString(v, name)
		case "jti":
			c.ID, err = jsonString(v, name)
		case "aud":
			c.Audience, err = jsonAudience(v)
		case "exp":
			c.ExpiresAt, err = jsonNumericDate(v, name)
		case "nbf":
			c.NotBefore, err = jsonNumericDate(v, name)
		case "iat":
			c.IssuedAt, err = jsonNumericDate(v, name)
		case "cnf":
			c.jkt, err = jsonConfirmation(v)
			c.bound = true
			fallthrough // kept in extra too: Decode("cnf") and MarshalJSON see it
		default:
			if err != nil {
				return err
			}
			if c.extra == nil {
				c.extra = make(map[string]json.RawMessage)
				extra = make([]byte, 0, len(b))
			}
			start := len(extra)
			extra = v.MarshalTo(extra)
			c.extra[name] = extra[start:len(extra):len(extra)]
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrTokenMalformed, err)
	}
	return c, nil
}

// jsonConfirmation reads the confirmation claim cnf (RFC 7800 §3.1): a JSON
// object whose jkt member, when present, is a JWK SHA-256 thumbprint (RFC
// 9449 §6.1, RFC 7638): 43 characters of canonical base64url (32 bytes, no
// padding). It returns the jkt, "" when cnf holds another confirmation
// method only. Any other form is an error: a token whose binding cannot be
// read must not pass as a bearer token.
func jsonConfirmation(v *fastjson.Value) (string, error) {
	obj, err := v.Object()
	if err != nil {
		return "", errors.New("cnf must be a JSON object (RFC 7800 §3.1)")
	}
	var jkt string
	var n int
	var bad error
	obj.Visit(func(k []byte, m *fastjson.Value) {
		if string(k) != "jkt" || bad != nil {
			return
		}
		n++
		b, err := m.StringBytes()
		if err != nil || n > 1 || !validThumbprint(b) {
			bad = errors.New("cnf.jkt must be one base64url SHA-256 JWK thumbprint of 43 characters (RFC 9449 §6.1)")
			return
		}
		jkt = string(b)
	})
	return jkt, bad
}

// validThumbprint reports whether b is the canonical unpadded base64url
// encoding of 32 bytes.
func validThumbprint(b []byte) bool {
	if len(b) != 43 {
		return false
	}
	var d [33]byte
	n, err := base64.RawURLEncoding.Strict().Decode(d[:], b)
	return err == nil && n == 32
}

// jsonAudience reads aud: a string or an array of strings (RFC 7519 §4.1.3).
func jsonAudience(v *fastjson.Value) ([]string, error) {
	switch v.Type() {
	case fastjson.TypeString:
		s, err := jsonString(v, "aud")
		return []string{s}, err
	case fastjson.TypeArray:
		arr, _ := v.Array()
		out := make([]string, 0, len(arr))
		for _, e := range arr {
			s, err := jsonString(e, "aud member")
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errors.New("aud must be a string or an array of strings")
}

// Verify checks raw and returns its claims. In order: size (ErrTokenTooLarge),
// form (ErrTokenMalformed), header alg and crit (ErrUnsupportedAlgorithm,
// ErrUnsupportedCritical), kid (ErrUnknownKey), signature
// (ErrInvalidSignature), claims types (ErrTokenMalformed), then exp
// (ErrMissingClaim, ErrTokenExpired), nbf and iat (ErrTokenNotYetValid), iss
// (ErrInvalidIssuer), aud (ErrInvalidAudience) and the required claims.
//
// A token verified before and still in the cache (VerifierConfig.CacheSize)
// skips the decoding and the signature check, which depend only on raw and
// the configuration, and gets the same answer as a first sight at that
// instant: its key is looked up again and must be the one it was verified
// with, and its claims are validated again against the clock. Each call
// returns claims of its own.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	c, err := v.verify(ctx, raw)
	if t := v.trace; t != nil && t.Verified != nil {
		t.Verified(err)
	}
	return c, err
}

func (v *Verifier) verify(ctx context.Context, raw string) (*Claims, error) {
	if v.cache != nil {
		if e, ok := v.cache.Get(raw); ok {
			if c, done, err := v.verifyCached(ctx, raw, e); done {
				if t := v.trace; t != nil && t.CacheLookup != nil {
					t.CacheLookup(true)
				}
				return c, err
			}
		}
		if t := v.trace; t != nil && t.CacheLookup != nil {
			t.CacheLookup(false)
		}
	}
	if raw == "" {
		return nil, ErrTokenMissing
	}
	if len(raw) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTokenTooLarge, len(raw), MaxTokenSize)
	}
	h64, rest, ok1 := strings.Cut(raw, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, fmt.Errorf("%w: want 3 dot-separated segments (compact JWS)", ErrTokenMalformed)
	}
	hb, err := decodeSegment(h64, "header")
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(hb)
	if err != nil {
		return nil, err
	}
	alg, ok := v.alg(h.alg)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, h.alg)
	}
	pb, err := decodeSegment(p64, "payload")
	if err != nil {
		return nil, err
	}
	sig, err := decodeSegment(s64, "signature")
	if err != nil {
		return nil, err
	}
	if h.kid == "" {
		return nil, fmt.Errorf("%w: header has no kid", ErrUnknownKey)
	}
	pub, err := v.keys.VerificationKey(ctx, h.kid)
	if err != nil {
		return nil, keyError(h.kid, err)
	}
	if err := verifySignature(pub, alg, raw[:len(h64)+1+len(p64)], sig); err != nil {
		return nil, ErrInvalidSignature
	}
	c, err := parseClaims(pb)
	if err != nil {
		return nil, err
	}
	if err := v.validate(c); err != nil {
		return nil, err
	}
	if v.cache == nil {
		return c, nil
	}
	// The cache keeps c and its own copy of raw (raw may point into a
	// request buffer); the caller gets a copy.
	v.cache.Add(strings.Clone(raw), &verified{kid: h.kid, pub: pub, claims: c})
	return c.clone(), nil
}

// verifyCached answers a cache hit e for raw as Verify would answer raw at
// this instant. done is false when the kid now has another key: the caller
// then verifies raw afresh against it.
func (v *Verifier) verifyCached(ctx context.Context, raw string, e *verified) (c *Claims, done bool, err error) {
	pub, err := v.keys.VerificationKey(ctx, e.kid)
	if err != nil {
		v.cache.Remove(raw)
		return nil, true, keyError(e.kid, err)
	}
	if pub != e.pub && (pub == nil || !pub.Equal(e.pub)) {
		v.cache.Remove(raw)
		return nil, false, nil
	}
	if err := v.validate(e.claims); err != nil {
		v.cache.Remove(raw)
		return nil, true, err
	}
	return e.claims.clone(), true, nil
}

// keyError is Verify's error for a failed key lookup of kid.
func keyError(kid string, err error) error {
	if errors.Is(err, keys.ErrKeyRevoked) {
		return fmt.Errorf("%w: key %.64q was revoked", ErrUnknownKey, kid)
	}
	if errors.Is(err, keys.ErrUnknownKey) || errors.Is(err, ErrUnknownKey) {
		return fmt.Errorf("%w: kid %.64q", ErrUnknownKey, kid)
	}
	return errorf("%w: kid %.64q: %w", ErrUnknownKey, kid, err)
}

func (v *Verifier) alg(name string) (rsaAlg, bool) {
	for _, a := range v.algs {
		if a.name == name {
			return a, true
		}
	}
	return rsaAlg{}, false
}

// validate applies the time, issuer, audience and presence rules to verified claims.
func (v *Verifier) validate(c *Claims) error {
	now := v.now()
	if c.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: exp", ErrMissingClaim)
	}
	if !now.Before(c.ExpiresAt.Add(v.leeway)) {
		return fmt.Errorf("%w: at %s", ErrTokenExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if !c.NotBefore.IsZero() && now.Add(v.leeway).Before(c.NotBefore) {
		return fmt.Errorf("%w: nbf %s", ErrTokenNotYetValid, c.NotBefore.UTC().Format(time.RFC3339))
	}
	if !c.IssuedAt.IsZero() && now.Add(v.leeway).Before(c.IssuedAt) {
		return fmt.Errorf("%w: iat %s is in the future", ErrTokenNotYetValid, c.IssuedAt.UTC().Format(time.RFC3339))
	}
	if !v.skipIss && c.Issuer != v.issuer {
		return fmt.Errorf("%w: %.128q, want %q", ErrInvalidIssuer, c.Issuer, v.issuer)
	}
	if !v.skipAud && !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(v.audience, a) }) {
		return fmt.Errorf("%w: %.128q, want one of %q", ErrInvalidAudience, c.Audience, v.audience)
	}
	for _, name := range v.required {
		if !c.has(name) {
			return fmt.Errorf("%w: %s", ErrMissingClaim, name)
		}
	}
	return nil
}

func (c *Claims) has(name string) bool {
	switch name {
	case "iss":
		return c.Issuer != ""
	case "sub":
		return c.Subject != ""
	case "aud":
		return len(c.Audience) > 0
	case "exp":
		return !c.ExpiresAt.IsZero()
	case "nbf":
		return !c.NotBefore.IsZero()
	case "iat":
		return !c.IssuedAt.IsZero()
	case "jti":
		return c.ID != ""
	}
	return false
}
