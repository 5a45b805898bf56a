package dpop_test

import (
	"testing"

	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/dpop/dpoptest"
)

func TestMemoryReplayCacheConformance(t *testing.T) {
	dpoptest.RunReplayCache(t, func(*testing.T) dpop.ReplayCache { return dpop.NewMemoryReplayCache(2000) })
}

// BenchmarkMemoryReplayCache: dpoptest.BenchmarkReplayCache on the default
// cache, for comparison with the stores'.
func BenchmarkMemoryReplayCache(b *testing.B) {
	dpoptest.BenchmarkReplayCache(b, dpop.NewMemoryReplayCache(dpop.DefaultReplayCacheSize))
}
