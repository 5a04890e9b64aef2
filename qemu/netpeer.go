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
	// Stats, when set, receives the throughputs measured.
	Stats *NetPeerStats
}

// NetPeerStats are the host side's measurements, in MB/s (10^6 bytes per
// second of wall time on the host).
type NetPeerStats struct {
	Echo        float64 // the big echo, each way at once
	HostToGuest float64 // into discard, until the guest closed after reading all
	GuestToHost float64 // from chargen, pattern verified
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
}

// NetPeer returns a Config.Host function running cfg's work.
func NetPeer(cfg NetPeerConfig) func(ctx context.Context, fwds []HostFwd, log io.Writer) error {
	cfg.defaults()
	return func(ctx context.Context, fwds []HostFwd, log io.Writer) error {
		addr := func(gp int) string { return fmt.Sprintf("%s:%d", HostFwdAddr, HostPort(fwds, "tcp", gp)) }
		for _, gp := range []int{GuestEcho, GuestDiscard, GuestChargen, GuestHTTP, GuestControl} {
			if HostPort(fwds, "tcp", gp) == 0 {
				return fmt.Errorf("netpeer: no forward to guest port %d", gp)
			}
		}
		p := &netPeer{ctx: ctx, log: log, addr: addr, cfg: cfg}
		verdict := p.work()
		report := fmt.Sprintf("echo_conns=%d echo_bytes=%d echo_peak=%d discard_bytes=%d chargen_conns=%d http_gets=%d",
			p.echoConns, p.echoBytes, p.peakConns, p.discardBytes, p.chargenConns, p.httpGets)
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
	ctx  context.Context
	log  io.Writer
	addr func(guestPort int) string
	cfg  NetPeerConfig

	mu                                   sync.Mutex
	echoConns, echoBytes                 int
	discardBytes, chargenConns, httpGets int
	peakConns                            int
}

func (p *netPeer) dial(gp int) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second}
	c, err := d.DialContext(p.ctx, "tcp", p.addr(gp))
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
	fmt.Fprintf(p.log, "echo: %d rounds of %d connections open at once, %d bytes each, verified in %v\n",
		p.cfg.Rounds, p.cfg.Conns, max(p.cfg.ConnBytes, first), time.Since(start).Round(time.Millisecond))
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
	cl := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
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
		for _, want := range []string{"CPUs", "Threads", "Interfaces", "inet 10.0.2.15", "UMA zones", "Interrupts", "Lock order (WITNESS)", "tcp/echo"} {
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
