// Package resolv configures name resolution for Go's unmodified net
// package: it writes /etc/resolv.conf, /etc/nsswitch.conf and /etc/hosts
// in the in-memory file system (fs/kfs), which Go's pure resolver (cgo is
// off) reads, from the kernel command line or, when that names no
// resolver, from the DHCP lease's DNS servers (option 6).
//
// Boot options (kern.RegisterOption; each may be repeated, values are
// comma-separated lists):
//
//	net.dns=A.B.C.D[,...]     name servers (IPv4, at most 3; resolv.conf
//	                          has no port: resolvers use 53)
//	net.dnsopts=OPT[,...]     resolv.conf options: use-vc (DNS over TCP),
//	                          single-request, rotate, edns0, trust-ad,
//	                          no-reload, ndots:N, timeout:N, attempts:N
//	net.search=DOMAIN[,...]   the search list (at most 6 domains)
//	hosts=NAME=ADDR[,...]     static /etc/hosts entries
//
// Go's resolver re-reads the three files when their modification time
// changes, checking at most every 5 seconds.
package resolv

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Limits of the resolv.conf format (resolv.conf(5): MAXNS, MAXDNSRCH).
const (
	MaxServers = 3
	MaxSearch  = 6
)

// Config is a resolver configuration.
type Config struct {
	Servers []netip.Addr
	Options []string
	Search  []string
	Hosts   []Host
	// Source says where Servers came from ("the command line", "DHCP on
	// em0"), for the file's comment.
	Source string
}

// Host is one static /etc/hosts entry.
type Host struct {
	Name string
	Addr netip.Addr
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ParseServers parses net.dns's value.
func ParseServers(v string) ([]netip.Addr, error) {
	l := splitList(v)
	if len(l) == 0 {
		return nil, errors.New("want A.B.C.D[,A.B.C.D...]")
	}
	if len(l) > MaxServers {
		return nil, fmt.Errorf("%d name servers: resolv.conf holds at most %d", len(l), MaxServers)
	}
	var out []netip.Addr
	for _, s := range l {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			if ap.Port() != 53 {
				return nil, fmt.Errorf("%q: a name server's port is always 53 (resolv.conf has no port)", s)
			}
			s = ap.Addr().String()
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() || a.IsUnspecified() {
			return nil, fmt.Errorf("%q is not an IPv4 address (the stack has no IPv6)", s)
		}
		out = append(out, a)
	}
	return out, nil
}

// ParseOptions parses net.dnsopts's value.
func ParseOptions(v string) ([]string, error) {
	l := splitList(v)
	if len(l) == 0 {
		return nil, errors.New("want OPT[,OPT...]")
	}
	for _, o := range l {
		switch o {
		case "use-vc", "usevc", "tcp", "single-request", "single-request-reopen", "rotate", "edns0", "trust-ad", "no-reload":
			continue
		}
		k, n, ok := strings.Cut(o, ":")
		lo, hi := 0, 0
		switch k {
		case "ndots":
			lo, hi = 0, 15
		case "timeout":
			lo, hi = 1, 30
		case "attempts":
			lo, hi = 1, 5
		default:
			return nil, fmt.Errorf("unknown resolver option %q (known: use-vc, single-request, single-request-reopen, rotate, edns0, trust-ad, no-reload, ndots:N, timeout:N, attempts:N)", o)
		}
		x, err := strconv.Atoi(n)
		if !ok || err != nil || x < lo || x > hi {
			return nil, fmt.Errorf("resolver option %q: want %s:N with N in %d..%d", o, k, lo, hi)
		}
	}
	return l, nil
}

// validName reports whether s is a host or domain name: dot-separated
// labels of letters, digits, '-' and '_' (1..63 bytes each), 253 bytes
// in all, an optional final dot.
func validName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ParseSearch parses net.search's value.
func ParseSearch(v string) ([]string, error) {
	l := splitList(v)
	if len(l) == 0 {
		return nil, errors.New("want DOMAIN[,DOMAIN...]")
	}
	if len(l) > MaxSearch {
		return nil, fmt.Errorf("%d search domains: resolv.conf holds at most %d", len(l), MaxSearch)
	}
	for _, d := range l {
		if !validName(d) {
			return nil, fmt.Errorf("%q is not a domain name", d)
		}
	}
	return l, nil
}

// ParseHosts parses hosts's value: NAME=ADDR pairs.
func ParseHosts(v string) ([]Host, error) {
	l := splitList(v)
	if len(l) == 0 {
		return nil, errors.New("want NAME=ADDR[,NAME=ADDR...]")
	}
	var out []Host
	for _, e := range l {
		n, a, ok := strings.Cut(e, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want NAME=ADDR", e)
		}
		if !validName(n) {
			return nil, fmt.Errorf("%q: %q is not a host name", e, n)
		}
		addr, err := netip.ParseAddr(a)
		if err != nil || addr.Zone() != "" {
			return nil, fmt.Errorf("%q: %q is not an IP address", e, a)
		}
		out = append(out, Host{Name: n, Addr: addr})
	}
	return out, nil
}

// FromOptions builds a Config from the boot options' values (get is
// kern.BootOption).
func FromOptions(get func(string) (string, bool)) (Config, error) {
	var c Config
	var err error
	if v, ok := get("net.dns"); ok {
		if c.Servers, err = ParseServers(v); err != nil {
			return c, fmt.Errorf("net.dns=%s: %w", v, err)
		}
		c.Source = "the command line"
	}
	if v, ok := get("net.dnsopts"); ok {
		if c.Options, err = ParseOptions(v); err != nil {
			return c, fmt.Errorf("net.dnsopts=%s: %w", v, err)
		}
	}
	if v, ok := get("net.search"); ok {
		if c.Search, err = ParseSearch(v); err != nil {
			return c, fmt.Errorf("net.search=%s: %w", v, err)
		}
	}
	if v, ok := get("hosts"); ok {
		if c.Hosts, err = ParseHosts(v); err != nil {
			return c, fmt.Errorf("hosts=%s: %w", v, err)
		}
	}
	return c, nil
}

// ResolvConf renders /etc/resolv.conf.
func (c Config) ResolvConf() []byte {
	var b strings.Builder
	src := c.Source
	if src == "" {
		src = "no source"
	}
	fmt.Fprintf(&b, "# written by smpgo (net/resolv) from %s\n", src)
	for _, s := range c.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(c.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(c.Search, " "))
	}
	if len(c.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(c.Options, " "))
	}
	return []byte(b.String())
}

// NSSwitch is /etc/nsswitch.conf: the hosts file first, then DNS.
const NSSwitch = "# written by smpgo (net/resolv)\nhosts: files dns\n"

// HostsLines renders c's static entries as /etc/hosts lines.
func (c Config) HostsLines() []byte {
	var b strings.Builder
	for _, h := range c.Hosts {
		fmt.Fprintf(&b, "%s\t%s\n", h.Addr, h.Name)
	}
	return []byte(b.String())
}
