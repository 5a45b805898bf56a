package jwtauth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// KeySetSource gives the current key set; *keys.Manager implements it.
type KeySetSource interface {
	Current() *keys.Set
}

// JWKSHandler serves /.well-known/jwks.json: the JWKS of the current key set
// with Cache-Control "public, max-age=N" and a strong ETag (RFC 9110 §8.8.3);
// a matching If-None-Match gets 304. The body is built once per key-set
// change, not per request.
type JWKSHandler struct {
	src    KeySetSource
	maxAge time.Duration
	mu     sync.Mutex
	doc    atomic.Pointer[cachedDoc]
	// metrics counts requests and 304s; nil without Config.Metrics.
	metrics *wellKnownMetrics
}

type cachedDoc struct {
	set  *keys.Set
	body []byte
	etag string
}

// NewJWKSHandler returns a handler for src's published keys; maxAge is the
// Cache-Control max-age (rounded down to whole seconds; default 5 min when
// zero; a negative maxAge is treated as 0 s, "max-age=0": caches must
// revalidate every time). Keep the key policy's Prepublish at least maxAge
// (keys.Policy), or a verifier's cached JWKS may lack a newly active key.
func NewJWKSHandler(src KeySetSource, maxAge time.Duration) *JWKSHandler {
	switch {
	case maxAge == 0:
		maxAge = 5 * time.Minute
	case maxAge < 0:
		maxAge = 0
	}
	return &JWKSHandler{src: src, maxAge: maxAge}
}

// Document returns the current JWKS bytes and their ETag, rebuilding them
// only when the key set changed.
func (h *JWKSHandler) Document() (body []byte, etag string, err error) {
	s := h.src.Current()
	if d := h.doc.Load(); d != nil && d.set == s {
		return d.body, d.etag, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if d := h.doc.Load(); d != nil && d.set == s {
		return d.body, d.etag, nil
	}
	b, err := token.JWKS(s)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	d := &cachedDoc{set: s, body: b, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`}
	h.doc.Store(d)
	return d.body, d.etag, nil
}

// ServeHTTP implements http.Handler for GET and HEAD.
func (h *JWKSHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, etag, err := h.Document()
	if err != nil {
		WriteError(w, &authn.Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "the key set could not be encoded"})
		return
	}
	notModified := serveCached(w, r, body, etag, "public, max-age="+strconv.Itoa(int(h.maxAge/time.Second)))
	if m := h.metrics; m != nil {
		m.jwks.Inc()
		if notModified {
			m.jwksNotModified.Inc()
		}
	}
}

// serveCached writes a JSON body with validators, answering 304 when
// If-None-Match names etag (weak comparison, RFC 9110 §13.1.2) or "*"; it
// returns whether it did.
func serveCached(w http.ResponseWriter, r *http.Request, body []byte, etag, cacheControl string) (notModified bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		WriteError(w, &authn.Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "method not allowed"})
		return false
	}
	hd := w.Header()
	hd.Set("Cache-Control", cacheControl)
	hd.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
	return false
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// DiscoveryHandler serves /.well-known/openid-configuration (OpenID Connect
// Discovery 1.0 §3) for issuer: issuer, jwks_uri, the signing algorithms,
// the subject type and the claims of its tokens. It names no
// token_endpoint or response types: /login is not an OAuth 2.0 token
// endpoint (no grant_type, no client authentication, RFC 6749 §3.2) and
// there is no authorization endpoint, so advertising them would send
// clients to flows this server does not run.
type DiscoveryHandler struct {
	body []byte
	etag string
	// metrics counts requests; nil without Config.Metrics.
	metrics *wellKnownMetrics
}

// NewDiscoveryHandler builds the discovery document once. issuer must be the
// exact iss of the tokens, without a trailing slash.
func NewDiscoveryHandler(issuer string) (*DiscoveryHandler, error) {
	base := strings.TrimSuffix(issuer, "/")
	doc := map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              base + "/.well-known/jwks.json",
		"id_token_signing_alg_values_supported": []string{keys.Algorithm},
		"subject_types_supported":               []string{"public"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &DiscoveryHandler{body: b, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`}, nil
}

// ServeHTTP implements http.Handler for GET and HEAD.
func (h *DiscoveryHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serveCached(w, r, h.body, h.etag, "public, max-age=3600")
	if m := h.metrics; m != nil {
		m.discovery.Inc()
	}
}
