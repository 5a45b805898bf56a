package dpop_test

import (
	"testing"

	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/dpop/dpoptest"
)

func TestMemoryReplayCacheConformance(t *testing.T) {
	dpoptest.RunReplayCache(t, func(*testing.T) dpop.ReplayCache { return dpop.NewMemoryReplayCache(1000) })
}
