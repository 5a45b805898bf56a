//go:build !unix

package adaptertest

// cpuTime reports no CPU time where getrusage is missing.
func cpuTime() (int64, bool) { return 0, false }
