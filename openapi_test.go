package jwtauth_test

import (
	"context"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth"
	auth "github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

// TestOpenAPIValid loads openapi.yaml with kin-openapi and validates it as
// an OpenAPI 3.1 document: every $ref resolves, every schema, example,
// header and security scheme is well formed.
func TestOpenAPIValid(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(jwtauth.OpenAPI())
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background(), openapi3.EnableExamplesValidation()))
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	assert.True(t, doc.IsOpenAPI31OrLater())

	// Every endpoint of SPEC §2, with its methods.
	want := map[string][]string{
		"/register":                         {"POST"},
		"/login":                            {"POST"},
		"/refresh":                          {"POST"},
		"/password":                         {"POST"},
		"/logout":                           {"POST"},
		"/account":                          {"DELETE"},
		"/protected":                        {"GET", "HEAD"},
		"/.well-known/jwks.json":            {"GET", "HEAD"},
		"/.well-known/openid-configuration": {"GET", "HEAD"},
		"/.well-known/oauth-authorization-server": {"GET", "HEAD"},
		"/healthz": {"GET", "HEAD"},
	}
	got := map[string][]string{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			got[path] = append(got[path], method)
		}
		slices.Sort(got[path])
	}
	assert.Equal(t, want, got)

	// The security schemes of the access token, and /protected requiring one of them.
	require.Contains(t, doc.Components.SecuritySchemes, "bearer")
	require.Contains(t, doc.Components.SecuritySchemes, "accessToken")
	bearer := doc.Components.SecuritySchemes["bearer"].Value
	assert.Equal(t, "http", bearer.Type)
	assert.Equal(t, "bearer", bearer.Scheme)
	assert.Equal(t, "JWT", bearer.BearerFormat)
	apiKey := doc.Components.SecuritySchemes["accessToken"].Value
	assert.Equal(t, []string{"apiKey", "header", "x-access-token"}, []string{apiKey.Type, apiKey.In, apiKey.Name})
	dpopScheme := doc.Components.SecuritySchemes["dpop"]
	require.NotNil(t, dpopScheme, "the DPoP scheme of bound tokens (RFC 9449 §7.1)")
	assert.Equal(t, []string{"http", "DPoP"}, []string{dpopScheme.Value.Type, dpopScheme.Value.Scheme})
	assert.Equal(t, openapi3.SecurityRequirements{{"bearer": {}}, {"dpop": {}}, {"accessToken": {}}}, *doc.Paths.Value("/protected").Get.Security)

	// Cookie mode: the refresh cookie, as a security scheme and a parameter
	// with the names the code uses, optional beside the body on /refresh
	// and /logout, with the CSRF header and its 403.
	require.Contains(t, doc.Components.SecuritySchemes, "refreshCookie")
	cookie := doc.Components.SecuritySchemes["refreshCookie"].Value
	assert.Equal(t, []string{"apiKey", "cookie", auth.RefreshCookieName}, []string{cookie.Type, cookie.In, cookie.Name})
	for _, path := range []string{"/refresh", "/logout"} {
		op := doc.Paths.Value(path).Post
		assert.Equal(t, openapi3.SecurityRequirements{{}, {"refreshCookie": {}}}, *op.Security, path)
		assert.False(t, op.RequestBody.Value.Required, "%s: the body is optional in cookie mode", path)
		p := op.Parameters.GetByInAndName("cookie", auth.RefreshCookieName)
		require.NotNil(t, p, "%s: the %s cookie parameter", path, auth.RefreshCookieName)
		assert.False(t, p.Required)
		p = op.Parameters.GetByInAndName("header", authn.CSRFHeader)
		require.NotNil(t, p, "%s: the %s header parameter", path, authn.CSRFHeader)
		assert.False(t, p.Required, "%s: required in cookie mode only", path)
		assert.Equal(t, "#/components/responses/CSRFCheckFailed", op.Responses.Status(403).Ref, path)
	}
	assert.Contains(t, doc.Components.Schemas["Error"].Value.Properties["error"].Value.Enum, "csrf_check_failed")

	// The reusable answers an application's description can refer to.
	for _, name := range []string{"Unauthorized", "InsufficientScope", "CSRFCheckFailed", "Unavailable", "NotFound", "MethodNotAllowed"} {
		assert.Contains(t, doc.Components.Responses, name)
	}
	// JSON Schema's examples are annotations, which Validate does not
	// check against their schema: check them here.
	n := 0
	for name, ref := range doc.Components.Schemas {
		for i, ex := range ref.Value.Examples {
			n++
			assert.NoError(t, ref.Value.VisitJSON(ex, openapi3.EnableJSONSchema2020()), "components/schemas/%s examples[%d]", name, i)
		}
	}
	assert.Positive(t, n)

	// The mount prefix is the server variable.
	require.Len(t, doc.Servers, 1)
	assert.Equal(t, "{issuer}", doc.Servers[0].URL)
}

// TestOpenAPICopy: OpenAPI hands out a copy, so a caller cannot change what
// the next one reads.
func TestOpenAPICopy(t *testing.T) {
	b := jwtauth.OpenAPI()
	b[0] = 'X'
	assert.Equal(t, byte('o'), jwtauth.OpenAPI()[0])
}
