package jwtauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
)

// deviceToken returns the device token of a login's Set-Cookie, or "".
func deviceToken(res response) string {
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		if c.Name == jwtauth.DeviceCookieName {
			return c.Value
		}
	}
	return ""
}

// withCookie adds a Cookie header.
func withCookie(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: name, Value: value}) }
}

func countCodes(codes []int) map[int]int {
	m := map[int]int{}
	for _, c := range codes {
		m[c]++
	}
	return m
}

// TestRegistrationBudgetPerAddress: /register is counted per client address
// (IPv4 address or IPv6 /64, behind trusted proxies the X-Forwarded-For
// client) like login: 20 at once, then one every 3 minutes, 429 with
// Retry-After beyond that.
func TestRegistrationBudgetPerAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	s := newServer(t, memory.New(), options{trusted: trusted})
	reg := func(user string, edit ...func(*http.Request)) response {
		return s.do("POST", "/register", creds(user, alicePW), edit...)
	}
	for i := range 20 {
		require.Equal(t, http.StatusCreated, reg(fmt.Sprintf("u%d", i), from("192.0.2.1:1")).Code, "registration %d", i+1)
	}
	res := reg("u20", from("192.0.2.1:2"))
	require.Equal(t, http.StatusTooManyRequests, res.Code, res.Raw)
	assert.Equal(t, "too_many_requests", res.str("error"))
	assert.Equal(t, "180", res.Header.Get("Retry-After"))
	assert.Equal(t, http.StatusTooManyRequests, reg("u0", from("192.0.2.1:3")).Code, "a taken name is refused by the budget too: no free enumeration")
	assert.Equal(t, http.StatusCreated, reg("u20", from("192.0.2.2:1")).Code, "another address")
	s.clock.Advance(3 * time.Minute)
	assert.Equal(t, http.StatusCreated, reg("u21", from("192.0.2.1:1")).Code, "one more after 3 minutes")
	assert.Equal(t, http.StatusTooManyRequests, reg("u22", from("192.0.2.1:1")).Code)

	// IPv6: one /64 is one client.
	for i := range 20 {
		require.Equal(t, http.StatusCreated, reg(fmt.Sprintf("v%d", i), from(fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1))).Code)
	}
	assert.Equal(t, http.StatusTooManyRequests, reg("v20", from("[2001:db8:1:2:ffff::1]:443")).Code)
	assert.Equal(t, http.StatusCreated, reg("v20", from("[2001:db8:1:3::1]:443")).Code)

	// Behind a trusted proxy the X-Forwarded-For client is counted, as for login.
	xff := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.RemoteAddr = "10.1.2.3:9999"; r.Header.Set("X-Forwarded-For", v) }
	}
	for i := range 20 {
		require.Equal(t, http.StatusCreated, reg(fmt.Sprintf("p%d", i), xff("203.0.113.50, 10.0.0.2")).Code)
	}
	assert.Equal(t, http.StatusTooManyRequests, reg("p20", xff("9.9.9.9, 203.0.113.50")).Code, "a spoofed left-most entry does not help")
	assert.Equal(t, http.StatusCreated, reg("p20", xff("203.0.113.51")).Code)

	// Entries with a port, or an IPv6 address in brackets, name their client
	// instead of falling back to the proxy's bucket, which every client
	// behind it would share.
	for i := range 20 {
		require.Equal(t, http.StatusCreated, reg(fmt.Sprintf("q%d", i), xff(fmt.Sprintf("203.0.113.60:%d, 10.0.0.2:80", 4000+i))).Code, "registration %d", i+1)
	}
	assert.Equal(t, http.StatusTooManyRequests, reg("q20", xff("203.0.113.60")).Code)
	assert.Equal(t, http.StatusCreated, reg("q20", xff("203.0.113.61:4000")).Code, "another client behind the proxy")
	assert.Equal(t, http.StatusCreated, reg("q21", xff("[2001:db8:9::1]")).Code)
	assert.Equal(t, http.StatusCreated, reg("q22", xff("[2001:db8:9::2]:443")).Code)

	// 6to4: the holder of 203.0.113.70 has all of 2002:cb00:7146::/48, 65,536
	// /64 networks; its addresses count as that IPv4 address.
	for i := range 20 {
		require.Equal(t, http.StatusCreated, reg(fmt.Sprintf("s%d", i), from(fmt.Sprintf("[2002:cb00:7146:%x::1]:443", i+1))).Code, "registration %d", i+1)
	}
	assert.Equal(t, http.StatusTooManyRequests, reg("s20", from("[2002:cb00:7146:ffff::1]:443")).Code)
	assert.Equal(t, http.StatusTooManyRequests, reg("s20", from("203.0.113.70:1")).Code, "the embedded IPv4 address itself")
	assert.Equal(t, http.StatusCreated, reg("s20", from("[2002:cb00:7147::1]:443")).Code, "another IPv4 address's 6to4 network")
}

// TestRegisterTakenNameWithoutHashing: a taken name is answered 409 from a
// lookup, without waiting for a password-hash slot (the 409 itself says the
// name exists, so answering it sooner leaks nothing).
func TestRegisterTakenNameWithoutHashing(t *testing.T) {
	st := &blockingUsers{Store: memory.New(), entered: make(chan struct{}), release: make(chan struct{})}
	s := newServer(t, st, options{accounts: func(c *account.Config) {
		c.Throttle = account.LoginThrottle{MaxConcurrentHashes: 1, HashWait: 20 * time.Millisecond}
	}})
	s.register("alice", alicePW)
	h, err := bcrypt.GenerateFromPassword([]byte("legacy password"), bcrypt.MinCost)
	require.NoError(t, err)
	require.NoError(t, st.CreateUser(context.Background(), account.User{Username: "legacy", PasswordHash: string(h)}))
	done := make(chan response)
	go func() { done <- s.do("POST", "/login", creds("legacy", "legacy password")) }()
	<-st.entered // the rehash holds the only hash slot

	res := s.do("POST", "/register", creds("ALICE", "another password"))
	assert.Equal(t, http.StatusConflict, res.Code, res.Raw)
	assert.Equal(t, "user_exists", res.str("error"))
	assert.Equal(t, http.StatusServiceUnavailable, s.do("POST", "/register", creds("bob", alicePW)).Code, "a new name needs the slot")
	close(st.release)
	assert.Equal(t, http.StatusOK, (<-done).Code)
}

// TestRegistrationFloodLeavesLoginItsHashes is issue 16.4's reproduction:
// many concurrent registrations while a victim logs in with the right
// password. Every one of the victim's logins must succeed: registration is
// budgeted per address, a taken name costs no hash, and registrations may
// hold only half of the hash slots and wait in their own queue.
func TestRegistrationFloodLeavesLoginItsHashes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flood func(worker, i int) (user, addr string)
	}{
		// The flood: one name, one address.
		{"one name from one address", func(int, int) (string, string) { return "mallory", "198.51.100.66:1" }},
		// New names from many addresses: neither the budget nor the name
		// check helps; the hash slots' split alone keeps login going.
		{"new names from many addresses", func(w, i int) (string, string) {
			return fmt.Sprintf("m%d-%d", w, i), fmt.Sprintf("198.51.%d.%d:1", w/200, w%200+1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, memory.New(), options{accounts: func(c *account.Config) {
				c.Argon2 = credential.Argon2Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
				c.Throttle = account.LoginThrottle{MaxConcurrentHashes: 2, HashQueue: 8, HashWait: time.Minute}
			}})
			s.register("victim", alicePW)
			// The flood runs until the victim is done, at most perWorker
			// requests per worker; the victim starts once every worker has
			// had an answer, and logs in victimLogins times at once.
			const workers, perWorker, victimLogins = 64, 200, 10
			var victimDone atomic.Bool
			var started sync.WaitGroup
			started.Add(workers)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var flood []int
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var mine []int
					for i := 0; i < perWorker && !victimDone.Load(); i++ {
						user, addr := tc.flood(w, i)
						mine = append(mine, s.do("POST", "/register", creds(user, "flood password"), from(addr)).Code)
						if i == 0 {
							started.Done()
						}
					}
					mu.Lock()
					flood = append(flood, mine...)
					mu.Unlock()
				}()
			}
			started.Wait()
			victim := make([]int, victimLogins)
			var vg sync.WaitGroup
			for i := range victimLogins {
				vg.Add(1)
				go func() {
					defer vg.Done()
					victim[i] = s.do("POST", "/login", creds("victim", alicePW), from("203.0.113.7:1")).Code
				}()
			}
			vg.Wait()
			victimDone.Store(true)
			wg.Wait()
			ok := countCodes(victim)[http.StatusOK]
			t.Logf("flood: %d registrations %v; victim: %d of %d logins succeeded %v", len(flood), countCodes(flood), ok, victimLogins, countCodes(victim))
			assert.Equal(t, victimLogins, ok, "every login of the victim succeeds under the flood")
		})
	}
}

// TestDeviceTokenBeatsLockout is issue 16.5's reproduction: an attacker who
// does not know the password locks the victim's name from one address; the
// victim still logs in from a device where they logged in before (OWASP
// "Slow Down Online Guessing Attacks with Device Cookies"), and the
// attacker's refused attempts are charged to the attacker's address.
func TestDeviceTokenBeatsLockout(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	s.register("alice", alicePW)
	s.register("bob", "bob's long password")
	const victim, attacker, other = "203.0.113.7:1", "198.51.100.66:1", "192.0.2.9:1"

	first := s.login("alice", alicePW, from(victim))
	device := deviceToken(first)
	require.NotEmpty(t, device, "a successful login sets a device token cookie: %v", first.Header)
	assert.NotContains(t, first.Body, "device_token", "the body is SPEC §2's")
	cookie := first.Header.Get("Set-Cookie")
	require.NotEmpty(t, cookie)
	for _, attr := range []string{"jwtauth_device=" + device, "Path=/login", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age="} {
		assert.Contains(t, cookie, attr)
	}

	// The attacker locks alice's name from one address.
	var codes []int
	for i := range 11 {
		codes = append(codes, s.do("POST", "/login", creds("alice", fmt.Sprintf("guess %d!", i)), from(attacker)).Code)
	}
	assert.Equal(t, map[int]int{http.StatusUnauthorized: 10, http.StatusTooManyRequests: 1}, countCodes(codes))

	// Without a device token the right password waits: that is the
	// per-username protection against distributed guessing.
	assert.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("alice", alicePW), from(victim)).Code)
	// With the device token (cookie or JSON member) the victim gets in, and
	// gets a fresh device token.
	viaCookie := s.login("alice", alicePW, from(victim), withCookie("jwtauth_device", device))
	assert.NotEmpty(t, deviceToken(viaCookie))
	viaBody := s.do("POST", "/login", map[string]string{"username": "ALICE", "password": alicePW, "device_token": device}, from(other))
	assert.Equal(t, http.StatusOK, viaBody.Code, viaBody.Raw)

	// A device token counts only for the name it was issued to, and only as issued.
	bob := s.login("bob", "bob's long password", from(other))
	assert.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("alice", alicePW), from(victim), withCookie("jwtauth_device", deviceToken(bob))).Code)
	tampered := []byte(device)
	tampered[20] ^= 1
	assert.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("alice", alicePW), from(victim), withCookie("jwtauth_device", string(tampered))).Code)

	// A device token is throttled on its own: 10 failures lock it, and then
	// even the right password with it waits.
	for i := range 10 {
		require.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds("alice", fmt.Sprintf("typo %d!", i)), from(victim), withCookie("jwtauth_device", device)).Code)
	}
	assert.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("alice", alicePW), from(victim), withCookie("jwtauth_device", device)).Code)
	assert.Equal(t, http.StatusOK, s.do("POST", "/login", creds("alice", alicePW), from(victim), withCookie("jwtauth_device", deviceToken(viaCookie))).Code, "another device is not affected")

	// Every refused attempt was charged to the attacker's address: after 100
	// requests from it, even another username is refused there.
	for range 100 - len(codes) {
		require.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("alice", "guess"), from(attacker)).Code)
	}
	res := s.do("POST", "/login", creds("bob", "bob's long password"), from(attacker))
	assert.Equal(t, http.StatusTooManyRequests, res.Code, "the attacker's address has spent its budget on refused attempts")
	assert.Equal(t, http.StatusOK, s.do("POST", "/login", creds("bob", "bob's long password"), from(other)).Code)
}

// TestDeviceTokenExpires: a device token older than DeviceTokenTTL is no
// longer trusted.
func TestDeviceTokenExpires(t *testing.T) {
	s := newServer(t, memory.New(), options{accounts: func(c *account.Config) {
		c.Throttle.DeviceTokenTTL = 24 * time.Hour
	}})
	s.register("alice", alicePW)
	device := deviceToken(s.login("alice", alicePW))
	s.clock.Advance(24*time.Hour + time.Second)
	for range 10 {
		s.do("POST", "/login", creds("alice", "wrong password"), from("198.51.100.66:1"))
	}
	assert.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("alice", alicePW), withCookie("jwtauth_device", device)).Code)
}

// lockName fails ten logins of user from another address, so that the
// right password without a device token is refused.
func lockName(s *server, user, pw string) {
	s.t.Helper()
	for i := range 10 {
		require.Equal(s.t, http.StatusUnauthorized, s.do("POST", "/login", creds(user, fmt.Sprintf("guess %d!", i)), from("198.51.100.66:1")).Code)
	}
	require.Equal(s.t, http.StatusTooManyRequests, s.do("POST", "/login", creds(user, pw), from("203.0.113.7:1")).Code, "%s is locked", user)
}

// assertDeviceRefused: a login of user with the right password and device
// (as the cookie, and as the device_token member) is refused with 429:
// device does not lift the lock on user's name.
func assertDeviceRefused(t *testing.T, s *server, user, pw, device, msg string) {
	t.Helper()
	res := s.do("POST", "/login", creds(user, pw), from("203.0.113.7:1"), withCookie(jwtauth.DeviceCookieName, device))
	assert.Equal(t, http.StatusTooManyRequests, res.Code, "cookie: %s: %s", msg, res.Raw)
	assert.Equal(t, "too_many_requests", res.str("error"))
	res = s.do("POST", "/login", map[string]string{"username": user, "password": pw, "device_token": device}, from("203.0.113.7:1"))
	assert.Equal(t, http.StatusTooManyRequests, res.Code, "device_token member: %s: %s", msg, res.Raw)
}

// TestDeviceTokenOfAnotherAccountWithTheSameHash: two accounts whose stored
// hashes are the same string (imported users, an application's own users
// table) have the same device-token key; the token is still bound to its
// username, so alice's device token does not lift the lock on bob's name.
func TestDeviceTokenOfAnotherAccountWithTheSameHash(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		st := open(t)
		s := newServer(t, st, options{})
		ctx := context.Background()
		s.register("alice", alicePW)
		alice, err := st.UserByName(ctx, "alice")
		require.NoError(t, err)
		require.NoError(t, st.CreateUser(ctx, account.User{Username: "bob", PasswordHash: alice.PasswordHash, CreatedAt: s.clock.Now()}))

		aliceDevice := deviceToken(s.login("alice", alicePW, from("203.0.113.7:1")))
		bobDevice := deviceToken(s.login("bob", alicePW, from("203.0.113.7:1")))
		require.NotEmpty(t, aliceDevice)
		require.NotEmpty(t, bobDevice)
		bob, err := st.UserByName(ctx, "bob")
		require.NoError(t, err)
		require.Equal(t, alice.PasswordHash, bob.PasswordHash, "no rehash split the hashes")

		lockName(s, "bob", alicePW)
		assertDeviceRefused(t, s, "bob", alicePW, aliceDevice, "alice's device token lifts the lock on bob's name")
		assert.Equal(t, http.StatusOK, s.do("POST", "/login", creds("bob", alicePW), from("203.0.113.7:1"), withCookie(jwtauth.DeviceCookieName, bobDevice)).Code, "bob's own device token")
	})
}

// TestDeviceTokenEndsWithPasswordChange: the device-token key comes from
// the stored hash, so a token issued before the hash changed (a password
// change; set here through the account.UserStore port, as there is no endpoint
// yet) no longer lifts the lock on the name; a token issued after it does.
func TestDeviceTokenEndsWithPasswordChange(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		st := open(t)
		s := newServer(t, st, options{})
		s.register("alice", alicePW)
		old := deviceToken(s.login("alice", alicePW, from("203.0.113.7:1")))
		require.NotEmpty(t, old)

		const newPW = "a new and longer password"
		h, err := credential.HashPassword(newPW, fastArgon)
		require.NoError(t, err)
		require.NoError(t, st.UpdatePasswordHash(context.Background(), "alice", h))
		fresh := deviceToken(s.login("alice", newPW, from("203.0.113.7:1")))
		require.NotEmpty(t, fresh)

		lockName(s, "alice", newPW)
		assertDeviceRefused(t, s, "alice", newPW, old, "a device token from before the password change lifts the lock")
		assert.Equal(t, http.StatusOK, s.do("POST", "/login", creds("alice", newPW), from("203.0.113.7:1"), withCookie(jwtauth.DeviceCookieName, fresh)).Code, "a device token from after the change")
	})
}

// TestLoginWithDeviceSpendsTheAddressBudget: a valid device token replaces
// the username's bucket, not the address's: with an address budget of 3,
// three wrong passwords sent with alice's valid device token spend it, and
// the address is refused (for any name, even with the right password and
// the device token) until a token comes back, while alice's device bucket
// is far from empty.
func TestLoginWithDeviceSpendsTheAddressBudget(t *testing.T) {
	s := newServer(t, memory.New(), options{accounts: func(c *account.Config) {
		c.Throttle = account.LoginThrottle{IPFailures: 3}
	}})
	s.register("alice", alicePW)
	s.register("bob", "bob's long password")
	ctx := context.Background()
	home, away := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("198.51.100.66")
	first, err := s.accounts.LoginWithDevice(ctx, home, "alice", alicePW, "")
	require.NoError(t, err)
	device := first.DeviceToken
	require.NotEmpty(t, device)

	status := func(err error, msg string) (string, time.Duration) {
		t.Helper()
		var e *account.Error
		require.ErrorAs(t, err, &e, msg)
		return e.Code, e.RetryAfter
	}
	for i := range 3 {
		_, err := s.accounts.LoginWithDevice(ctx, away, "alice", fmt.Sprintf("guess %d!", i), device)
		code, _ := status(err, "a wrong password")
		require.Equal(t, "invalid_credentials", code, "guess %d", i)
	}
	_, err = s.accounts.LoginWithDevice(ctx, away, "alice", alicePW, device)
	code, after := status(err, "the address spent its budget on logins with a device token")
	assert.Equal(t, "too_many_requests", code)
	assert.Equal(t, account.DefaultIPInterval, after)
	_, err = s.accounts.LoginFrom(ctx, away, "bob", "bob's long password")
	code, _ = status(err, "another name from the address")
	assert.Equal(t, "too_many_requests", code)

	_, err = s.accounts.LoginWithDevice(ctx, home, "alice", alicePW, device)
	require.NoError(t, err, "another address")
	s.clock.Advance(account.DefaultIPInterval)
	_, err = s.accounts.LoginWithDevice(ctx, away, "alice", alicePW, device)
	require.NoError(t, err, "one token came back")
}

// TestDeviceTokenLoginsChargeTheAddress is TestLoginWithDeviceSpendsTheAddressBudget
// through /login: wrong passwords sent with a valid device cookie spend the
// address's budget of 3.
func TestDeviceTokenLoginsChargeTheAddress(t *testing.T) {
	s := newServer(t, memory.New(), options{accounts: func(c *account.Config) {
		c.Throttle = account.LoginThrottle{IPFailures: 3}
	}})
	s.register("alice", alicePW)
	s.register("bob", "bob's long password")
	const home, away = "203.0.113.7:1", "198.51.100.66:1"
	device := withCookie(jwtauth.DeviceCookieName, deviceToken(s.login("alice", alicePW, from(home))))
	for i := range 3 {
		res := s.do("POST", "/login", creds("alice", fmt.Sprintf("guess %d!", i)), from(away), device)
		require.Equal(t, http.StatusUnauthorized, res.Code, res.Raw)
	}
	res := s.do("POST", "/login", creds("alice", alicePW), from(away), device)
	assert.Equal(t, http.StatusTooManyRequests, res.Code, "the address spent its budget on logins with a device cookie: %s", res.Raw)
	assert.Equal(t, "6", res.Header.Get("Retry-After"))
	assert.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("bob", "bob's long password"), from(away)).Code, "another name from the address")
	assert.Equal(t, http.StatusOK, s.do("POST", "/login", creds("alice", alicePW), from(home), device).Code, "another address")
}

// TestDeviceCookieAttributes: the cookie is Secure except on plain http to a
// loopback host, and its path is the path the login was posted to.
func TestDeviceCookieAttributes(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	s.register("alice", alicePW)
	for _, tc := range []struct {
		host   string
		secure bool
	}{{"auth.example.com", true}, {"127.0.0.1:8080", false}, {"localhost:8080", false}, {"[::1]:8080", false}} {
		res := s.login("alice", alicePW, func(r *http.Request) { r.Host = tc.host })
		c := res.Header.Get("Set-Cookie")
		assert.Equal(t, tc.secure, strings.Contains(c, "; Secure"), "%s: %s", tc.host, c)
		assert.Contains(t, c, "HttpOnly")
	}
	// Mounted under a prefix, the cookie's path is the one the browser posted to.
	mux := s.h
	s.h = http.StripPrefix("/auth", mux)
	res := s.do("POST", "/auth/login", creds("alice", alicePW))
	require.Equal(t, http.StatusOK, res.Code, res.Raw)
	assert.Contains(t, res.Header.Get("Set-Cookie"), "; Path=/auth/login;")
	s.h = mux
	// A JSON member that is not a string is a bad request.
	res = s.do("POST", "/login", `{"username":"alice","password":"`+alicePW+`","device_token":1}`)
	assert.Equal(t, http.StatusBadRequest, res.Code, res.Raw)
	// Refresh answers carry no device token.
	l := s.login("alice", alicePW)
	r := s.refresh(l.str("refresh_token"))
	require.Equal(t, http.StatusOK, r.Code)
	assert.NotContains(t, r.Body, "device_token")
	assert.Empty(t, r.Header.Get("Set-Cookie"))
}

// TestRefusalsForALockedNameChargeTheAddress: a login refused because its
// username is throttled still counts against the sender's address, so one
// address cannot keep names locked for free.
func TestRefusalsForALockedNameChargeTheAddress(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	s.register("bob", "bob's long password")
	const attacker = "198.51.100.66:1"
	var codes []int
	for range 100 {
		codes = append(codes, s.do("POST", "/login", creds("alice", "a guess"), from(attacker)).Code)
	}
	assert.Equal(t, map[int]int{http.StatusUnauthorized: 10, http.StatusTooManyRequests: 90}, countCodes(codes))
	res := s.do("POST", "/login", creds("bob", "bob's long password"), from(attacker))
	assert.Equal(t, http.StatusTooManyRequests, res.Code, "100 requests from one address, 90 of them refused, spend its budget")
	assert.Equal(t, "6", res.Header.Get("Retry-After"))
	s.login("bob", "bob's long password", from("192.0.2.9:1"))
}

// downThrottle is an account.ThrottleStore that cannot be reached.
type downThrottle struct{ takes atomic.Int64 }

var errThrottleDown = fmt.Errorf("throttle table: %w: connection refused", account.ErrStoreUnavailable)

func (d *downThrottle) TakeThrottle(context.Context, time.Time, []account.ThrottleBucket) (time.Duration, error) {
	d.takes.Add(1)
	return 0, errThrottleDown
}

func (d *downThrottle) RefundThrottle(context.Context, time.Time, []account.ThrottleBucket) error {
	return errThrottleDown
}

func (d *downThrottle) PurgeThrottle(context.Context, time.Time) (int64, error) {
	return 0, errThrottleDown
}

// TestSharedThrottleUnreachable: when the throttle's store cannot be
// reached, logins and registrations answer 503 with Retry-After, before
// any password is hashed: the throttle never fails open into unlimited
// guessing (issue 15.1).
func TestSharedThrottleUnreachable(t *testing.T) {
	down := &downThrottle{}
	var hashes atomic.Int64 // account.Trace.HashDone calls
	s := newServer(t, memory.New(), options{accounts: func(c *account.Config) {
		c.Throttle.Store = down
		c.Trace = &account.Trace{HashDone: func(time.Duration) { hashes.Add(1) }}
	}})
	require.NoError(t, s.accounts.Register(t.Context(), "alice", "correct horse battery"))
	hashes.Store(0)
	for _, pass := range []string{"correct horse battery", "wrong guess"} {
		r := s.do(http.MethodPost, "/login", map[string]string{"username": "alice", "password": pass})
		assert.Equal(t, http.StatusServiceUnavailable, r.Code, "login with %q", pass)
		assert.Equal(t, "temporarily_unavailable", r.str("error"))
		assert.NotEmpty(t, r.Header.Get("Retry-After"))
	}
	r := s.do(http.MethodPost, "/register", map[string]string{"username": "bob", "password": "correct horse battery"})
	assert.Equal(t, http.StatusServiceUnavailable, r.Code, "registration")
	assert.Zero(t, hashes.Load(), "no password hashed without a throttle token")
	assert.Equal(t, int64(3), down.takes.Load())
	_, err := s.accounts.Purge(t.Context())
	assert.ErrorIs(t, err, account.ErrStoreUnavailable, "Purge reports the throttle's store")
}
