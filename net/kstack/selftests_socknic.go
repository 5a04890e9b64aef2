package kstack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/net/sock"
)

// SockNIC/ self-tests: Go's unmodified net and net/http over the socket
// system calls (net/sock) on the system's stack, on the boot's NIC —
// the path an application's sockets take. QEMU's restricted user network
// lets the guest reach the host only through guestfwd (GuestfwdHTTP, with
// the harness's server: qemu.GuestHTTPServer) and refuses everything
// else (DialRefused). Without a NIC they log that and pass.
func init() {
	for _, tc := range []struct {
		name string
		fn   func(*kern.T)
	}{
		{"SockNIC/SystemStack", testSockSystemStack},
		{"SockNIC/ListenNICAddr", testSockListenNIC},
		{"SockNIC/DialRefused", testSockDialRefused},
		{"SockNIC/GuestfwdHTTP", testSockGuestfwdHTTP},
	} {
		kern.RegisterTest(kern.Test{Name: tc.name, Fn: checkedSys(tc.fn), Timeout: 10 * time.Minute})
	}
}

// hostServerEnv names the guest address of the harness's HTTP server
// (qemu.GuestHTTPEnv, qemu.GuestHTTPAddr).
const hostServerEnv = "SOCK_HOSTSERVER"

// testSockSystemStack: with the network on, the sockets' stack is the
// system's (its NICs and loopback), not a loopback-only one of their own.
func testSockSystemStack(t *kern.T) {
	s := sysOrSkip(t)
	if s == nil {
		return
	}
	st, err := sock.Stack()
	if err != nil {
		t.Fatalf("sock.Stack: %v", err)
	}
	if st != s.Stack {
		t.Fatalf("sockets use a stack of their own, not the system's")
	}
	// 127.0.0.1 still works on it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen 127.0.0.1: %v", err)
	}
	defer l.Close()
	if err := echoOnce(l, l.Addr().String(), []byte("loopback on the system stack")); err != nil {
		t.Errorf("127.0.0.1: %v", err)
	}
}

// echoOnce accepts one connection on l and echoes it, while a client
// dials addr, sends msg, half-closes and checks the echo.
func echoOnce(l net.Listener, addr string, msg []byte) error {
	srv := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			srv <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		srv <- err
	}()
	c, err := net.DialTimeout("tcp", addr, time.Minute)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return fmt.Errorf("CloseWrite: %w", err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	if err := <-srv; err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// testSockListenNIC: net.Listen on the NIC's address and on 0.0.0.0, each
// reached through the NIC's address; an address the machine does not
// have is refused with EADDRNOTAVAIL; UDP on the NIC's address.
func testSockListenNIC(t *kern.T) {
	_, ic := nicOrSkip(t)
	if ic == nil {
		return
	}
	me := ic.Lease.Addr.Netip()
	l, err := net.Listen("tcp", netip.AddrPortFrom(me, 0).String())
	if err != nil {
		t.Fatalf("Listen %s: %v", me, err)
	}
	got := l.Addr().(*net.TCPAddr).AddrPort()
	if got.Addr() != me || got.Port() == 0 {
		t.Errorf("listener's address %v, want %v:port", got, me)
	}
	if err := echoOnce(l, got.String(), []byte("to the NIC's address")); err != nil {
		t.Errorf("%v: %v", got, err)
	}
	l.Close()

	l, err = net.Listen("tcp", ":0")
	if err != nil {
		t.Fatalf("Listen :0: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if !l.Addr().(*net.TCPAddr).IP.IsUnspecified() {
		t.Errorf("Listen :0 bound %v, want 0.0.0.0", l.Addr())
	}
	for _, a := range []netip.Addr{me, netip.MustParseAddr("127.0.0.1")} {
		if err := echoOnce(l, netip.AddrPortFrom(a, uint16(port)).String(), []byte("to 0.0.0.0 via "+a.String())); err != nil {
			t.Errorf("0.0.0.0:%d via %v: %v", port, a, err)
		}
	}
	l.Close()

	other := netip.MustParseAddr("10.0.2.99")
	if l, err := net.Listen("tcp", netip.AddrPortFrom(other, 0).String()); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("Listen on %v (not ours): %v, want EADDRNOTAVAIL", other, err)
		if l != nil {
			l.Close()
		}
	}

	pc, err := net.ListenPacket("udp", netip.AddrPortFrom(me, 0).String())
	if err != nil {
		t.Fatalf("ListenPacket %s: %v", me, err)
	}
	defer pc.Close()
	_ = pc.SetDeadline(time.Now().Add(time.Minute))
	msg := []byte("a datagram to the NIC's address")
	if _, err := pc.WriteTo(msg, pc.LocalAddr()); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	buf := make([]byte, 100)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], msg) || from.String() != pc.LocalAddr().String() {
		t.Errorf("ReadFrom: %q from %v, %v; want %q from %v", buf[:n], from, err, msg, pc.LocalAddr())
	}
}

// testSockDialRefused: net.Dial to a port slirp refuses (restrict=on)
// fails with ECONNREFUSED. The connect is non-blocking: EINPROGRESS, then
// the reset arrives and Go reads getsockopt(SO_ERROR) — the path of a
// refused connection over a real link rather than loopback.
func testSockDialRefused(t *kern.T) {
	_, ic := nicOrSkip(t)
	if ic == nil {
		return
	}
	gw := ic.Lease.Router
	if gw.IsUnspecified() {
		gw = SlirpGateway
	}
	addr := netip.AddrPortFrom(gw.Netip(), 7).String()
	before := sock.Errors[syscall.ECONNREFUSED].Load()
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 2*time.Minute)
	if err == nil {
		c.Close()
		t.Logf("connected to %s through slirp (unrestricted network?)", addr)
		return
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial %s: %v after %v, want ECONNREFUSED", addr, err, time.Since(start).Round(time.Millisecond))
	}
	if sock.Errors[syscall.ECONNREFUSED].Load() == before {
		t.Errorf("ECONNREFUSED not counted")
	}
	t.Logf("Dial %s: %v after %v", addr, err, time.Since(start).Round(time.Millisecond))
}

// patternSeed is qemu.PatternSeed: the ChaCha8 seed of pattern stream s,
// shared with the harness's server.
func patternSeed(s uint64) [32]byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], s)
	copy(seed[8:], "smpgo pattern stream")
	return seed
}

// patternReader yields n bytes of pattern stream s.
type patternReader struct {
	src  *rand.ChaCha8
	left int
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	b = b[:min(len(b), p.left)]
	_, _ = p.src.Read(b)
	p.left -= len(b)
	return len(b), nil
}

// guestfwdBytes is how much GuestfwdHTTP moves each way.
const guestfwdBytes = 4 << 20

// testSockGuestfwdHTTP: an unmodified net/http client in the guest
// fetches 4 MiB from the harness's server on the host (through slirp's
// guestfwd: the only way out with restrict=on) and checks every byte,
// then posts 4 MiB that the server checks.
func testSockGuestfwdHTTP(t *kern.T) {
	addr := os.Getenv(hostServerEnv)
	if addr == "" {
		t.Logf("no host server (%s=ADDR:PORT with the harness's guest forward): nothing to test", hostServerEnv)
		return
	}
	sys, ic := nicOrSkip(t)
	if ic == nil {
		t.Fatalf("%s=%s but no NIC", hostServerEnv, addr)
	}
	// A failure says where the guest's side of the forward stands (then
	// closed by the client's timeout), and so does a request still
	// unanswered after a minute (its connection still open).
	stuck := func() string { return "after the failure, " + forwardState(sys, addr) }
	watch := func(what string) (stop func() bool) {
		return time.AfterFunc(time.Minute, func() {
			t.Logf("%s unanswered after a minute: %s", what, forwardState(sys, addr))
		}).Stop
	}
	// One connection: slirp's guest forward is one stream to the host,
	// which the guest's connections share in turn.
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Minute}

	start := time.Now()
	stop := watch("GET")
	defer stop()
	resp, err := client.Get(fmt.Sprintf("http://%s/blob?bytes=%d&seed=1", addr, guestfwdBytes))
	if err != nil {
		t.Fatalf("GET: %v\n%s", err, stuck())
	}
	want := &patternReader{src: rand.NewChaCha8(patternSeed(1)), left: guestfwdBytes}
	got, w := make([]byte, 64<<10), make([]byte, 64<<10)
	total := 0
	for {
		k, rerr := io.ReadFull(resp.Body, got)
		if k > 0 {
			m, _ := io.ReadFull(want, w[:k])
			if m < k {
				t.Fatalf("GET: more than %d bytes", guestfwdBytes)
			}
			for i := range k {
				if got[i] != w[i] {
					t.Fatalf("GET: byte %d is %#x, want %#x", total+i, got[i], w[i])
				}
			}
			total += k
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			t.Fatalf("GET: read after %d bytes: %v\n%s", total, rerr, stuck())
		}
	}
	resp.Body.Close()
	stop()
	if resp.StatusCode != http.StatusOK || total != guestfwdBytes {
		t.Fatalf("GET: %s, %d bytes, want 200 and %d", resp.Status, total, guestfwdBytes)
	}
	d := time.Since(start)
	t.Logf("GET %d bytes from the host through guestfwd in %v (%.2f MB/s), every byte checked", total, d.Round(time.Millisecond), float64(total)/d.Seconds()/1e6)

	start = time.Now()
	body := &patternReader{src: rand.NewChaCha8(patternSeed(2)), left: guestfwdBytes}
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://%s/sink?seed=2", addr), body)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.ContentLength = guestfwdBytes
	stop = watch("POST")
	defer stop()
	resp, err = client.Do(req)
	if err != nil {
		t.Fatalf("POST: %v\n%s", err, stuck())
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	stop()
	if err != nil || resp.StatusCode != http.StatusOK || strings.TrimSpace(string(answer)) != fmt.Sprintf("ok %d", guestfwdBytes) {
		t.Fatalf("POST: %s %q %v, want 200 \"ok %d\"\n%s", resp.Status, answer, err, guestfwdBytes, stuck())
	}
	d = time.Since(start)
	t.Logf("POST %d bytes to the host through guestfwd in %v (%.2f MB/s), checked by the host", guestfwdBytes, d.Round(time.Millisecond), float64(guestfwdBytes)/d.Seconds()/1e6)
}

// forwardState describes the guest's side of a forward to addr for a
// failure's report: the stack's TCP connections to it (state, bytes
// unacknowledged and unread) and its TCP counters (retransmits,
// timeouts, drops). A request that waits for an answer with its
// connection ESTABLISHED and nothing queued was delivered: the answer
// never came from the host's side of the forward (see the host's
// "guest server:" lines).
func forwardState(s *System, addr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "guest's connections to %s:", addr)
	n := 0
	for _, si := range s.Stack.Sockets() {
		if si.Proto == "tcp" && si.Remote.String() == addr {
			fmt.Fprintf(&b, "\n\t%s -> %s %s send-q %d recv-q %d", si.Local, si.Remote, si.State, si.SendQ, si.RecvQ)
			n++
		}
	}
	if n == 0 {
		b.WriteString(" none")
	}
	var stats bytes.Buffer
	s.Stack.WriteStats(&stats)
	b.WriteString("\nTCP counters:")
	for _, l := range strings.Split(stats.String(), "\n") {
		if strings.HasPrefix(l, "tcp.") {
			b.WriteString(" " + strings.Join(strings.Fields(l), "="))
		}
	}
	return b.String()
}
