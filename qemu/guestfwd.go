package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// Guest forwards: slirp's guestfwd carries the guest's TCP connections to
// an address of its user network (e.g. 10.0.2.100:5000) to a server on
// the host. With restrict=on that is the only way out of the guest, and
// the host end must be 127.0.0.1: the guest still reaches nothing outside
// this machine.
//
// QEMU opens the host end once, when it starts (the forward is a
// character device: one TCP connection for the whole boot, which every
// guest connection to the address shares in turn), so the server must
// listen before QEMU runs. Config.GuestServers does that.

// GuestNet is slirp's user network: guest forwards must be inside it.
var GuestNet = netip.MustParsePrefix("10.0.2.0/24")

// reserved are slirp's own addresses in GuestNet: the network, the
// gateway (host loopback), the DNS server, the guest's DHCP address and
// the broadcast address.
var reserved = []string{"10.0.2.0", "10.0.2.2", "10.0.2.3", "10.0.2.15", "10.0.2.255"}

// GuestFwd is one parsed guest forward.
type GuestFwd struct {
	Guest    netip.AddrPort // the address the guest connects to
	HostPort int            // on 127.0.0.1
}

// ParseGuestFwd parses a guest forward in QEMU's syntax,
// "tcp:10.0.2.100:PORT-tcp:127.0.0.1:HOSTPORT". The guest address must be
// a free address of slirp's network and the host address 127.0.0.1.
func ParseGuestFwd(s string) (GuestFwd, error) {
	bad := func(why string) (GuestFwd, error) {
		return GuestFwd{}, fmt.Errorf("qemu: guestfwd %s: %s (want tcp:10.0.2.X:PORT-tcp:127.0.0.1:HOSTPORT)", s, why)
	}
	guest, host, ok := strings.Cut(s, "-")
	if !ok {
		return bad("no '-' between guest and host")
	}
	g, ok := strings.CutPrefix(guest, "tcp:")
	if !ok {
		return bad("guest side is not tcp:ADDR:PORT (slirp forwards TCP only)")
	}
	ap, err := netip.ParseAddrPort(g)
	if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
		return bad(fmt.Sprintf("guest side %q is not IPv4 ADDR:PORT", g))
	}
	if !GuestNet.Contains(ap.Addr()) {
		return bad(fmt.Sprintf("guest address %s is outside slirp's %s", ap.Addr(), GuestNet))
	}
	for _, r := range reserved {
		if ap.Addr().String() == r {
			return bad(fmt.Sprintf("guest address %s is one of slirp's own", r))
		}
	}
	h, ok := strings.CutPrefix(host, "tcp:")
	if !ok {
		return bad("host side is not tcp:127.0.0.1:PORT")
	}
	ha, hp, ok := strings.Cut(h, ":")
	if !ok || ha != HostFwdAddr {
		return bad(fmt.Sprintf("host address %q is not %s", ha, HostFwdAddr))
	}
	port, err := parsePort(hp)
	if err != nil {
		return bad("host " + err.Error())
	}
	return GuestFwd{Guest: ap, HostPort: port}, nil
}

// String formats f in QEMU's guestfwd syntax.
func (f GuestFwd) String() string {
	return fmt.Sprintf("tcp:%s-tcp:%s:%d", f.Guest, HostFwdAddr, f.HostPort)
}

// GuestServer is a server on the host that the guest reaches at Guest
// (an address of slirp's network, "10.0.2.100:5000") through a guest
// forward: Run listens on a free port of 127.0.0.1 before QEMU starts,
// forwards Guest there, and runs Serve with the listener and a writer for
// its log lines (prefixed "host: "). ctx ends, and the listener closes,
// when QEMU does; Run then waits for Serve. Its error goes to
// Result.HostErr.
type GuestServer struct {
	Guest string
	Serve func(ctx context.Context, l net.Listener, log io.Writer) error
}

// guestServers runs a Config's GuestServers.
type guestServers struct {
	fwds []string
	ls   []net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// listen opens the servers' listeners and returns the guest forwards.
func listenGuestServers(srvs []GuestServer) (*guestServers, error) {
	g := &guestServers{}
	for _, s := range srvs {
		ap, err := netip.ParseAddrPort(s.Guest)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("qemu: guest server %q: %w", s.Guest, err)
		}
		l, err := net.Listen("tcp", HostFwdAddr+":0")
		if err != nil {
			g.close()
			return nil, fmt.Errorf("qemu: guest server %s: %w", s.Guest, err)
		}
		g.ls = append(g.ls, l)
		f := GuestFwd{Guest: ap, HostPort: l.Addr().(*net.TCPAddr).Port}
		if _, err := ParseGuestFwd(f.String()); err != nil {
			g.close()
			return nil, err
		}
		g.fwds = append(g.fwds, f.String())
	}
	return g, nil
}

// start runs every Serve.
func (g *guestServers) start(ctx context.Context, srvs []GuestServer, log func() io.Writer) {
	for i, s := range srvs {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panicked: %v", r)
					}
				}()
				return s.Serve(ctx, g.ls[i], log())
			}()
			if err != nil {
				g.mu.Lock()
				g.errs = append(g.errs, fmt.Errorf("guest server %s: %w", s.Guest, err))
				g.mu.Unlock()
			}
		}()
	}
}

func (g *guestServers) close() {
	for _, l := range g.ls {
		_ = l.Close()
	}
}

// wait closes the listeners, waits for every Serve and returns their
// errors.
func (g *guestServers) wait() error {
	g.close()
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}
