package sqlite

// SetReplaySweepEvery sets how many Seen calls pass between two sweeps of
// the expired proofs and returns a func restoring the previous value.
func SetReplaySweepEvery(n uint64) func() {
	old := replaySweepEvery
	replaySweepEvery = n
	return func() { replaySweepEvery = old }
}
