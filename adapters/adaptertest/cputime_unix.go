//go:build unix

package adaptertest

import "syscall"

// cpuTime returns the CPU time (user and system, all threads) the process
// has used so far, in nanoseconds, and whether the platform reports it.
func cpuTime() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
