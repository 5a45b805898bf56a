//go:build unix

package sqlite

import "syscall"

// writable reports whether this process may write the file at path
// (access(2) with W_OK): it fails for a file made read-only or immutable.
func writable(path string) error {
	const wOK = 2 // W_OK of <unistd.h>
	return syscall.Access(path, wOK)
}
