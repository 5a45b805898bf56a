package jwtauth

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

// ClientIP returns the address of the client that sent r. Without trusted
// proxies it is the address a web framework determined for r, when its
// adapter put one in r's context (ContextWithClientIP: adapters/gin does,
// with gin's c.ClientIP), and otherwise the host of r.RemoteAddr, with
// X-Forwarded-For ignored (a client can write anything there). So an
// application has one rule: the framework's, unless trusted is set, which
// then wins. When the connection comes from an
// address inside one of trusted, the X-Forwarded-For entries (all headers,
// in order) are read from the right, skipping addresses inside trusted; the
// first other entry is the client. An entry is an address ("203.0.113.7",
// "2001:db8::1"), an IPv4 address with a port ("203.0.113.7:4444") or a
// bracketed IPv6 address with or without a port ("[2001:db8::1]",
// "[2001:db8::1]:4444"); the port is dropped. When every entry is trusted
// the left-most is the client; when an entry does not parse, the nearest
// trusted hop to its right is returned, so a forged entry never selects an
// arbitrary address. The zero Addr is returned when RemoteAddr does not
// parse.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	if len(trusted) == 0 {
		if ip, ok := authn.ClientIPFromContext(r.Context()); ok {
			return ip
		}
	}
	peer := parseHost(r.RemoteAddr)
	if !peer.IsValid() || !inAny(peer, trusted) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseForwardedFor(hops[i])
		if !ok {
			return client
		}
		client = ip
		if !inAny(client, trusted) {
			return client
		}
	}
	return client
}

// ContextWithClientIP returns ctx carrying ip as the client address a web
// framework determined for the request (gin's c.ClientIP, which honours
// engine.SetTrustedProxies): ClientIP, and so the login and registration
// throttles and the audit events of Routes' handlers, use it when no
// trusted proxies of jwtauth's own are configured
// (RoutesConfig.TrustedProxies, Config.TrustedProxies), instead of
// r.RemoteAddr. An invalid ip (the zero Addr) leaves ctx as it is; an
// IPv4-mapped IPv6 address is unmapped. It is authn.ContextWithClientIP,
// which adapters/gin calls; an application mounting Routes on another
// framework can call either, with that framework's address.
func ContextWithClientIP(ctx context.Context, ip netip.Addr) context.Context {
	return authn.ContextWithClientIP(ctx, ip)
}

// parseForwardedFor parses one X-Forwarded-For entry (see ClientIP): "ip",
// "ipv4:port", "[ipv6]" or "[ipv6]:port", with blanks around it; a port is a
// decimal number up to 65535. IPv4-mapped addresses are unmapped.
func parseForwardedFor(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	var ip netip.Addr
	var err error
	if rest, ok := strings.CutPrefix(s, "["); ok {
		host, port, ok := strings.Cut(rest, "]")
		if !ok {
			return netip.Addr{}, false
		}
		if port != "" {
			p, ok := strings.CutPrefix(port, ":")
			if _, err := strconv.ParseUint(p, 10, 16); !ok || err != nil {
				return netip.Addr{}, false
			}
		}
		if ip, err = netip.ParseAddr(host); err != nil || !ip.Is6() {
			return netip.Addr{}, false
		}
	} else if strings.Count(s, ":") == 1 { // only IPv4 takes a port without brackets
		ap, err := netip.ParseAddrPort(s)
		if err != nil || !ap.Addr().Is4() {
			return netip.Addr{}, false
		}
		ip = ap.Addr()
	} else if ip, err = netip.ParseAddr(s); err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// parseHost parses the address of "host:port", "host" or "[v6]:port".
func parseHost(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

func inAny(ip netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
