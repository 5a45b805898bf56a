package postgres_test

import (
	"testing"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/dpop/dpoptest"
	"github.com/jwtauth/jwtauth/jwtauth/storetest"
)

// The store-round-trip benchmarks of jwtauth/storetest on this store; adapters/sqlite
// runs the same ones for comparison.

func benchStore(b *testing.B) account.Store {
	b.Helper()
	return newDB(b).open(b, "jwtauth-bench")
}

// BenchmarkStoreUserByName: storetest.BenchmarkUserByName (login's read).
func BenchmarkStoreUserByName(b *testing.B) { storetest.BenchmarkUserByName(b, benchStore(b)) }

// BenchmarkStoreRotateRefreshToken: storetest.BenchmarkRotateRefreshToken (refresh).
func BenchmarkStoreRotateRefreshToken(b *testing.B) {
	storetest.BenchmarkRotateRefreshToken(b, benchStore(b))
}

// BenchmarkStoreCreateUser: storetest.BenchmarkCreateUser (register).
func BenchmarkStoreCreateUser(b *testing.B) { storetest.BenchmarkCreateUser(b, benchStore(b)) }

// BenchmarkLogin: storetest.BenchmarkLogin, a login with the throttle in
// process and shared through PostgreSQL, in one run.
func BenchmarkLogin(b *testing.B) { storetest.BenchmarkLogin(b, benchStore(b)) }

// BenchmarkThrottle: storetest.BenchmarkThrottle, the take and refund a
// shared throttle adds to a login.
func BenchmarkThrottle(b *testing.B) { storetest.BenchmarkThrottle(b, benchStore(b)) }

// BenchmarkReplayCache: dpoptest.BenchmarkReplayCache, the statement a
// proof costs with the replay cache in the store.
func BenchmarkReplayCache(b *testing.B) {
	dpoptest.BenchmarkReplayCache(b, benchStore(b).(dpop.ReplayCache))
}
