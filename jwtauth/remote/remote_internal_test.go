package remote

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJWKSMemberNamesAreCaseSensitive: RFC 7517 §4 member names are exact;
// encoding/json structs and jwx would match them ignoring case.
func TestJWKSMemberNamesAreCaseSensitive(t *testing.T) {
	n := fuzzN(2048)
	key := func(members string) string {
		return fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"good","n":%q,"e":"AQAB"},{%s}]}`, n, members)
	}
	ks, skipped, err := parseRemoteJWKS([]byte(key(fmt.Sprintf(`"ktY":"RSA","kid":"k","n":%q,"e":"AQAB"`, n))))
	require.NoError(t, err)
	assert.NotContains(t, ks, "k", `"ktY" is not "kty"`)
	assert.Len(t, skipped, 1)
	ks, _, err = parseRemoteJWKS([]byte(key(fmt.Sprintf(`"kty":"RSA","KID":"k","n":%q,"e":"AQAB"`, n))))
	require.NoError(t, err)
	assert.Equal(t, []string{"good"}, mapKeys(ks), `"KID" is not "kid"`)
	// "x5t#S256" is registered with a capital S (RFC 7517 §4.9): it is no
	// miscased member name, and the key is kept (Keycloak publishes it).
	ks, skipped, err = parseRemoteJWKS([]byte(key(fmt.Sprintf(`"kty":"RSA","kid":"k","n":%q,"e":"AQAB","x5t#S256":"abc"`, n))))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"good", "k"}, mapKeys(ks), "skipped: %v", skipped)
	ks, _, err = parseRemoteJWKS([]byte(key(fmt.Sprintf(`"kty":"RSA","kid":"k","n":%q,"e":"AQAB","x5t#s256":"abc"`, n))))
	require.NoError(t, err)
	assert.Equal(t, []string{"good"}, mapKeys(ks), `"x5t#s256" is not "x5t#S256"`)
	_, _, err = parseRemoteJWKS([]byte(key(fmt.Sprintf(`"kty":"RSA","kid":"k","n":%q,"e":"AQAB","D":"AQAB"`, n))))
	assert.ErrorContains(t, err, `private member "D"`)
	_, _, err = parseRemoteJWKS([]byte(fmt.Sprintf(`{"keYs":[{"kty":"RSA","kid":"k","n":%q,"e":"AQAB"}]}`, n)))
	assert.ErrorContains(t, err, `no "keys" array`)
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
