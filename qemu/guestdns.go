package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/smpgo/smpgo/net/dnstest"
)

// The host side of the guest's DNS test (DNS/Guestfwd in net/resolv): a
// DNS server on 127.0.0.1 (net/dnstest: A/AAAA for the test zone,
// NXDOMAIN otherwise) that the guest's unmodified resolver reaches at
// GuestDNSAddr through slirp's guestfwd. guestfwd carries TCP only, so
// the guest's resolv.conf says `options use-vc`; and since every guest
// connection to the address shares slirp's one host connection in turn,
// also `single-request` (A, then AAAA: never two connections at once).

// GuestDNSAddr is where the guest reaches the host's DNS server.
const GuestDNSAddr = "10.0.2.53:53"

// GuestDNSEnv is the kernel environment variable that tells the guest's
// test the server is there.
const GuestDNSEnv = "DNS_HOSTSERVER"

// GuestDNSOptions are the kernel options that point the guest's resolver
// at GuestDNSAddr, plus a static hosts entry for the HTTP server.
const GuestDNSOptions = "net.dns=10.0.2.53 net.dnsopts=use-vc,single-request,timeout:5,attempts:2 hosts=static.dns.test=10.0.2.100"

// GuestDNSServer is the guest DNS test's host server.
func GuestDNSServer() GuestServer {
	return GuestServer{Guest: GuestDNSAddr, Serve: serveGuestDNS}
}

func serveGuestDNS(ctx context.Context, l net.Listener, log io.Writer) error {
	web, err := netip.ParseAddrPort(GuestHTTPAddr)
	if err != nil {
		return err
	}
	s := &dnstest.Server{Names: dnstest.TestZone(web.Addr())}
	go func() {
		<-ctx.Done()
		_ = l.Close()
	}()
	start := time.Now()
	err = s.ServeTCP(l, 0)
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	fmt.Fprintf(log, "guest DNS server: %d queries (%d answered, %d NXDOMAIN, %d malformed) in %v\n",
		s.Queries.Load(), s.Answered.Load(), s.NXDomain.Load(), s.Bad.Load(), time.Since(start).Round(time.Millisecond))
	if n := s.Bad.Load(); n > 0 && err == nil {
		err = fmt.Errorf("%d malformed queries", n)
	}
	return err
}
