package resolv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/net/dnstest"
	"github.com/smpgo/smpgo/net/kstack"
)

// DNS/ self-tests: Go's unmodified resolver (net.LookupHost, LookupIP,
// LookupAddr) inside the kernel, reading the files this package writes.
// The loopback tests run dnstest's server on 127.0.0.1:53 in the guest
// and point /etc/resolv.conf at it (UDP, or TCP with use-vc), then give
// the boot's file back. Go's resolver notices a changed file at most
// every 5 s, so each test first waits (bounded) until its own server
// answers a name only it knows.
func init() {
	for _, tc := range []struct {
		name string
		fn   func(*kern.T)
	}{
		{"DNS/BootConfig", testBootConfig},
		{"DNS/LoopbackUDP", func(t *kern.T) { testLoopback(t, "udp") }},
		{"DNS/LoopbackTCP", func(t *kern.T) { testLoopback(t, "tcp") }},
		{"DNS/HostsFile", testHostsFile},
		{"DNS/DeadResolver", testDeadResolver},
	} {
		kern.RegisterTest(kern.Test{Name: tc.name, Fn: tc.fn, Timeout: 5 * time.Minute})
	}
}

// switchWait bounds the wait for Go's resolver to read a changed file
// (it checks every 5 s; a loaded TCG host stretches that).
const switchWait = 90 * time.Second

// testBootConfig: the files match the boot options, or the DHCP lease.
func testBootConfig(t *kern.T) {
	ns, err := os.ReadFile(NSSwitchPath)
	if err != nil || !strings.Contains(string(ns), "hosts: files dns") {
		t.Errorf("%s: %q, %v; want hosts: files dns", NSSwitchPath, ns, err)
	}
	c, err := FromOptions(kern.BootOption)
	if err != nil {
		t.Fatalf("boot options: %v", err)
	}
	hosts, err := os.ReadFile(HostsPath)
	if err != nil || !bytes.Contains(hosts, []byte("127.0.0.1\tlocalhost\n")) || !bytes.Contains(hosts, c.HostsLines()) {
		t.Errorf("%s: %q, %v; want localhost and %q", HostsPath, hosts, err, c.HostsLines())
	}
	for _, h := range c.Hosts {
		addrs, err := net.LookupHost(h.Name)
		if err != nil || !slices.Contains(addrs, h.Addr.String()) {
			t.Errorf("LookupHost(%s) = %v, %v; want %s (hosts=)", h.Name, addrs, err, h.Addr)
		}
	}
	if len(c.Servers) > 0 {
		got, err := os.ReadFile(ResolvConfPath)
		if err != nil || string(got) != string(c.ResolvConf()) {
			t.Errorf("%s = %q, %v; want %q", ResolvConfPath, got, err, c.ResolvConf())
		}
		t.Logf("%s", Status())
		return
	}
	s := kstack.Sys()
	if s == nil || len(s.Interfaces()) == 0 {
		if _, err := os.Stat(ResolvConfPath); err == nil && len(c.Options) == 0 && len(c.Search) == 0 {
			t.Errorf("no NIC and no net.dns, yet there is a %s", ResolvConfPath)
		}
		t.Logf("no NIC: %s", Status())
		return
	}
	ic := s.WaitConfigured(leaseWait)
	<-ic.Done
	if ic.Method != "dhcp" || len(ic.Lease.DNS) == 0 {
		t.Logf("%s configured by %s, no DNS server in the lease: %s", ic.Ifp.Name(), ic.Method, Status())
		return
	}
	// The file is written just after the lease: wait for it.
	var got []byte
	for end := time.Now().Add(switchWait); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if got, err = os.ReadFile(ResolvConfPath); err == nil {
			break
		}
	}
	for _, a := range ic.Lease.DNS {
		if !strings.Contains(string(got), fmt.Sprintf("nameserver %s\n", netip.AddrFrom4(a))) {
			t.Errorf("%s = %q, %v; want the lease's name server %s", ResolvConfPath, got, err, netip.AddrFrom4(a))
		}
	}
	t.Logf("%s", Status())
}

// resolvConfSwap replaces /etc/resolv.conf with conf and returns the
// function that puts the old one back.
func resolvConfSwap(t *kern.T, conf string) func() {
	old, err := os.ReadFile(ResolvConfPath)
	had := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reading %s: %v", ResolvConfPath, err)
	}
	if err := atomicWrite(ResolvConfPath, []byte(conf)); err != nil {
		t.Fatalf("writing %s: %v", ResolvConfPath, err)
	}
	return func() {
		var err error
		if had {
			err = atomicWrite(ResolvConfPath, old)
		} else {
			err = os.Remove(ResolvConfPath)
		}
		if err != nil {
			t.Errorf("restoring %s: %v", ResolvConfPath, err)
		}
	}
}

// atomicWrite replaces path through os calls (a renamed temporary file),
// as a program would.
func atomicWrite(path string, data []byte) error {
	tmp := path + ".test-new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// waitUntil calls probe until it reports true, for at most switchWait.
func waitUntil(t *kern.T, what string, probe func() bool) {
	start := time.Now()
	for !probe() {
		if time.Since(start) > switchWait {
			t.Fatalf("%s: not after %v", what, switchWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
}

func lookup(name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return net.DefaultResolver.LookupHost(ctx, name)
}

// loopbackServer serves the test zone (and probe) on 127.0.0.1:53.
func loopbackServer(t *kern.T, network string, s *dnstest.Server) (stop func()) {
	done := make(chan error, 1)
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:53")
		if err != nil {
			t.Fatalf("ListenPacket 127.0.0.1:53: %v", err)
		}
		go func() { done <- s.ServeUDP(pc) }()
		return func() {
			pc.Close()
			if err := <-done; err != nil {
				t.Errorf("UDP server: %v", err)
			}
		}
	default:
		l, err := net.Listen("tcp4", "127.0.0.1:53")
		if err != nil {
			t.Fatalf("Listen 127.0.0.1:53: %v", err)
		}
		go func() { done <- s.ServeTCP(l, time.Minute) }()
		return func() {
			l.Close()
			if err := <-done; err != nil {
				t.Errorf("TCP server: %v", err)
			}
		}
	}
}

var webAddr = netip.MustParseAddr("10.0.2.100")

// CheckZone looks up the test zone's names through the default resolver
// and checks every answer (shared with the guest-forward test).
func CheckZone(t *kern.T, s *dnstest.Server) {
	got, err := lookup(dnstest.NameDual)
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"192.0.2.10", "2001:db8::10"}) {
		t.Errorf("LookupHost(%s) = %v, %v; want 192.0.2.10 and 2001:db8::10", dnstest.NameDual, got, err)
	}
	got, err = lookup("MULTI.dns.test")
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"192.0.2.21", "192.0.2.22", "192.0.2.23"}) {
		t.Errorf("LookupHost(MULTI.dns.test) = %v, %v; want its three addresses", got, err)
	}
	ips, err := net.LookupIP(dnstest.NameV6Only)
	if err != nil || len(ips) != 1 || ips[0].String() != "2001:db8::6" {
		t.Errorf("LookupIP(%s) = %v, %v; want 2001:db8::6", dnstest.NameV6Only, ips, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	ips, err = net.DefaultResolver.LookupIP(ctx, "ip4", dnstest.NameWeb)
	cancel()
	if err != nil || len(ips) != 1 || !ips[0].Equal(net.IP(webAddr.AsSlice())) {
		t.Errorf("LookupIP(ip4, %s) = %v, %v; want %s", dnstest.NameWeb, ips, err, webAddr)
	}
	_, err = lookup(dnstest.NameAbsent)
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound || de.IsTimeout {
		t.Errorf("LookupHost(%s) = %v (%#v); want a *net.DNSError with IsNotFound", dnstest.NameAbsent, err, de)
	} else {
		t.Logf("NXDOMAIN: %v", err)
	}
	if s != nil {
		if s.NXDomain.Load() == 0 || s.Seen(dnstest.NameDual, dnstest.TypeA) == 0 || s.Seen(dnstest.NameDual, dnstest.TypeAAAA) == 0 {
			t.Errorf("server: %d NXDOMAIN, %d A and %d AAAA queries for %s; want some of each", s.NXDomain.Load(),
				s.Seen(dnstest.NameDual, dnstest.TypeA), s.Seen(dnstest.NameDual, dnstest.TypeAAAA), dnstest.NameDual)
		}
		if s.Bad.Load() != 0 {
			t.Errorf("server: %d malformed queries", s.Bad.Load())
		}
	}
}

// testLoopback: the resolver over UDP, or TCP (use-vc), to a server on
// 127.0.0.1:53 inside the guest.
func testLoopback(t *kern.T, network string) {
	probe := "probe-" + network + ".dns.test."
	zone := dnstest.TestZone(webAddr)
	zone[probe] = []netip.Addr{netip.MustParseAddr("192.0.2.99")}
	s := &dnstest.Server{Names: zone}
	defer loopbackServer(t, network, s)()
	conf := "nameserver 127.0.0.1\noptions timeout:2 attempts:3\n"
	if network == "tcp" {
		conf = "nameserver 127.0.0.1\noptions use-vc timeout:2 attempts:3\n"
	}
	defer resolvConfSwap(t, conf)()
	waitUntil(t, "resolver on 127.0.0.1 "+network, func() bool {
		a, err := lookup(probe)
		return err == nil && len(a) == 1 && a[0] == "192.0.2.99"
	})
	CheckZone(t, s)
	// localhost is in /etc/hosts: no query.
	before := s.Queries.Load()
	if a, err := lookup("localhost"); err != nil || !slices.Contains(a, "127.0.0.1") {
		t.Errorf("LookupHost(localhost) = %v, %v", a, err)
	}
	if n := s.Queries.Load() - before; n != 0 {
		t.Errorf("localhost cost %d DNS queries; want none (hosts file first)", n)
	}
	t.Logf("%d queries (%d answered, %d NXDOMAIN) over %s", s.Queries.Load(), s.Answered.Load(), s.NXDomain.Load(), network)
}

// testHostsFile: a name added to /etc/hosts resolves from the file,
// forward and reverse, with no DNS query, though DNS knows it otherwise.
func testHostsFile(t *kern.T) {
	const name = "hostsfile.dns.test" // not a hosts= name of any boot
	zone := dnstest.TestZone(webAddr)
	zone[name+"."] = []netip.Addr{netip.MustParseAddr("192.0.2.1")} // DNS says otherwise
	s := &dnstest.Server{Names: zone}
	defer loopbackServer(t, "udp", s)()
	defer resolvConfSwap(t, "nameserver 127.0.0.1\noptions timeout:2 attempts:3\n")()
	old, err := os.ReadFile(HostsPath)
	if err != nil {
		t.Fatalf("%s: %v", HostsPath, err)
	}
	defer func() {
		if err := atomicWrite(HostsPath, old); err != nil {
			t.Errorf("restoring %s: %v", HostsPath, err)
		}
	}()
	if err := atomicWrite(HostsPath, append(bytes.Clone(old), "192.0.2.77\t"+name+" static-alias\n"...)); err != nil {
		t.Fatalf("writing %s: %v", HostsPath, err)
	}
	waitUntil(t, name+" from "+HostsPath, func() bool {
		a, err := lookup(name)
		return err == nil && len(a) == 1 && a[0] == "192.0.2.77"
	})
	before := s.Queries.Load()
	for range 5 {
		if a, err := lookup(name); err != nil || len(a) != 1 || a[0] != "192.0.2.77" {
			t.Errorf("LookupHost(%s) = %v, %v; want 192.0.2.77 from %s", name, a, err, HostsPath)
		}
	}
	if a, err := lookup("static-alias"); err != nil || len(a) != 1 || a[0] != "192.0.2.77" {
		t.Errorf("LookupHost(static-alias) = %v, %v", a, err)
	}
	if names, err := net.LookupAddr("192.0.2.77"); err != nil || !slices.Contains(names, name+".") {
		t.Errorf("LookupAddr(192.0.2.77) = %v, %v; want %s", names, err, name)
	}
	if n := s.Queries.Load() - before; n != 0 {
		t.Errorf("hosts-file names cost %d DNS queries; want none", n)
	}
}

// testDeadResolver: a name server that never answers gives a
// *net.DNSError with IsTimeout after timeout × attempts, not a hang.
func testDeadResolver(t *kern.T) {
	s := &dnstest.Server{Names: dnstest.TestZone(webAddr), Silent: true}
	defer loopbackServer(t, "udp", s)()
	defer resolvConfSwap(t, "nameserver 127.0.0.1\noptions timeout:1 attempts:2\n")()
	const probe = "probe-dead.dns.test"
	waitUntil(t, "queries reach the silent server", func() bool {
		_, _ = lookup(probe)
		return s.Seen(probe, dnstest.TypeA) > 0
	})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := net.DefaultResolver.LookupHost(ctx, dnstest.NameDual)
	d := time.Since(start)
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTimeout || de.IsNotFound || ctx.Err() != nil {
		t.Fatalf("LookupHost with a silent server = %v (%#v) after %v; want a *net.DNSError with IsTimeout before the context's end", err, de, d)
	}
	t.Logf("silent server: %v after %v (timeout:1 attempts:2)", err, d.Round(time.Millisecond))
}
