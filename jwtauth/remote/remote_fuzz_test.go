package remote

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// FuzzParseRemoteJWKS feeds arbitrary documents to the remote JWKS parser.
// Invariants: no panic; a failure returns no keys; a success (only for a
// JSON object with a "keys" array) returns keys, possibly none, each an RSA
// key of 2048 to 8192 bits with a public exponent above 1, under a non-empty kid that a member of the document's "keys" carries
// with kty "RSA", no "use" other than "sig", and no private member in the
// whole set.
func FuzzParseRemoteJWKS(f *testing.F) {
	for _, seed := range []string{
		`{"keys":[]}`,
		`{"keys":null}`,
		`{}`,
		`[]`,
		`{"keys":[{"kty":"RSA","kid":"a","use":"sig","alg":"RS256","e":"AQAB","n":"` + fuzzN(2048) + `"}]}`,
		`{"keys":[{"kty":"RSA","kid":"a","use":"enc","e":"AQAB","n":"` + fuzzN(2048) + `"}]}`,
		`{"keys":[{"kty":"RSA","kid":"w","e":"AQAB","n":"` + fuzzN(1024) + `"}]}`,
		`{"keys":[{"kty":"RSA","kid":"a","key_ops":["encrypt"],"e":"AQAB","n":"` + fuzzN(2048) + `"}]}`,
		`{"keys":[{"kty":"RSA","kid":"a","alg":"HS256","e":"AQAB","n":"` + fuzzN(2048) + `"}]}`,
		`{"keys":[{"kty":"RSA","kid":"a","e":"AQAB","n":"` + fuzzN(2048) + `","d":"AQAB"}]}`,
		`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`,
		`{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"AAAA","y":"AAAA"}]}`,
		`{"keys":[{"kty":"RSA","kid":"a","e":"AQ","n":"` + fuzzN(2048) + `"}]}`,
		`{"keys":[{"kty":"RSA","kid":"a","e":"AQAB","n":"` + fuzzN(2048) + `"},{"kty":"RSA","kid":"a","e":"AQAB","n":"` + fuzzN(4096) + `"}]}`,
		`{"keys":[{"kty":"RSA","kid":"","e":"AQAB","n":"` + fuzzN(2048) + `"},"x",1,null]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ks, _, err := parseRemoteJWKS(body)
		if err != nil {
			if ks != nil {
				t.Fatalf("keys returned with error %v", err)
			}
			return
		}
		entries := jwksEntries(t, body)
		for _, m := range entries {
			for _, p := range privateMembers {
				if _, ok := m[p]; ok {
					t.Fatalf("accepted a set with the private member %q", p)
				}
			}
		}
		for kid, pub := range ks {
			if kid == "" {
				t.Fatal("a key without kid")
			}
			if bits := pub.N.BitLen(); bits < 2048 || bits > 8192 {
				t.Fatalf("kid %q: %d-bit modulus", kid, bits)
			}
			if pub.E <= 1 {
				t.Fatalf("kid %q: exponent %d", kid, pub.E)
			}
			found := false
			for _, m := range entries {
				if m["kid"] != kid || (m["use"] != nil && m["use"] != "sig") {
					continue
				}
				if m["kty"] == "RSA" {
					found = true
				}
			}
			if !found {
				t.Fatalf("kid %q is not an RSA signing key of the document", kid)
			}
		}
	})
}

// jwksEntries returns the members of the document's "keys" array that are
// objects, reading "keys" as parseRemoteJWKS does: the last top-level member
// named exactly "keys".
func jwksEntries(t *testing.T, body []byte) (entries []map[string]any) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("accepted a document that is not a JSON object")
	}
	var keys json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("accepted invalid JSON: %v", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("accepted invalid JSON: %v", err)
		}
		if tok.(string) == "keys" { // exact: member names are case-sensitive
			keys = v
		}
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(keys, &raw); err != nil {
		t.Fatalf(`accepted a set whose "keys" is not an array: %v`, err)
	}
	for _, r := range raw {
		var m map[string]any
		if json.Unmarshal(r, &m) == nil && m != nil {
			entries = append(entries, m)
		}
	}
	return entries
}

// fuzzN is a base64url modulus of the given size: not a real key, which the
// parser cannot tell.
func fuzzN(bits int) string {
	b := make([]byte, bits/8)
	for i := range b {
		b[i] = byte(0xA5 ^ i)
	}
	b[0] |= 0x80
	b[len(b)-1] |= 1
	return base64.RawURLEncoding.EncodeToString(b)
}
