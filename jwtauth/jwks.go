package jwtauth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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

// DiscoveryHandler serves the issuer's metadata: the OpenID Connect
// Discovery 1.0 §3 document at /.well-known/openid-configuration and the
// same bytes as the OAuth 2.0 Authorization Server Metadata (RFC 8414 §2) at
// /.well-known/oauth-authorization-server. It holds only what is true of
// this server:
//
//   - issuer, jwks_uri (issuer + "/.well-known/jwks.json"),
//     id_token_signing_alg_values_supported ["RS256"] and
//     subject_types_supported ["public"]: what a verifier reads;
//   - claims_supported: the registered claims every token carries (iss,
//     sub, aud, exp, nbf, iat, jti) and the names the claims hook declares;
//   - grant_types_supported and response_types_supported, both []: there
//     is no RFC 6749 grant here. /login and /refresh take JSON members, not
//     a form with grant_type (RFC 6749 §4.3.2, §6) and no client
//     authentication (§2.3), so neither is a token endpoint, and there is no
//     authorization endpoint. Leaving grant_types_supported out would mean
//     ["authorization_code", "implicit"] (RFC 8414 §2), and
//     response_types_supported is required.
//
// So it names no token_endpoint, authorization_endpoint or
// token_endpoint_auth_methods_supported: advertising them would send
// clients to flows this server does not run.
type DiscoveryHandler struct {
	body []byte
	etag string
	// metrics counts requests; nil without Config.Metrics.
	metrics *wellKnownMetrics
}

// metadataPath is the well-known suffix of the OAuth 2.0 Authorization
// Server Metadata (RFC 8414 §3, §7.3).
const metadataPath = "/.well-known/oauth-authorization-server"

// registeredClaims are the claims of RFC 7519 §4.1 every access token
// carries, first in claims_supported.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// NewDiscoveryHandler builds the metadata document once. issuer must be the
// exact iss of the tokens, without a trailing slash. claimNames are the
// names of the claims a claims hook adds (account.Config.Claims), listed in
// claims_supported after the registered ones in the order given, each once;
// an empty name or a registered claim (which no hook may set, see
// token.Issuer.IssueWith) is an error.
//
// Serve the handler at issuer + "/.well-known/openid-configuration" and
// issuer + "/.well-known/oauth-authorization-server" (Routes does). For an
// issuer with a path, RFC 8414 §3.1 puts the metadata at the root of the
// host with the path after the well-known part: for "https://host/auth",
// https://host/.well-known/oauth-authorization-server/auth; mount it there
// too (Service.RootRoutes gives that route).
func NewDiscoveryHandler(issuer string, claimNames ...string) (*DiscoveryHandler, error) {
	return newDiscoveryHandler(issuer, nil, claimNames...)
}

// newDiscoveryHandler is NewDiscoveryHandler advertising dpopAlgs, when
// not empty, as dpop_signing_alg_values_supported (RFC 9449 §5.1).
func newDiscoveryHandler(issuer string, dpopAlgs []string, claimNames ...string) (*DiscoveryHandler, error) {
	base := strings.TrimSuffix(issuer, "/")
	claims := slices.Clone(registeredClaims)
	for _, n := range claimNames {
		switch {
		case n == "" || slices.Contains(registeredClaims, n):
			return nil, fmt.Errorf("jwtauth: claim name %q: the claims hook cannot add the empty name or a registered claim (RFC 7519 §4.1); list only the names it adds, such as \"roles\"", n)
		case !slices.Contains(claims, n):
			claims = append(claims, n)
		}
	}
	doc := map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              base + "/.well-known/jwks.json",
		"id_token_signing_alg_values_supported": []string{keys.Algorithm},
		"subject_types_supported":               []string{"public"},
		"claims_supported":                      claims,
		"grant_types_supported":                 []string{},
		"response_types_supported":              []string{},
	}
	if len(dpopAlgs) > 0 {
		doc["dpop_signing_alg_values_supported"] = slices.Clone(dpopAlgs)
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
