// Package hashhook is the test seam through which the tests of package
// account count and time the password-hash computations of a request. It is
// internal: nothing outside tests sets it, and it is not part of the API.
package hashhook

// Kinds of password-hash computation, as Hook reports them.
const (
	Argon2id = "argon2id"
	Bcrypt   = "bcrypt"
)

// Hook, when set (by tests only, never concurrently with hashing), is
// called before every password-hash computation with its kind and, for
// argon2id, its memory (KiB), iterations and lanes (zero for bcrypt).
var Hook func(kind string, memory, iterations uint32, lanes uint8)

// Report calls Hook, if set.
func Report(kind string, memory, iterations uint32, lanes uint8) {
	if h := Hook; h != nil {
		h(kind, memory, iterations, lanes)
	}
}
