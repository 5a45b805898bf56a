package memory_test

import (
	"testing"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) jwtauth.Store { return memory.New() })
}
