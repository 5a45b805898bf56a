package jwtauth

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"time"
)

// DeviceCookieName is the cookie in which /login returns a device token and
// reads it back (see account.LoginThrottle). It is HttpOnly, SameSite=Strict,
// Secure (except over plain http to a loopback host), scoped to the path the
// login was posted to, and lives DeviceTokenTTL.
const DeviceCookieName = "jwtauth_device"

// deviceCookie is the Set-Cookie of token for the login request r. site
// says where the browser sees the account endpoints: its path when known
// (else r's path before a mount stripped a prefix), and whether the
// cookie must be Secure whatever r's Host (an https issuer).
func deviceCookie(r *http.Request, token string, ttl time.Duration, site cookieSite) *http.Cookie {
	p := r.URL.Path
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		p = u.Path // before any prefix was stripped by the mount
	}
	if site.path != "" {
		p = path.Join(site.path, "login")
	}
	return &http.Cookie{Name: DeviceCookieName, Value: token, Path: p, MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: site.secure || secureCookie(r), SameSite: http.SameSiteStrictMode}
}

// loopbackHost reports whether host (a Host header or a URL's host, with or
// without port) names this machine: localhost, 127.0.0.0/8 or ::1 (also
// IPv4-mapped), where browsers take cookies over http and plain-http JWKS
// URLs are allowed for development.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
