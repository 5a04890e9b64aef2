package qemu

import (
	"fmt"
	"net"
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
// including an empty one (all interfaces), is rejected. HOSTPORT 0 asks
// Run to pick a free port (ResolveHostFwd).
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
	if hp[2] != "0" {
		if f.HostPort, err = parsePort(hp[2]); err != nil {
			return bad("host " + err.Error())
		}
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

// ResolveHostFwd parses fwds and gives every forward with host port 0 a
// port that is free on 127.0.0.1 now (the kernel picks it; another
// process may still take it before QEMU binds it, which Run retries).
// It returns the forwards in QEMU's syntax and parsed, and whether any
// port was picked.
func ResolveHostFwd(fwds []string) ([]string, []HostFwd, bool, error) {
	var out []string
	var parsed []HostFwd
	picked := false
	for _, s := range fwds {
		f, err := ParseHostFwd(s)
		if err != nil {
			return nil, nil, false, err
		}
		if f.HostPort == 0 {
			if f.HostPort, err = freePort(f.Proto); err != nil {
				return nil, nil, false, err
			}
			picked = true
		}
		out = append(out, f.String())
		parsed = append(parsed, f)
	}
	return out, parsed, picked, nil
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort(proto string) (int, error) {
	if proto == "udp" {
		c, err := net.ListenPacket("udp", HostFwdAddr+":0")
		if err != nil {
			return 0, fmt.Errorf("qemu: pick a free port: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", HostFwdAddr+":0")
	if err != nil {
		return 0, fmt.Errorf("qemu: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// HostPort returns the host port forwarded to guest port gp over proto,
// or 0.
func HostPort(fwds []HostFwd, proto string, gp int) int {
	for _, f := range fwds {
		if f.Proto == proto && f.GuestPort == gp {
			return f.HostPort
		}
	}
	return 0
}

// hostFwdBusy is QEMU's complaint when a forward's host port is taken.
const hostFwdBusy = "Could not set up host forwarding rule"
