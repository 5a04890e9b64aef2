package kstack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/lock"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/inet"
	"github.com/smpgo/smpgo/net/mbuf"
)

// NetNIC/ self-tests: the system's stack (system.go) on whatever NIC the
// boot has (QEMU user networking with restrict=on: the only peers are
// slirp's gateway 10.0.2.2 and, through hostfwd, host programs), and its
// services over loopback. Without a NIC the NIC tests log that and pass;
// without net.hostpeer=1 HostPeer does.
func init() {
	for _, tc := range []struct {
		name string
		fn   func(*kern.T)
	}{
		{"NetNIC/Giant", testSysGiant},
		{"NetNIC/DHCPLease", testDHCPLease},
		{"NetNIC/PingGateway", testPingGateway},
		{"NetNIC/GatewayTCP", testGatewayTCP},
		{"NetNIC/ServicesLoopback", testServicesLoopback},
		{"NetNIC/ShellViews", testShellViews},
		{"NetNIC/HostPeer", testHostPeer},
	} {
		timeout := 10 * time.Minute
		if tc.name == "NetNIC/HostPeer" {
			timeout = hostPeerWait + time.Minute
		}
		kern.RegisterTest(kern.Test{Name: tc.name, Fn: checkedSys(tc.fn), Timeout: timeout})
	}
}

// checkedSys is checked for tests on the system's stack, which carries
// traffic of its own (ARP, a host's late segments): the baseline is taken
// once the mbuf counts hold still, and afterwards they must come back to
// it or below (a leak only grows them).
func checkedSys(fn func(*kern.T)) func(*kern.T) {
	return func(t *kern.T) {
		before := settledMbufs()
		nrep := len(netReports())
		fn(t)
		var now mbuf.Stats
		for i := 0; i < 400; i++ {
			now = mbuf.ReadStats()
			if now.Mbufs <= before.Mbufs && now.Clusters <= before.Clusters && now.Ext <= before.Ext {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if now.Mbufs > before.Mbufs || now.Clusters > before.Clusters || now.Ext > before.Ext {
			t.Errorf("mbuf leak: before %+v after %+v", before, now)
		}
		if rs := netReports(); len(rs) > nrep {
			for _, r := range rs[nrep:] {
				t.Errorf("witness: %s: %s", r.Kind, firstLine(r.Text))
			}
		}
	}
}

// settledMbufs returns the mbuf counts once three readings 20 ms apart
// agree (or after a second).
func settledMbufs() mbuf.Stats {
	prev := mbuf.ReadStats()
	same := 0
	for i := 0; i < 50 && same < 2; i++ {
		time.Sleep(20 * time.Millisecond)
		now := mbuf.ReadStats()
		if now.Mbufs == prev.Mbufs && now.Clusters == prev.Clusters && now.Ext == prev.Ext {
			same++
		} else {
			same = 0
		}
		prev = now
	}
	return prev
}

// sysOrSkip returns the system's stack, or nil after logging why there
// is none (net=off).
func sysOrSkip(t *kern.T) *System {
	s := Sys()
	if s == nil {
		t.Logf("network stack off (net=off): nothing to test")
	}
	return s
}

// servicesOrSkip returns the system's stack if its services run, or nil
// after logging why not (net=off, net.services=off, an application).
func servicesOrSkip(t *kern.T) *System {
	s := sysOrSkip(t)
	if s != nil && s.Services == nil {
		t.Logf("services off (net.services): nothing to test")
		return nil
	}
	return s
}

// nicOrSkip waits for the first NIC to be configured; nil (logged) when
// the boot has none.
func nicOrSkip(t *kern.T) (*System, *IfConf) {
	s := sysOrSkip(t)
	if s == nil {
		return nil, nil
	}
	ic := s.WaitConfigured(2 * time.Second)
	if ic == nil {
		t.Logf("no NIC (harness -nic e1000 or virtio): nothing to test")
		return nil, nil
	}
	select {
	case <-ic.Done:
	case <-time.After(2 * dhcpWait):
		t.Fatalf("%s not configured after %v", ic.Ifp.Name(), 2*dhcpWait)
	}
	if ic.Err != nil {
		t.Fatalf("%s: %s: %v", ic.Ifp.Name(), ic.Method, ic.Err)
	}
	return s, ic
}

// testSysGiant: there is one Giant, lock.Giant: the interface layer's
// (non-MPSAFE drivers' transmit) and, in net.giant=1 mode, the stack's.
func testSysGiant(t *kern.T) {
	if netif.Giant != lock.Giant {
		t.Errorf("netif.Giant is %T %p, not lock.Giant %p", netif.Giant, netif.Giant, lock.Giant)
	}
	s := sysOrSkip(t)
	if s == nil {
		return
	}
	if s.Stack.GiantMode() != s.Config.Giant {
		t.Errorf("stack Giant mode %v, net.giant %v", s.Stack.GiantMode(), s.Config.Giant)
	}
	if !s.Config.Giant {
		return
	}
	// In Giant mode a socket call takes lock.Giant: while this test holds
	// it, a loopback dial cannot complete.
	lock.Giant.Lock()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := s.Stack.DialTCP(ctx, netip.MustParseAddrPort("127.0.0.1:7"))
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Errorf("a dial completed while Giant was held (err %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	lock.Giant.Unlock()
	if err := <-done; err != nil {
		t.Errorf("dial after Giant was dropped: %v", err)
	}
}

// testDHCPLease: the first NIC got QEMU's lease (or the static address
// the command line gave) and the routes that go with it.
func testDHCPLease(t *kern.T) {
	s, ic := nicOrSkip(t)
	if ic == nil {
		return
	}
	l := ic.Lease
	if s.Config.StaticIP.IsValid() {
		if ic.Method != "static" || netip.Addr(l.Addr.Netip()) != s.Config.StaticIP.Addr() {
			t.Errorf("%s: %s %s, want static %s", ic.Ifp.Name(), ic.Method, l.Addr, s.Config.StaticIP)
		}
	} else {
		if ic.Method != "dhcp" {
			t.Errorf("%s configured by %s, want dhcp", ic.Ifp.Name(), ic.Method)
		}
		// Slirp with restrict=on (every harness boot) offers no router
		// or DNS option; unrestricted it offers 10.0.2.2.
		if l.Addr != SlirpGuest || l.Prefix != 24 || (l.Router != SlirpGateway && !l.Router.IsUnspecified()) ||
			l.Server != SlirpGateway || l.Duration <= 0 {
			t.Errorf("lease %+v, want 10.0.2.15/24 from 10.0.2.2, router 10.0.2.2 or none, with a duration", l)
		}
	}
	found := false
	for _, p := range s.Stack.Addrs(ic.Ifp) {
		found = found || p.Addr == l.Addr && p.Bits == l.Prefix
	}
	if !found {
		t.Errorf("%s addresses %v lack %s/%d", ic.Ifp.Name(), s.Stack.Addrs(ic.Ifp), l.Addr, l.Prefix)
	}
	def := false
	for _, r := range s.Stack.Routes() {
		def = def || r.Prefix == 0 && r.Gateway == l.Router && r.Ifp == ic.Ifp
	}
	if !def && !l.Router.IsUnspecified() {
		t.Errorf("no default route via %s in %+v", l.Router, s.Stack.Routes())
	}
	if ic.Ifp.LinkState() != netif.LINK_STATE_UP || !ic.Ifp.Up() {
		t.Errorf("%s: link %v, flags %v", ic.Ifp.Name(), ic.Ifp.LinkState(), ic.Ifp.Flags())
	}
	t.Logf("%s %s: %s/%d gateway %s server %s lease %v (%s, %s)", ic.Ifp.Name(), ic.Ifp.MAC(), l.Addr, l.Prefix,
		l.Router, l.Server, l.Duration, ic.Method, s.Mode())
}

// testPingGateway: ICMP echo to slirp's gateway, which answers itself.
func testPingGateway(t *kern.T) {
	s, ic := nicOrSkip(t)
	if ic == nil {
		return
	}
	gw := ic.Lease.Router
	if gw.IsUnspecified() {
		gw = SlirpGateway
	}
	const n = 20
	var rtts []time.Duration
	for seq := 0; seq < n; seq++ {
		var err error
		var rtt time.Duration
		for try := 0; try < 3; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			rtt, err = s.Stack.Ping(ctx, gw, uint16(seq), 56)
			cancel()
			if err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("ping %s seq %d: %v", gw, seq, err)
		}
		rtts = append(rtts, rtt)
	}
	var sum time.Duration
	for _, r := range rtts {
		sum += r
	}
	t.Logf("%d echo replies from %s, mean rtt %v", n, gw, sum/n)
}

// testGatewayTCP: a connection from the guest to slirp's side. With
// restrict=on slirp lets no guest connection out, and a SYN to the
// gateway must be answered with a reset (refused), not left hanging.
func testGatewayTCP(t *kern.T) {
	s, ic := nicOrSkip(t)
	if ic == nil {
		return
	}
	gw := ic.Lease.Router
	if gw.IsUnspecified() {
		gw = SlirpGateway
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	c, err := s.Stack.DialTCP(ctx, netip.AddrPortFrom(gw.Netip(), 7))
	if err == nil {
		c.Close()
		t.Logf("connected to %s:7 through slirp (unrestricted network?)", gw)
		return
	}
	if !errors.Is(err, inet.ErrConnRefused) {
		t.Fatalf("dial %s:7: %v after %v, want connection refused", gw, err, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("dial %s:7: refused by slirp after %v", gw, time.Since(start).Round(time.Millisecond))
}

// testServicesLoopback: the services answer on 127.0.0.1 with exact
// content, over the system's stack.
func testServicesLoopback(t *kern.T) {
	s := servicesOrSkip(t)
	if s == nil {
		return
	}
	st := s.Stack
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dial := func(port uint16) *inet.TCPConn {
		c, err := st.DialTCP(ctx, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port))
		if err != nil {
			t.Fatalf("dial :%d: %v", port, err)
		}
		return c
	}
	before := s.Services.Stats()
	// Echo, 256 KiB each way at once.
	data := make([]byte, 256<<10)
	rand.New(rand.NewSource(7)).Read(data)
	c := dial(PortEcho)
	go func() {
		_, _ = c.Write(data)
		_ = c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("echo: %d of %d bytes back, err %v, equal %v", len(got), len(data), err, bytes.Equal(got, data))
	}
	// Discard: the service closes once it read everything.
	c = dial(PortDiscard)
	if _, err := c.Write(data); err != nil {
		t.Errorf("discard: %v", err)
	}
	_ = c.CloseWrite()
	if n, err := io.Copy(io.Discard, c); n != 0 || err != nil {
		t.Errorf("discard answered %d bytes, %v", n, err)
	}
	c.Close()
	// Chargen: 1000 lines of the pattern.
	c = dial(PortChargen)
	r := bufio.NewReader(c)
	line := make([]byte, 74)
	for i := 0; i < 1000; i++ {
		if _, err := io.ReadFull(r, line); err != nil || !bytes.Equal(line, ChargenLine(i)) {
			t.Errorf("chargen line %d: %q, %v", i, line, err)
			break
		}
	}
	c.Close()
	// UDP echo.
	u, err := st.DialUDP(netip.MustParseAddrPort("127.0.0.1:7"))
	if err != nil {
		t.Fatalf("udp: %v", err)
	}
	msg := []byte("udp echo through the system stack")
	_ = u.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 100)
	if _, err := u.Write(msg); err != nil {
		t.Errorf("udp write: %v", err)
	} else if n, err := u.Read(buf); err != nil || !bytes.Equal(buf[:n], msg) {
		t.Errorf("udp echo: %q, %v", buf[:n], err)
	}
	u.Close()
	// HTTP: net/http's client over the stack's dialer.
	cl := &http.Client{Transport: &http.Transport{DialContext: st.DialContext, DisableKeepAlives: true}, Timeout: 2 * time.Minute}
	resp, err := cl.Get("http://127.0.0.1/text")
	if err != nil {
		t.Fatalf("GET /text: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /text: %s, %v", resp.Status, err)
	}
	for _, sec := range StatusSections {
		if !strings.Contains(string(body), "== "+sec.Title) {
			t.Errorf("status page lacks %q", sec.Title)
		}
	}
	if strings.Contains(string(body), "unknown command") {
		t.Errorf("status page runs an unknown command:\n%s", body)
	}
	after := s.Services.Stats()
	d := func(name string) ServiceCounts {
		a, b := after[name], before[name]
		return ServiceCounts{Accepted: a.Accepted - b.Accepted, BytesIn: a.BytesIn - b.BytesIn, BytesOut: a.BytesOut - b.BytesOut}
	}
	if e := d("tcp/echo"); e.Accepted != 1 || e.BytesIn != int64(len(data)) || e.BytesOut != int64(len(data)) {
		t.Errorf("tcp/echo counted %+v", e)
	}
	if e := d("tcp/discard"); e.Accepted != 1 || e.BytesIn != int64(len(data)) {
		t.Errorf("tcp/discard counted %+v", e)
	}
	if e := d("udp/echo"); e.Accepted != 1 || e.BytesIn != int64(len(msg)) {
		t.Errorf("udp/echo counted %+v", e)
	}
	if e := d("tcp/http"); e.Accepted != 1 {
		t.Errorf("tcp/http counted %+v", e)
	}
	t.Logf("echo, discard, chargen, udp echo and a %d-byte status page over loopback", len(body))
	waitServicesIdle(t, s)
}

// waitServicesIdle waits for every TCP service's connections to end.
func waitServicesIdle(t *kern.T, s *System) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		busy := ""
		for n, c := range s.Services.Stats() {
			if c.Active != 0 {
				busy += fmt.Sprintf(" %s:%d", n, c.Active)
			}
		}
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("connections still open:%s", busy)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testShellViews: ifconfig and netstat show the system's stack.
func testShellViews(t *kern.T) {
	s := servicesOrSkip(t)
	if s == nil {
		return
	}
	run := func(cmd string) string {
		var b strings.Builder
		kern.RunCommand(&b, cmd)
		return b.String()
	}
	want := map[string][]string{
		"ifconfig":   {"stack: " + s.Mode()},
		"netstat":    {"0.0.0.0:7", "0.0.0.0:80", "LISTEN", "udp"},
		"netstat -r": {"127.0.0.0/8"},
		"netstat -S": {"tcp/echo", "tcp/discard", "tcp/chargen", "udp/echo", "tcp/http"},
		"netstat -s": {},
		"netstat -i": {},
	}
	if ic := s.WaitConfigured(time.Second); ic != nil {
		select {
		case <-ic.Done:
			want["ifconfig"] = append(want["ifconfig"], ic.Ifp.Name()+": flags=<UP", "ether "+ic.Ifp.MAC().String(),
				fmt.Sprintf("inet %s/%d", ic.Lease.Addr, ic.Lease.Prefix), "RX packets")
			p := netip.PrefixFrom(ic.Lease.Addr.Netip(), ic.Lease.Prefix).Masked()
			want["netstat -r"] = append(want["netstat -r"], p.String())
			if !ic.Lease.Router.IsUnspecified() {
				want["netstat -r"] = append(want["netstat -r"], "0.0.0.0/0", ic.Lease.Router.String())
			}
			want["netstat -a"] = []string{}
		case <-time.After(2 * dhcpWait):
		}
	}
	for cmd, subs := range want {
		out := run(cmd)
		if strings.Contains(out, "usage:") || strings.Contains(out, "unknown command") {
			t.Errorf("%s:\n%s", cmd, out)
		}
		for _, sub := range subs {
			if !strings.Contains(out, sub) {
				t.Errorf("%s lacks %q:\n%s", cmd, sub, out)
			}
		}
	}
}

// testHostPeer serves the harness's host side (qemu.NetPeer, with
// net.hostpeer=1): it says "nethost: ready" on the console, waits for
// the host's report on the control port, and checks its own services
// saw exactly what the host says it did.
func testHostPeer(t *kern.T) {
	s := sysOrSkip(t)
	if s == nil {
		return
	}
	if !s.Config.HostPeer {
		t.Logf("no host peer (net.hostpeer=1 with the harness's host side): nothing to test")
		return
	}
	if s.Services == nil {
		t.Fatalf("net.hostpeer=1 but the services are off (net.services=on)")
	}
	_, ic := nicOrSkip(t)
	if ic == nil {
		t.Fatalf("net.hostpeer=1 but no NIC")
	}
	l, err := s.Stack.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), PortHostControl), 1)
	if err != nil {
		t.Fatalf("control port: %v", err)
	}
	defer l.Close()
	waitServicesIdle(t, s)
	before := s.Services.Stats()
	fmt.Printf("nethost: ready %s %s\n", ic.Lease.Addr, s.Mode())
	_ = l.SetDeadline(time.Now().Add(hostPeerWait))
	c, err := l.AcceptTCP()
	if err != nil {
		t.Fatalf("no report from the host: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the host's report: %v", err)
	}
	line = strings.TrimSpace(line)
	t.Logf("host: %s", line)
	verdict := func(msg string) {
		_, _ = io.WriteString(c, msg+"\n")
	}
	if !strings.HasPrefix(line, "done ok ") {
		verdict("ok (the host failed already)")
		var b strings.Builder
		kern.RunCommand(&b, "netstat -S")
		kern.RunCommand(&b, "netstat -s")
		kern.RunCommand(&b, "ifconfig")
		t.Fatalf("the host side failed: %s\n%s", line, b.String())
	}
	rep := map[string]int64{}
	for _, f := range strings.Fields(strings.TrimPrefix(line, "done ok ")) {
		k, v, _ := strings.Cut(f, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			verdict("fail: bad report field " + f)
			t.Fatalf("bad report field %q", f)
		}
		rep[k] = n
	}
	waitServicesIdle(t, s)
	after := s.Services.Stats()
	var problems []string
	check := func(what string, got, want int64) {
		if got != want {
			problems = append(problems, fmt.Sprintf("%s: guest counted %d, host reports %d", what, got, want))
		}
	}
	d := func(name string) ServiceCounts {
		a, b := after[name], before[name]
		return ServiceCounts{Accepted: a.Accepted - b.Accepted, Refused: a.Refused - b.Refused, Errors: a.Errors - b.Errors,
			BytesIn: a.BytesIn - b.BytesIn, BytesOut: a.BytesOut - b.BytesOut}
	}
	echo, disc, cg, web, ud := d("tcp/echo"), d("tcp/discard"), d("tcp/chargen"), d("tcp/http"), d("udp/echo")
	check("echo connections", echo.Accepted, rep["echo_conns"])
	check("echo bytes in", echo.BytesIn, rep["echo_bytes"])
	check("echo bytes out", echo.BytesOut, rep["echo_bytes"])
	check("echo errors", echo.Errors+echo.Refused, 0)
	if peak := after["tcp/echo"].Peak; peak < rep["echo_peak"] {
		problems = append(problems, fmt.Sprintf("echo: at most %d connections at once, host held %d", peak, rep["echo_peak"]))
	}
	check("discard bytes", disc.BytesIn, rep["discard_bytes"])
	check("discard errors", disc.Errors, 0)
	check("chargen connections", cg.Accepted, rep["chargen_conns"])
	check("http connections", web.Accepted, rep["http_gets"])
	// UDP (tap boots): every datagram the host sent and the guest got
	// was answered; the host may have sent one again that was not lost.
	if ud.Accepted < rep["udp_echoed"] || ud.Accepted > rep["udp_sent"] || ud.BytesOut < rep["udp_bytes"] || ud.Errors != 0 {
		problems = append(problems, fmt.Sprintf("udp echo: guest counted %d datagrams, %d bytes out, %d errors; host sent %d, got %d back verified (%d bytes)",
			ud.Accepted, ud.BytesOut, ud.Errors, rep["udp_sent"], rep["udp_echoed"], rep["udp_bytes"]))
	}
	if len(problems) > 0 {
		verdict("fail: " + strings.Join(problems, "; "))
		for _, p := range problems {
			t.Errorf("%s", p)
		}
		return
	}
	verdict("ok")
	hostPeerDone.Store(true)
	t.Logf("%s mode: %d echo connections (%d at once), %d bytes echoed, %d discarded, %d chargen bytes sent, %d status pages, %d UDP datagrams echoed",
		s.Mode(), echo.Accepted, rep["echo_peak"], echo.BytesIn, disc.BytesIn, cg.BytesOut, web.Accepted, ud.Accepted)
}

// hostPeerWait bounds the wait for the host's report: the full tier's
// tap runs (64 MiB each way, 10,000 connections one after another under
// TCG on a loaded host) take many minutes; the boot's own timeout is the
// tighter bound for the smoke tier.
const hostPeerWait = 40 * time.Minute

// PortHostControl is the guest port of NetNIC/HostPeer's control
// connection (qemu.GuestControl).
const PortHostControl = 5999
