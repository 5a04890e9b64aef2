package qemu

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// HostFwdAddr is the only host address a port forward may listen on:
// the guest is never reachable from outside this machine.
const HostFwdAddr = "127.0.0.1"

// HostFwd is one parsed port forward.
type HostFwd struct {
	Proto     string // "tcp" or "udp"
	HostPort  int
	GuestAddr string // empty: the guest's DHCP address
	GuestPort int
}

// ParseHostFwd parses a forward in QEMU's hostfwd syntax,
// "tcp:127.0.0.1:HOSTPORT-:GUESTPORT" (udp too; a guest address may
// stand before the guest port). Any host address other than 127.0.0.1,
// including an empty one (all interfaces), is rejected.
func ParseHostFwd(s string) (HostFwd, error) {
	bad := func(why string) (HostFwd, error) {
		return HostFwd{}, fmt.Errorf("qemu: -hostfwd %s: %s (want tcp:127.0.0.1:HOSTPORT-:GUESTPORT)", s, why)
	}
	host, guest, ok := strings.Cut(s, "-")
	if !ok {
		return bad("no '-' between host and guest")
	}
	hp := strings.Split(host, ":")
	if len(hp) != 3 {
		return bad("host side is not PROTO:ADDR:PORT")
	}
	var f HostFwd
	f.Proto = hp[0]
	if f.Proto != "tcp" && f.Proto != "udp" {
		return bad(fmt.Sprintf("protocol %q is not tcp or udp", f.Proto))
	}
	if hp[1] != HostFwdAddr {
		return bad(fmt.Sprintf("host address %q is not %s", hp[1], HostFwdAddr))
	}
	var err error
	if f.HostPort, err = parsePort(hp[2]); err != nil {
		return bad("host " + err.Error())
	}
	ga, gp, ok := strings.Cut(guest, ":")
	if !ok {
		return bad("guest side is not [ADDR]:PORT")
	}
	if ga != "" {
		a, err := netip.ParseAddr(ga)
		if err != nil || !a.Is4() {
			return bad(fmt.Sprintf("guest address %q is not an IPv4 address", ga))
		}
		f.GuestAddr = ga
	}
	if f.GuestPort, err = parsePort(gp); err != nil {
		return bad("guest " + err.Error())
	}
	return f, nil
}

// String formats f in QEMU's hostfwd syntax.
func (f HostFwd) String() string {
	return fmt.Sprintf("%s:%s:%d-%s:%d", f.Proto, HostFwdAddr, f.HostPort, f.GuestAddr, f.GuestPort)
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not 1 to 65535", s)
	}
	return n, nil
}
