//go:build !unix

package sqlite

// writable is not checked where there is no access(2): a read-only file
// shows when a write fails.
func writable(string) error { return nil }
