package token

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jwtauth/jwtauth/keys"
)

// DefaultAccessTTL is the lifetime of an access token when IssuerConfig.TTL is zero (15 min).
const DefaultAccessTTL = 15 * time.Minute

// SigningKeySource gives the key that signs new tokens; *keys.Manager implements it.
type SigningKeySource interface {
	SigningKey() (*keys.Key, error)
}

// IssuerConfig configures an Issuer. Keys, Issuer and Audience are required.
type IssuerConfig struct {
	Keys     SigningKeySource
	Issuer   string        // iss of every token
	Audience []string      // aud of every token (a string on the wire when it has one member)
	TTL      time.Duration // exp - iat; default DefaultAccessTTL
	Now      func() time.Time
}

// Issuer signs access tokens: compact JWS (RFC 7515 §7.1), header
// {"alg":"RS256","kid":…,"typ":"JWT"}, claims iss, sub, aud, exp, nbf, iat
// and a random jti (RFC 7519 §4.1). It is safe for concurrent use.
type Issuer struct {
	keys     SigningKeySource
	issuer   string
	audience any // string or []string, as it is encoded
	ttl      time.Duration
	now      func() time.Time

	hdr atomic.Pointer[encodedHeader] // the last kid's header: rotations are rare
}

// encodedHeader is a kid's protected header, base64url-encoded, plus '.'.
type encodedHeader struct {
	kid, enc string
}

// NewIssuer checks cfg and returns an Issuer.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Keys == nil {
		return nil, errors.New("jwtauth: IssuerConfig.Keys is required")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("jwtauth: IssuerConfig.Issuer is required")
	}
	if len(cfg.Audience) == 0 || slices.Contains(cfg.Audience, "") {
		return nil, errors.New("jwtauth: IssuerConfig.Audience needs at least one non-empty audience")
	}
	if cfg.TTL < 0 {
		return nil, fmt.Errorf("jwtauth: IssuerConfig.TTL must not be negative, got %s", cfg.TTL)
	}
	i := &Issuer{keys: cfg.Keys, issuer: cfg.Issuer, ttl: cfg.TTL, now: cfg.Now}
	if len(cfg.Audience) == 1 {
		i.audience = cfg.Audience[0]
	} else {
		i.audience = slices.Clone(cfg.Audience)
	}
	if i.ttl == 0 {
		i.ttl = DefaultAccessTTL
	}
	if i.now == nil {
		i.now = time.Now
	}
	return i, nil
}

// Ready returns nil when the key source has a key to sign with now, else
// the error Issue would fail with for want of one (such as
// keys.ErrNoActiveKey). It signs nothing.
func (i *Issuer) Ready() error {
	_, err := i.keys.SigningKey()
	return err
}

// TTL returns the lifetime of the tokens the issuer signs.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Token is a signed access token.
type Token struct {
	Raw    string // the compact JWS
	KID    string // the signing key
	Claims Claims
}

// wireClaims fixes the member order and the integer NumericDate encoding.
type wireClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Aud any    `json:"aud"`
	Exp int64  `json:"exp"`
	Nbf int64  `json:"nbf"`
	Iat int64  `json:"iat"`
	Jti string `json:"jti"`
}

// Issue signs an access token for subject (the username) with the active key.
// It fails with keys.ErrNoActiveKey when the key set has no signing key.
func (i *Issuer) Issue(ctx context.Context, subject string) (*Token, error) {
	return i.IssueWith(ctx, subject, nil)
}

// IssueWith is Issue with extra claims beside the registered ones, e.g. the
// authorization claims of RFC 9068 §2.2.3: "scope" (a string of
// space-separated scope-tokens, RFC 8693 §4.2 and RFC 6749 §3.3), "roles",
// "groups" and "entitlements" (arrays of strings). Each value is encoded
// with encoding/json; the token's Claims give them back through Decode,
// Scopes, Roles, Groups and Entitlements.
//
// "cnf": map[string]string{"jkt": thumbprint} binds the token to a DPoP key
// (RFC 9449 §6.1; thumbprint is dpop.Thumbprint of the client's public key):
// Claims.JKT gives it back, and an authn.Authenticator then accepts the
// token only with the DPoP scheme and a proof by that key.
//
// It issues nothing and fails with an error wrapping ErrInvalidClaims when
// extra names a registered claim (iss, sub, aud, exp, nbf, iat, jti: the
// issuer sets those) or the empty name, gives scope, roles, groups or
// entitlements another type, gives "cnf" another form than the Verifier
// accepts (an object whose jkt, if any, is a 43-character base64url
// SHA-256 thumbprint), holds a value encoding/json cannot encode
// (a func, a channel, NaN) or more members than a Verifier accepts (64 in
// all); and with an error wrapping ErrTokenTooLarge when the token would be
// over MaxTokenSize, which every Verifier refuses.
func (i *Issuer) IssueWith(_ context.Context, subject string, extra map[string]any) (*Token, error) {
	if subject == "" {
		return nil, errors.New("jwtauth: Issue: empty subject")
	}
	k, err := i.keys.SigningKey()
	if err != nil {
		return nil, fmt.Errorf("jwtauth: signing key: %w", err)
	}
	now := i.now().Truncate(time.Second)
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("jwtauth: jti: %w", err)
	}
	wc := wireClaims{
		Iss: i.issuer, Sub: subject, Aud: i.audience,
		Exp: now.Add(i.ttl).Unix(), Nbf: now.Unix(), Iat: now.Unix(),
		Jti: base64.RawURLEncoding.EncodeToString(id[:]),
	}
	payload, err := json.Marshal(wc)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: encode claims: %w", err)
	}
	var claims *Claims
	if len(extra) > 0 {
		if payload, err = appendExtra(payload, extra); err != nil {
			return nil, err
		}
		// The verifier's own parser: what is issued is what verifies.
		if claims, err = parseClaims(payload); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidClaims, err)
		}
	}
	hdr := i.header(k.KID)
	enc := base64.RawURLEncoding
	size := len(hdr) + enc.EncodedLen(len(payload)) + 1 + enc.EncodedLen(k.Private.Size())
	if size > MaxTokenSize {
		return nil, fmt.Errorf("%w: the token would be %d bytes, over the %d bytes (MaxTokenSize) every Verifier accepts; issue fewer or shorter claims",
			ErrTokenTooLarge, size, MaxTokenSize)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, hdr...)
	buf = enc.AppendEncode(buf, payload)
	// RS256: RSASSA-PKCS1-v1_5 over SHA-256 of the signing input (RFC 7518 §3.3).
	digest := sha256.Sum256(buf)
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.Private, crypto.SHA256, digest[:])
	if err != nil {
		return nil, fmt.Errorf("jwtauth: sign with %s: %w", k.KID, err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	t := &Token{Raw: string(buf), KID: k.KID, Claims: Claims{
		Issuer: wc.Iss, Subject: subject, ExpiresAt: time.Unix(wc.Exp, 0), NotBefore: now, IssuedAt: now, ID: wc.Jti,
	}}
	if claims != nil {
		t.Claims.extra, t.Claims.jkt, t.Claims.bound = claims.extra, claims.jkt, claims.bound
	}
	if s, ok := i.audience.(string); ok {
		t.Claims.Audience = []string{s}
	} else {
		t.Claims.Audience = slices.Clone(i.audience.([]string))
	}
	return t, nil
}

// appendExtra adds the members of extra, in name order, to payload, a JSON
// object of the registered claims, after checking them (see IssueWith).
func appendExtra(payload []byte, extra map[string]any) ([]byte, error) {
	if len(extra) > maxMembers-7 {
		return nil, fmt.Errorf("%w: %d extra claims, at most %d", ErrInvalidClaims, len(extra), maxMembers-7)
	}
	names := make([]string, 0, len(extra))
	for name := range extra {
		if name == "" || registeredClaim(name) {
			return nil, fmt.Errorf("%w: %q is a registered claim the issuer sets (RFC 7519 §4.1)", ErrInvalidClaims, name)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	out := payload[:len(payload)-1] // drop '}'
	for _, name := range names {
		v, err := json.Marshal(extra[name])
		if err != nil {
			return nil, fmt.Errorf("%w: claim %q is not JSON-encodable: %v", ErrInvalidClaims, name, err)
		}
		if err := checkAuthzClaim(name, v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidClaims, err)
		}
		n, _ := json.Marshal(name)
		out = append(out, ',')
		out = append(out, n...)
		out = append(out, ':')
		out = append(out, v...)
	}
	return append(out, '}'), nil
}

// checkAuthzClaim checks the type of an RFC 9068 §2.2.3 authorization
// claim encoded as v: scope a string of scope-tokens (RFC 6749 §3.3:
// %x21 / %x23-5B / %x5D-7E) separated by single spaces; roles, groups and
// entitlements arrays of strings.
func checkAuthzClaim(name string, v []byte) error {
	switch name {
	case "scope":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return errors.New(`"scope" must be a string of space-separated scope-tokens (RFC 8693 §4.2)`)
		}
		for _, tok := range strings.Split(s, " ") {
			if tok == "" || strings.ContainsFunc(tok, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '"' || r == '\\' }) {
				return fmt.Errorf(`"scope" %.64q is not scope-tokens separated by single spaces (RFC 6749 §3.3)`, s)
			}
		}
	case "roles", "groups", "entitlements":
		// []any, not []string: encoding/json would take a null member as "".
		var arr []any
		err := json.Unmarshal(v, &arr)
		ok := err == nil && arr != nil
		for _, m := range arr {
			if _, isString := m.(string); !isString {
				ok = false
			}
		}
		if !ok {
			return fmt.Errorf("%q must be an array of strings (RFC 9068 §2.2.3.1)", name)
		}
	}
	return nil
}

// header returns the encoded protected header for kid followed by '.',
// encoding it only when the signing key changed.
func (i *Issuer) header(kid string) string {
	if h := i.hdr.Load(); h != nil && h.kid == kid {
		return h.enc
	}
	b, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{keys.Algorithm, "JWT", kid})
	h := &encodedHeader{kid: kid, enc: base64.RawURLEncoding.EncodeToString(b) + "."}
	i.hdr.Store(h)
	return h.enc
}
