package qemu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// The host side of the kernel's network services test (NetNIC/HostPeer in
// net/kstack): host code dials the guest's services through QEMU's
// hostfwd on 127.0.0.1 while the guest watches its own counters. The
// kernel prints NetPeerReady when its stack has an address and the
// services run; NetPeer then moves data through echo (both ways at once,
// content verified), discard (host to guest), chargen (guest to host,
// RFC 864 pattern verified), many concurrent echo connections and an
// HTTP GET of the status page, and finally tells the guest what it sent
// over the control port; the guest checks that its services saw exactly
// that and answers "ok" or why not.

// NetPeerReady is the kernel's line that starts the host side.
const NetPeerReady = "nethost: ready"

// Guest ports of the services, and of the test's control connection.
const (
	GuestEcho    = 7
	GuestDiscard = 9
	GuestChargen = 19
	GuestHTTP    = 80
	GuestControl = 5999
)

// NetPeerForwards are the forwards NetPeer needs, on ports Run picks.
func NetPeerForwards() []string {
	var out []string
	for _, p := range []int{GuestEcho, GuestDiscard, GuestChargen, GuestHTTP, GuestControl} {
		out = append(out, fmt.Sprintf("tcp:%s:0-:%d", HostFwdAddr, p))
	}
	return out
}

// NetPeerConfig sizes the host side's work.
type NetPeerConfig struct {
	EchoBytes    int // one echo connection, written and read back at once (default 4 MiB)
	Conns        int // concurrent echo connections per round (default 100)
	Rounds       int // rounds of Conns connections (default 1)
	ConnBytes    int // bytes each of them echoes (default 1024)
	DiscardBytes int // sent to discard (default 4 MiB)
	ChargenBytes int // read from chargen (default 4 MiB)
	// SeqConns short echo connections are made one after another
	// (default 0: none), each echoing SeqBytes (default 64), verified.
	SeqConns, SeqBytes int
	// UDPDatagrams are echoed by the guest's UDP echo service one at a
	// time (tap boots only; default 0: none), sizes cycling from 1 byte
	// to 1472 (a full Ethernet frame), each checked byte for byte.
	UDPDatagrams int
	// Stats, when set, receives the throughputs measured.
	Stats *NetPeerStats
}

// NetPeerStats are the host side's measurements, in MB/s (10^6 bytes per
// second of wall time on the host).
type NetPeerStats struct {
	Echo        float64 // the big echo, each way at once
	HostToGuest float64 // into discard, until the guest closed after reading all
	GuestToHost float64 // from chargen, pattern verified
	// UDPRoundTrip is the mean round trip of a UDP echo datagram.
	UDPRoundTrip time.Duration
	// ConnsMBps is the concurrent connections' echo rate (bytes each
	// way, over all of them, from the first dial to the last check).
	ConnsMBps float64
	// SeqConnsPerSec is the rate of the sequential short connections.
	SeqConnsPerSec float64
}

func (c *NetPeerConfig) defaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.EchoBytes, 4<<20)
	def(&c.Conns, 100)
	def(&c.Rounds, 1)
	def(&c.ConnBytes, 1024)
	def(&c.DiscardBytes, 4<<20)
	def(&c.ChargenBytes, 4<<20)
	def(&c.SeqBytes, 64)
}

// NetPeer returns a Config.Host function running cfg's work. On a
// user-network boot it dials the forwards on 127.0.0.1; on a Tap boot it
// dials the guest's tap address from inside the boot's namespace, where
// it can also run UDPDatagrams (slirp with restrict=on drops the guest's
// UDP).
func NetPeer(cfg NetPeerConfig) func(ctx context.Context, fwds []HostFwd, log io.Writer) error {
	cfg.defaults()
	return func(ctx context.Context, fwds []HostFwd, log io.Writer) error {
		p := &netPeer{ctx: ctx, log: log, cfg: cfg}
		if tap := TapFrom(ctx); tap != nil {
			p.tap, p.guest = tap, tap.Guest.String()
			p.addr = func(gp int) string { return netip.AddrPortFrom(tap.Guest, uint16(gp)).String() }
			p.dialFn = tap.Dial
		} else {
			for _, gp := range []int{GuestEcho, GuestDiscard, GuestChargen, GuestHTTP, GuestControl} {
				if HostPort(fwds, "tcp", gp) == 0 {
					return fmt.Errorf("netpeer: no forward to guest port %d", gp)
				}
			}
			if cfg.UDPDatagrams > 0 {
				return errors.New("netpeer: UDP echo needs a tap boot (slirp with restrict=on drops the guest's UDP)")
			}
			p.guest = "10.0.2.15"
			p.addr = func(gp int) string { return fmt.Sprintf("%s:%d", HostFwdAddr, HostPort(fwds, "tcp", gp)) }
			var d net.Dialer
			p.dialFn = d.DialContext
		}
		verdict := p.work()
		report := fmt.Sprintf("echo_conns=%d echo_bytes=%d echo_peak=%d discard_bytes=%d chargen_conns=%d http_gets=%d udp_sent=%d udp_echoed=%d udp_bytes=%d",
			p.echoConns, p.echoBytes, p.peakConns, p.discardBytes, p.chargenConns, p.httpGets, p.udpSent, p.udpEchoed, p.udpBytes)
		msg := "done ok " + report
		if verdict != nil {
			msg = "done fail " + strings.ReplaceAll(verdict.Error(), "\n", " ") + " " + report
		}
		fmt.Fprintf(log, "%s\n", msg)
		guest, err := p.control(msg)
		if verdict != nil {
			return verdict
		}
		if err != nil {
			return fmt.Errorf("netpeer: control connection: %w", err)
		}
		if guest != "ok" {
			return fmt.Errorf("netpeer: the guest says: %s", guest)
		}
		return nil
	}
}

type netPeer struct {
	ctx    context.Context
	log    io.Writer
	addr   func(guestPort int) string
	dialFn func(ctx context.Context, network, addr string) (net.Conn, error)
	tap    *Tap   // nil: user networking
	guest  string // the guest's address
	cfg    NetPeerConfig

	mu                                   sync.Mutex
	echoConns, echoBytes                 int
	discardBytes, chargenConns, httpGets int
	peakConns                            int
	udpSent, udpEchoed, udpBytes         int
}

func (p *netPeer) dial(gp int) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	c, err := p.dialFn(ctx, "tcp", p.addr(gp))
	if err != nil {
		return nil, err
	}
	if dl, ok := p.ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	}
	return c, nil
}

func mbps(n int, d time.Duration) float64 { return float64(n) / d.Seconds() / 1e6 }

// work runs every part and returns the first failure.
func (p *netPeer) work() error {
	if err := p.echoBig(); err != nil {
		return fmt.Errorf("echo %d bytes: %w", p.cfg.EchoBytes, err)
	}
	if err := p.udpEcho(); err != nil {
		return fmt.Errorf("UDP echo: %w", err)
	}
	if err := p.seqConns(); err != nil {
		return fmt.Errorf("%d sequential echo connections: %w", p.cfg.SeqConns, err)
	}
	if err := p.manyConns(); err != nil {
		return fmt.Errorf("%d echo connections: %w", p.cfg.Conns, err)
	}
	if err := p.discard(); err != nil {
		return fmt.Errorf("discard: %w", err)
	}
	if err := p.chargen(); err != nil {
		return fmt.Errorf("chargen: %w", err)
	}
	if err := p.status(); err != nil {
		return fmt.Errorf("status page: %w", err)
	}
	return nil
}

// echo writes data on a connection to the echo service while reading
// it back, and checks what came back byte for byte.
func (p *netPeer) echo(data []byte) error {
	c, err := p.dial(GuestEcho)
	if err != nil {
		return err
	}
	defer c.Close()
	p.mu.Lock()
	p.echoConns++
	p.mu.Unlock()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, rerr := io.ReadAll(c)
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	p.mu.Lock()
	p.echoBytes += len(data)
	p.mu.Unlock()
	if rerr != nil {
		return fmt.Errorf("read after %d bytes: %w", len(got), rerr)
	}
	if !bytes.Equal(got, data) {
		i := 0
		for i < len(got) && i < len(data) && got[i] == data[i] {
			i++
		}
		return fmt.Errorf("echoed %d bytes of %d, first difference at byte %d", len(got), len(data), i)
	}
	return nil
}

func (p *netPeer) echoBig() error {
	data := make([]byte, p.cfg.EchoBytes)
	rand.New(rand.NewSource(1)).Read(data)
	start := time.Now()
	if err := p.echo(data); err != nil {
		return err
	}
	d := time.Since(start)
	if p.cfg.Stats != nil {
		p.cfg.Stats.Echo = mbps(len(data), d)
	}
	fmt.Fprintf(p.log, "echo: %d bytes each way verified in %v (%.2f MB/s each way)\n", len(data), d.Round(time.Millisecond), mbps(len(data), d))
	return nil
}

// seqConns makes SeqConns short echo connections one after another:
// connect, SeqBytes each way, the host's FIN, the guest's FIN.
func (p *netPeer) seqConns() error {
	if p.cfg.SeqConns == 0 {
		return nil
	}
	start := time.Now()
	rng := rand.New(rand.NewSource(3))
	data := make([]byte, p.cfg.SeqBytes)
	for i := 0; i < p.cfg.SeqConns; i++ {
		rng.Read(data)
		if err := p.echo(data); err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		if (i+1)%2000 == 0 && i+1 < p.cfg.SeqConns {
			fmt.Fprintf(p.log, "echo: %d sequential connections so far (%v)\n", i+1, time.Since(start).Round(time.Millisecond))
		}
	}
	d := time.Since(start)
	rate := float64(p.cfg.SeqConns) / d.Seconds()
	if p.cfg.Stats != nil {
		p.cfg.Stats.SeqConnsPerSec = rate
	}
	fmt.Fprintf(p.log, "echo: %d sequential connections of %d bytes each way verified in %v (%.0f connections/s)\n",
		p.cfg.SeqConns, p.cfg.SeqBytes, d.Round(time.Millisecond), rate)
	return nil
}

// udpMax is the largest UDP payload in one Ethernet frame.
const udpMax = 1500 - 20 - 8

// udpEcho sends UDPDatagrams to the guest's UDP echo service one at a
// time and checks every reply byte for byte. A datagram unanswered within a second is sent again (up
// to 5 times); late replies to an earlier one are recognised by their
// number and dropped.
func (p *netPeer) udpEcho() error {
	if p.cfg.UDPDatagrams == 0 {
		return nil
	}
	c, err := p.tap.ListenPacket("udp4", netip.AddrPortFrom(p.tap.Host.Addr(), 0).String())
	if err != nil {
		return err
	}
	defer c.Close()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.tap.Guest, GuestEcho))
	rng := rand.New(rand.NewSource(9))
	buf := make([]byte, 2048)
	var rtt time.Duration
	late, retries := 0, 0
	var resent [][]byte // datagrams sent more than once
	start := time.Now()
	for i := 0; i < p.cfg.UDPDatagrams; i++ {
		size := 8 + (i*37)%(udpMax-8+1) // 8 to udpMax bytes, all sizes met
		if i%3 == 0 {
			size = 1 + i%8 // and the smallest ones
		}
		data := make([]byte, size)
		rng.Read(data)
		ok, retriesBefore := false, retries
		for try := 0; try < 5 && !ok; try++ {
			if try > 0 {
				retries++
			}
			sent := time.Now()
			if _, err := c.WriteTo(data, to); err != nil {
				return fmt.Errorf("datagram %d: write: %w", i, err)
			}
			p.mu.Lock()
			p.udpSent++
			p.mu.Unlock()
			_ = c.SetReadDeadline(sent.Add(time.Second))
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					if ne, isNet := err.(net.Error); isNet && ne.Timeout() {
						break
					}
					return fmt.Errorf("datagram %d: read: %w", i, err)
				}
				if fa, _ := from.(*net.UDPAddr); fa == nil || fa.AddrPort() != to.AddrPort() {
					return fmt.Errorf("datagram %d: a reply from %v, want %v", i, from, to)
				}
				if !bytes.Equal(buf[:n], data) {
					// Only a datagram sent more than once may be answered
					// twice: a late second answer is dropped, anything
					// else is corruption.
					if !slices.ContainsFunc(resent, func(d []byte) bool { return bytes.Equal(buf[:n], d) }) {
						return fmt.Errorf("datagram %d (%d bytes): %d bytes back that match no datagram sent", i, size, n)
					}
					late++
					continue
				}
				rtt += time.Since(sent)
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("datagram %d (%d bytes): no reply after 5 tries", i, size)
		}
		if retries > retriesBefore {
			resent = append(resent, data)
		}
		p.mu.Lock()
		p.udpEchoed++
		p.udpBytes += size
		p.mu.Unlock()
	}
	mean := rtt / time.Duration(p.cfg.UDPDatagrams)
	if p.cfg.Stats != nil {
		p.cfg.Stats.UDPRoundTrip = mean
	}
	fmt.Fprintf(p.log, "udp: %d datagrams of 1 to %d bytes echoed and verified in %v, mean round trip %v (%d resent, %d late replies)\n",
		p.cfg.UDPDatagrams, udpMax, time.Since(start).Round(time.Millisecond), mean.Round(time.Microsecond), retries, late)
	return nil
}

// manyConns holds Conns echo connections open at once. They are opened
// one after another, each confirmed end to end by echoing its first
// bytes (slirp accepts host connections on a listen backlog of one and
// resets what overflows it when they come all at once), then all finish
// their transfer concurrently.
func (p *netPeer) manyConns() error {
	start := time.Now()
	const first = 16
	for r := 0; r < p.cfg.Rounds; r++ {
		conns := make([]net.Conn, 0, p.cfg.Conns)
		datas := make([][]byte, 0, p.cfg.Conns)
		closeAll := func() {
			for _, c := range conns {
				c.Close()
			}
		}
		for i := 0; i < p.cfg.Conns; i++ {
			data := make([]byte, max(p.cfg.ConnBytes, first))
			rand.New(rand.NewSource(int64(100 + r*p.cfg.Conns + i))).Read(data)
			c, err := p.dial(GuestEcho)
			if err != nil {
				closeAll()
				return fmt.Errorf("round %d: dial %d: %w", r, i, err)
			}
			conns, datas = append(conns, c), append(datas, data)
			p.mu.Lock()
			p.echoConns++
			p.mu.Unlock()
			got := make([]byte, first)
			if _, err := c.Write(data[:first]); err != nil {
				closeAll()
				return fmt.Errorf("round %d: connection %d: write: %w", r, i, err)
			}
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, data[:first]) {
				closeAll()
				return fmt.Errorf("round %d: connection %d: first %d bytes back: %q, %v", r, i, first, got, err)
			}
		}
		p.mu.Lock()
		p.peakConns = max(p.peakConns, len(conns))
		p.mu.Unlock()
		errs := make(chan error, len(conns))
		for i, c := range conns {
			go func() {
				data := datas[i]
				werr := make(chan error, 1)
				go func() {
					_, err := c.Write(data[first:])
					if err == nil {
						err = c.(*net.TCPConn).CloseWrite()
					}
					werr <- err
				}()
				got, err := io.ReadAll(c)
				if e := <-werr; e != nil && err == nil {
					err = e
				}
				if err == nil && !bytes.Equal(got, data[first:]) {
					err = fmt.Errorf("%d bytes back of %d, content differs", len(got), len(data)-first)
				}
				if err != nil {
					err = fmt.Errorf("connection %d: %w", i, err)
				}
				errs <- err
			}()
		}
		var firstErr error
		for range conns {
			if err := <-errs; err != nil && firstErr == nil {
				firstErr = err
			}
		}
		closeAll()
		p.mu.Lock()
		for _, d := range datas {
			p.echoBytes += len(d)
		}
		p.mu.Unlock()
		if firstErr != nil {
			return fmt.Errorf("round %d: %w", r, firstErr)
		}
	}
	el := time.Since(start)
	fmt.Fprintf(p.log, "echo: %d rounds of %d connections open at once, %d bytes each, verified in %v\n",
		p.cfg.Rounds, p.cfg.Conns, max(p.cfg.ConnBytes, first), el.Round(time.Millisecond))
	if p.cfg.Stats != nil {
		p.cfg.Stats.ConnsMBps = float64(p.cfg.Rounds*p.cfg.Conns*max(p.cfg.ConnBytes, first)) / el.Seconds() / 1e6
	}
	return nil
}

// discard sends DiscardBytes and waits for the guest to close its side,
// which it does once it read everything: the time is the guest's.
func (p *netPeer) discard() error {
	c, err := p.dial(GuestDiscard)
	if err != nil {
		return err
	}
	defer c.Close()
	data := make([]byte, 64<<10)
	start := time.Now()
	for sent := 0; sent < p.cfg.DiscardBytes; {
		n := min(len(data), p.cfg.DiscardBytes-sent)
		if _, err := c.Write(data[:n]); err != nil {
			return fmt.Errorf("write after %d bytes: %w", sent, err)
		}
		sent += n
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
		return fmt.Errorf("after the data: %d bytes, %v (want the guest's FIN)", n, err)
	}
	d := time.Since(start)
	p.mu.Lock()
	p.discardBytes += p.cfg.DiscardBytes
	p.mu.Unlock()
	if p.cfg.Stats != nil {
		p.cfg.Stats.HostToGuest = mbps(p.cfg.DiscardBytes, d)
	}
	fmt.Fprintf(p.log, "discard: %d bytes host to guest in %v (%.2f MB/s)\n", p.cfg.DiscardBytes, d.Round(time.Millisecond), mbps(p.cfg.DiscardBytes, d))
	return nil
}

// chargen reads ChargenBytes and checks RFC 864's pattern.
func (p *netPeer) chargen() error {
	c, err := p.dial(GuestChargen)
	if err != nil {
		return err
	}
	defer c.Close()
	p.mu.Lock()
	p.chargenConns++
	p.mu.Unlock()
	start := time.Now()
	r := bufio.NewReaderSize(c, 64<<10)
	line := make([]byte, 74)
	n := 0
	for i := 0; n < p.cfg.ChargenBytes; i++ {
		if _, err := io.ReadFull(r, line); err != nil {
			return fmt.Errorf("line %d: %w", i, err)
		}
		if !bytes.Equal(line, ChargenLine(i)) {
			return fmt.Errorf("line %d is %q, want %q", i, line, ChargenLine(i))
		}
		n += len(line)
	}
	d := time.Since(start)
	if p.cfg.Stats != nil {
		p.cfg.Stats.GuestToHost = mbps(n, d)
	}
	fmt.Fprintf(p.log, "chargen: %d bytes guest to host verified in %v (%.2f MB/s)\n", n, d.Round(time.Millisecond), mbps(n, d))
	return nil
}

// ChargenLine is line i (0-based) of RFC 864's character generator
// pattern: 72 printable characters, starting one further along the 95
// printable ASCII characters each line, then CR LF.
func ChargenLine(i int) []byte {
	b := make([]byte, 74)
	for j := 0; j < 72; j++ {
		b[j] = byte(' ' + (i+j)%95)
	}
	b[72], b[73] = '\r', '\n'
	return b
}

// status GETs the status page, HTML and text, and checks its sections.
func (p *netPeer) status() error {
	// No proxy: the guest is dialed directly, through the tap's namespace
	// on a tap boot.
	cl := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true, DialContext: p.dialFn}}
	for _, path := range []string{"/", "/text"} {
		req, err := http.NewRequestWithContext(p.ctx, "GET", "http://"+p.addr(GuestHTTP)+path, nil)
		if err != nil {
			return err
		}
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		p.mu.Lock()
		p.httpGets++
		p.mu.Unlock()
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		for _, want := range []string{"CPUs", "Threads", "Interfaces", "inet " + p.guest, "UMA zones", "Interrupts", "Lock order (WITNESS)", "tcp/echo"} {
			if !strings.Contains(string(body), want) {
				return fmt.Errorf("GET %s: no %q in %d bytes", path, want, len(body))
			}
		}
		fmt.Fprintf(p.log, "http: GET %s: %d bytes, every section there\n", path, len(body))
	}
	return nil
}

// control sends the report and returns the guest's answer line.
func (p *netPeer) control(msg string) (string, error) {
	c, err := p.dial(GuestControl)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", err
	}
	return strings.TrimSpace(line), nil
}
