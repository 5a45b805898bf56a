// Package jwtauth is the root of the jwtauth module. It holds one thing: the
// OpenAPI 3.1 description of the HTTP endpoints (openapi.yaml beside this
// file), embedded so that tests, documentation servers and client
// generators read the same bytes the repository ships.
//
// The library itself is in the subpackages: github.com/jwtauth/jwtauth/jwtauth
// (issuer, verifier, account flow, JWKS), github.com/jwtauth/jwtauth/keys (the
// rotating key set) and the adapters under github.com/jwtauth/jwtauth/adapters.
package jwtauth

import (
	"bytes"
	_ "embed"
)

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns a copy of openapi.yaml: the OpenAPI 3.1 description of
// every endpoint of `jwtauth serve` and of a mounted jwtauth.Service (POST
// /register, /login, /refresh, /password, /logout; DELETE /account; GET
// /protected, /.well-known/jwks.json, /.well-known/openid-configuration,
// /.well-known/oauth-authorization-server, /healthz), with
// paths relative to the mount prefix (the path of the issuer URL). It
// describes the API only: the demo page of `jwtauth serve --demo` (/demo,
// /demo/…) is named in its introduction, not described. The
// adapters' shared behaviour table (adapters/adaptertest.Run) validates
// every request it makes and every answer it gets against it.
func OpenAPI() []byte { return bytes.Clone(openAPI) }
