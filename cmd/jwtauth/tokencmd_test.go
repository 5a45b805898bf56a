package main

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtureToken is a compact JWS whose signature is garbage: inspect must
// decode it anyway, and say it did not verify it.
var fixtureToken = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"kid-1"}`)) + "." +
	base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"http://127.0.0.1:8080","sub":"alice","exp":1700000000}`)) + "." +
	base64.RawURLEncoding.EncodeToString([]byte("not a signature"))

func TestTokenInspect(t *testing.T) {
	for _, tc := range []struct {
		name, stdin string
		args        []string
	}{
		{"argument", "", []string{"token", "inspect", fixtureToken}},
		{"stdin", fixtureToken + "\n", []string{"token", "inspect", "-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, tc.stdin, tc.args...)
			require.Equal(t, 0, code, errOut)
			assert.Equal(t, "NOT VERIFIED: signature and claims were not checked\n", errOut)
			doc := out // stdout is the JSON alone, for jq
			var got struct {
				Header map[string]any `json:"header"`
				Claims map[string]any `json:"claims"`
			}
			require.NoError(t, json.Unmarshal([]byte(doc), &got), out)
			assert.Equal(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": "kid-1"}, got.Header)
			assert.Equal(t, map[string]any{"iss": "http://127.0.0.1:8080", "sub": "alice", "exp": 1700000000.0}, got.Claims)
			assert.Contains(t, out, "\n  \"header\": {\n", "indented JSON")
		})
	}
}

func TestTokenInspectErrors(t *testing.T) {
	notJSON := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte("hello")) + ".c2ln"
	for _, tc := range []struct {
		name, token, want string
	}{
		{"garbage", "not-a-token", "not a compact JWS"},
		{"payload not JSON", notJSON, "payload is not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, "", "token", "inspect", tc.token)
			assert.Equal(t, 1, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, tc.want)
		})
	}
	_, errOut, code := runCLI(t, nil, "  \n", "token", "inspect", "-")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "empty token")
}
