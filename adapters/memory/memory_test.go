package memory_test

import (
	"testing"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/dpop/dpoptest"
	"github.com/jwtauth/jwtauth/jwtauth/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) account.Store { return memory.New() })
}

func TestReplayCacheConformance(t *testing.T) {
	dpoptest.RunReplayCache(t, func(*testing.T) dpop.ReplayCache { return memory.New() })
}
