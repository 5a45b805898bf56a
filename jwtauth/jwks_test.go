package jwtauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJWKSHandler(t *testing.T) {
	f := newFixture(t)
	h := jwtauth.NewJWKSHandler(f.Mgr, 0)
	get := func(inm string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
		if inm != "" {
			r.Header.Set("If-None-Match", inm)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := get("")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "public, max-age=300", w.Header().Get("Cache-Control"))
	etag := w.Header().Get("ETag")
	assert.Regexp(t, `^"[A-Za-z0-9_-]{24}"$`, etag, "a strong ETag")

	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
	require.Len(t, doc.Keys, 2, "active and next")
	var kids []string
	for _, k := range doc.Keys {
		members := make([]string, 0, len(k))
		for m := range k {
			members = append(members, m)
		}
		sort.Strings(members)
		assert.Equal(t, []string{"alg", "e", "kid", "kty", "n", "use"}, members, "public members only")
		assert.Equal(t, "RSA", k["kty"])
		assert.Equal(t, "sig", k["use"])
		assert.Equal(t, "RS256", k["alg"])
		kids = append(kids, k["kid"].(string))
	}
	assert.ElementsMatch(t, []string{f.Mgr.Current().Active().KID, f.Mgr.Current().Next().KID}, kids)

	assert.Equal(t, http.StatusNotModified, get(etag).Code)
	assert.Equal(t, http.StatusNotModified, get(`"other", `+etag).Code)
	assert.Equal(t, http.StatusNotModified, get("W/"+etag).Code)
	assert.Equal(t, http.StatusOK, get(`"other"`).Code)

	// The body is built once per key-set change.
	b1, _, err := h.Document()
	require.NoError(t, err)
	b2, _, err := h.Document()
	require.NoError(t, err)
	assert.Same(t, &b1[0], &b2[0], "same bytes while the set is unchanged")

	_, err = f.Mgr.Rotate(context.Background(), true)
	require.NoError(t, err)
	w = get(etag)
	assert.Equal(t, http.StatusOK, w.Code, "a rotation changes the ETag")
	assert.NotEqual(t, etag, w.Header().Get("ETag"))

	r := httptest.NewRequest(http.MethodPost, "/.well-known/jwks.json", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

func TestDiscoveryDocument(t *testing.T) {
	h, err := jwtauth.NewDiscoveryHandler("https://auth.example.com")
	require.NoError(t, err)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
	require.Equal(t, http.StatusOK, w.Code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
	assert.Equal(t, "https://auth.example.com", doc["issuer"])
	assert.Equal(t, "https://auth.example.com/.well-known/jwks.json", doc["jwks_uri"])
	assert.Equal(t, []any{"RS256"}, doc["id_token_signing_alg_values_supported"])
	// Only what is true: no token or authorization endpoint (/login is not
	// an RFC 6749 token endpoint), and empty grant and response types, as
	// leaving grant_types_supported out would mean ["authorization_code",
	// "implicit"] (RFC 8414 §2, OpenID Connect Discovery 1.0 §3).
	assert.Equal(t, []string{"claims_supported", "grant_types_supported", "id_token_signing_alg_values_supported",
		"issuer", "jwks_uri", "response_types_supported", "subject_types_supported"}, sortedKeys(doc))
	assert.Equal(t, []any{}, doc["grant_types_supported"])
	assert.Equal(t, []any{}, doc["response_types_supported"])
	assert.Equal(t, []any{"public"}, doc["subject_types_supported"])
}

// TestDiscoveryClaimsSupported: claims_supported lists the registered
// claims every token carries and the names the claims hook declares, and
// nothing else (no "roles" unless declared); an empty or registered name
// is refused, a repeated one listed once.
func TestDiscoveryClaimsSupported(t *testing.T) {
	claims := func(names ...string) []any {
		t.Helper()
		h, err := jwtauth.NewDiscoveryHandler("https://auth.example.com", names...)
		require.NoError(t, err)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
		require.Equal(t, http.StatusOK, w.Code)
		var doc struct {
			Claims []any `json:"claims_supported"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
		return doc.Claims
	}
	registered := []any{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}
	assert.Equal(t, registered, claims())
	assert.Equal(t, append(registered, "roles", "tenant"), claims("roles", "tenant", "roles"))

	for _, bad := range []string{"", "sub", "exp"} {
		_, err := jwtauth.NewDiscoveryHandler("https://auth.example.com", "roles", bad)
		require.Error(t, err, "%q", bad)
		assert.Contains(t, err.Error(), "claim name", "%q", bad)
	}
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// A negative max-age is treated as 0 s: before, it was sent as
// "max-age=-300", which RFC 9111 §1.2.2 makes invalid (caches then treat the
// response as stale, or as they like).
func TestJWKSHandlerNegativeMaxAge(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		maxAge time.Duration
		want   string
	}{
		{-5 * time.Minute, "public, max-age=0"},
		{-time.Nanosecond, "public, max-age=0"},
		{0, "public, max-age=300"},
		{1500 * time.Millisecond, "public, max-age=1"},
	} {
		w := httptest.NewRecorder()
		jwtauth.NewJWKSHandler(f.Mgr, tt.maxAge).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
		require.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, tt.want, w.Header().Get("Cache-Control"), tt.maxAge)
	}
}
