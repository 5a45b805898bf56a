package main

import (
	"net/http"
	"testing"

	"github.com/jwtauth/jwtauth/examples/internal/exampletest"
	"github.com/jwtauth/jwtauth/jwtauth"
)

func TestExample(t *testing.T) {
	exampletest.Run(t, roles, func(svc *jwtauth.Service) http.Handler { return newApp(svc) })
}
