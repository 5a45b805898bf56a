package authn_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/stretchr/testify/assert"
)

func TestCanonicalOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://App.Example.TEST":      "https://app.example.test",
		"https://app.example.test:443":  "https://app.example.test",
		"http://app.example.test:80/x":  "http://app.example.test",
		"http://127.0.0.1:8080":         "http://127.0.0.1:8080",
		"https://app.example.test:8443": "https://app.example.test:8443",
		"http://[::1]:8080":             "http://[::1]:8080",
	} {
		got, ok := authn.CanonicalOrigin(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "null", "app.example.test", "ftp://app.example.test", "https://user@app.example.test", "https://"} {
		_, ok := authn.CanonicalOrigin(bad)
		assert.False(t, ok, bad)
	}
}

// TestCheckCSRF: the custom header is required; Sec-Fetch-Site, when sent,
// must be same-origin; Origin, when sent, must be the configured origin or
// the request's own host.
func TestCheckCSRF(t *testing.T) {
	const origin = "https://app.example.test"
	tests := []struct {
		name   string
		host   string
		header []string
		ok     bool
	}{
		{"header alone (an old browser, or not a browser)", "app.example.test", []string{authn.CSRFHeader, "1"}, true},
		{"same origin", "app.example.test", []string{authn.CSRFHeader, "1", "Origin", origin, "Sec-Fetch-Site", "same-origin"}, true},
		{"origin with its default port", "app.example.test", []string{authn.CSRFHeader, "1", "Origin", origin + ":443"}, true},
		{"origin of the request's own host behind another name", "localhost:8080", []string{authn.CSRFHeader, "1", "Origin", "http://localhost:8080"}, true},
		{"no header", "app.example.test", []string{"Origin", origin, "Sec-Fetch-Site", "same-origin"}, false},
		{"blank header", "app.example.test", []string{authn.CSRFHeader, "  "}, false},
		{"another site", "app.example.test", []string{authn.CSRFHeader, "1", "Origin", "https://evil.example"}, false},
		{"another scheme", "other.example.test", []string{authn.CSRFHeader, "1", "Origin", "http://app.example.test"}, false},
		{"https origin of a request that came over http", "other.example.test", []string{authn.CSRFHeader, "1", "Origin", "https://other.example.test"}, false},
		{"another port", "app.example.test", []string{authn.CSRFHeader, "1", "Origin", origin + ":8443"}, false},
		{"null origin", "app.example.test", []string{authn.CSRFHeader, "1", "Origin", "null"}, false},
		{"two origins", "app.example.test", []string{authn.CSRFHeader, "1", "Origin", origin, "Origin", "https://evil.example"}, false},
		{"same-site fetch", "app.example.test", []string{authn.CSRFHeader, "1", "Sec-Fetch-Site", "same-site"}, false},
		{"cross-site fetch", "app.example.test", []string{authn.CSRFHeader, "1", "Sec-Fetch-Site", "cross-site"}, false},
		{"user navigation", "app.example.test", []string{authn.CSRFHeader, "1", "Sec-Fetch-Site", "none"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://"+tt.host+"/refresh", nil)
			for i := 0; i+1 < len(tt.header); i += 2 {
				r.Header.Add(tt.header[i], tt.header[i+1])
			}
			err := authn.CheckCSRF(r, origin)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			assert.True(t, errors.Is(err, authn.ErrCrossSite), "%v", err)
			e := authn.CSRFRefusal(err)
			assert.Equal(t, http.StatusForbidden, e.Status)
			assert.Equal(t, "csrf_check_failed", e.Code)
			assert.NotContains(t, e.Description, "jwtauth:")
		})
	}
}
