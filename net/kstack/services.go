package kstack

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/net/inet"
)

// The kernel's services, on every address of the system's stack, started
// at every boot with the network on: TCP echo (RFC 862) and UDP echo on
// port 7, discard (RFC 863) on 9, chargen (RFC 864) on 19 (a source for
// guest-to-host transfers), and an HTTP status page on 80 (net/http over
// the stack's net.Listener) showing the shell's views.
const (
	PortEcho    = 7
	PortDiscard = 9
	PortChargen = 19
	PortHTTP    = 80

	// maxConns bounds each TCP service's concurrent connections; more
	// are closed at once and counted as refused. The tap boots hold
	// 1,000 echo connections open at once.
	maxConns = 2048
	// idleTimeout closes a connection that sends nothing for this long.
	idleTimeout = 2 * time.Minute
)

// ServiceStats counts one service's work (a).
type ServiceStats struct {
	Accepted, Active, Refused, Closed, Errors atomic.Int64
	BytesIn, BytesOut                         atomic.Int64
	Peak                                      atomic.Int64 // most connections active at once
}

// ServiceCounts is a snapshot of ServiceStats.
type ServiceCounts struct {
	Accepted, Active, Refused, Closed, Errors, BytesIn, BytesOut, Peak int64
}

func (s *ServiceStats) snapshot() ServiceCounts {
	return ServiceCounts{s.Accepted.Load(), s.Active.Load(), s.Refused.Load(), s.Closed.Load(), s.Errors.Load(),
		s.BytesIn.Load(), s.BytesOut.Load(), s.Peak.Load()}
}

// Services are the running services.
type Services struct {
	st *inet.Stack
	// Stats by service name: "tcp/echo", "tcp/discard", "tcp/chargen",
	// "udp/echo", "tcp/http".
	stats map[string]*ServiceStats // (c)
	names []string                 // (c) in start order

	mu        sync.Mutex
	listeners []net.Listener // (mu)
	udp       *inet.UDPConn  // (mu)
	http      *http.Server   // (mu)
}

// StartServices starts the services on st.
func StartServices(st *inet.Stack) (*Services, error) {
	s := &Services{st: st, stats: map[string]*ServiceStats{}}
	tcp := []struct {
		name string
		port uint16
		fn   func(net.Conn, *ServiceStats) error
	}{
		{"tcp/echo", PortEcho, serveEcho},
		{"tcp/discard", PortDiscard, serveDiscard},
		{"tcp/chargen", PortChargen, serveChargen},
	}
	for _, t := range tcp {
		l, err := st.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), t.port), 0)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		ss := s.add(t.name)
		s.listeners = append(s.listeners, l)
		go s.acceptLoop(l, ss, t.fn)
	}
	u, err := st.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), PortEcho))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("udp/echo: %w", err)
	}
	s.udp = u
	go serveUDPEcho(u, s.add("udp/echo"))
	hl, err := st.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), PortHTTP), 0)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("tcp/http: %w", err)
	}
	hs := s.add("tcp/http")
	s.http = &http.Server{Handler: statusHandler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: idleTimeout}
	s.listeners = append(s.listeners, hl)
	go func() { _ = s.http.Serve(countingListener{hl, hs}) }()
	return s, nil
}

func (s *Services) add(name string) *ServiceStats {
	ss := &ServiceStats{}
	s.stats[name] = ss
	s.names = append(s.names, name)
	return ss
}

// Close stops the services (listeners first; open connections end with
// the stack).
func (s *Services) Close() {
	s.mu.Lock()
	ls, u, h := s.listeners, s.udp, s.http
	s.listeners, s.udp, s.http = nil, nil, nil
	s.mu.Unlock()
	if h != nil {
		_ = h.Close()
	}
	for _, l := range ls {
		_ = l.Close()
	}
	if u != nil {
		_ = u.Close()
	}
}

// Stats returns a snapshot of every service's counters.
func (s *Services) Stats() map[string]ServiceCounts {
	out := map[string]ServiceCounts{}
	for n, ss := range s.stats {
		out[n] = ss.snapshot()
	}
	return out
}

// Write prints the services' counters, one line each.
func (s *Services) Write(w io.Writer) {
	fmt.Fprintf(w, "%-12s %8s %6s %5s %7s %8s %6s %12s %12s\n", "service", "accepted", "active", "peak", "refused", "closed", "errors", "bytes-in", "bytes-out")
	for _, n := range s.names {
		c := s.stats[n].snapshot()
		fmt.Fprintf(w, "%-12s %8d %6d %5d %7d %8d %6d %12d %12d\n", n, c.Accepted, c.Active, c.Peak, c.Refused, c.Closed, c.Errors, c.BytesIn, c.BytesOut)
	}
}

func (s *Services) acceptLoop(l net.Listener, ss *ServiceStats, fn func(net.Conn, *ServiceStats) error) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			ss.Errors.Add(1)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ss.Accepted.Add(1)
		n := ss.Active.Add(1)
		if n > maxConns {
			ss.Active.Add(-1)
			ss.Refused.Add(1)
			_ = c.Close()
			continue
		}
		for p := ss.Peak.Load(); n > p && !ss.Peak.CompareAndSwap(p, n); p = ss.Peak.Load() {
		}
		go func() {
			err := fn(c, ss)
			if err != nil && !isEOFish(err) {
				ss.Errors.Add(1)
			}
			_ = c.Close()
			ss.Active.Add(-1)
			ss.Closed.Add(1)
		}()
	}
}

// isEOFish reports errors that are a peer's normal way of ending.
func isEOFish(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, inet.ErrConnReset) || errors.Is(err, net.ErrClosed)
}

// serveEcho sends back whatever arrives until the peer closes; then
// closes its own side (the peer reads everything first).
func serveEcho(c net.Conn, ss *ServiceStats) error {
	buf := make([]byte, 32<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		n, err := c.Read(buf)
		if n > 0 {
			ss.BytesIn.Add(int64(n))
			_ = c.SetWriteDeadline(time.Now().Add(idleTimeout))
			w, werr := c.Write(buf[:n])
			ss.BytesOut.Add(int64(w))
			if werr != nil {
				return werr
			}
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// serveDiscard reads and drops everything.
func serveDiscard(c net.Conn, ss *ServiceStats) error {
	buf := make([]byte, 32<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		n, err := c.Read(buf)
		ss.BytesIn.Add(int64(n))
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// ChargenLine returns line i (0-based) of RFC 864's pattern: 72
// printable characters starting one further along the 95-character ring
// each line, then CR LF.
func ChargenLine(i int) []byte {
	b := make([]byte, 74)
	for j := 0; j < 72; j++ {
		b[j] = byte(' ' + (i+j)%95)
	}
	b[72], b[73] = '\r', '\n'
	return b
}

// serveChargen sends the pattern until the peer goes away.
func serveChargen(c net.Conn, ss *ServiceStats) error {
	// 95 lines make the pattern's period; send it in 7030-byte writes.
	var period []byte
	for i := 0; i < 95; i++ {
		period = append(period, ChargenLine(i)...)
	}
	for {
		_ = c.SetWriteDeadline(time.Now().Add(idleTimeout))
		n, err := c.Write(period)
		ss.BytesOut.Add(int64(n))
		if err != nil {
			return err
		}
	}
}

func serveUDPEcho(u *inet.UDPConn, ss *ServiceStats) {
	buf := make([]byte, 65535)
	for {
		n, from, err := u.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			ss.Errors.Add(1)
			continue
		}
		ss.Accepted.Add(1)
		ss.BytesIn.Add(int64(n))
		if w, err := u.WriteTo(buf[:n], from); err != nil {
			ss.Errors.Add(1)
		} else {
			ss.BytesOut.Add(int64(w))
		}
	}
}

// countingListener counts the HTTP server's connections.
type countingListener struct {
	net.Listener
	ss *ServiceStats
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.ss.Accepted.Add(1)
		l.ss.Active.Add(1)
		c = &countingConn{Conn: c, ss: l.ss}
	}
	return c, err
}

type countingConn struct {
	net.Conn
	ss   *ServiceStats
	once sync.Once
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.ss.BytesIn.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.ss.BytesOut.Add(int64(n))
	return n, err
}

func (c *countingConn) Close() error {
	c.once.Do(func() {
		c.ss.Active.Add(-1)
		c.ss.Closed.Add(1)
	})
	return c.Conn.Close()
}

// StatusSections are the status page's sections: a title and the shell
// command whose output it shows (never anything from the request).
var StatusSections = []struct{ Title, Command string }{
	{"CPUs", "cpus"},
	{"Threads", "threads"},
	{"Interfaces", "ifconfig"},
	{"Sockets", "netstat"},
	{"Services", "netstat -S"},
	{"Interrupts", "intr"},
	{"UMA zones", "show uma"},
	{"Locks held", "show locks"},
	{"Lock order (WITNESS)", "show witness"},
	{"Lock order reversals", "show badstacks"},
	{"Memory", "mem"},
}

// statusHandler serves "/" (every section, HTML) and "/text" (the same as
// plain text).
func statusHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		var b strings.Builder
		b.WriteString("<!DOCTYPE html>\n<html><head><title>smpgo status</title></head><body>\n<h1>smpgo status</h1>\n")
		fmt.Fprintf(&b, "<p>up %s, %d CPU(s)</p>\n", uptime(), kern.NumCPU())
		for _, sec := range StatusSections {
			fmt.Fprintf(&b, "<h2>%s</h2>\n<pre>", html.EscapeString(sec.Title))
			var out strings.Builder
			kern.RunCommand(&out, sec.Command)
			b.WriteString(html.EscapeString(out.String()))
			b.WriteString("</pre>\n")
		}
		b.WriteString("</body></html>\n")
		_, _ = io.WriteString(w, b.String())
	})
	mux.HandleFunc("GET /text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		var b strings.Builder
		fmt.Fprintf(&b, "smpgo status: up %s, %d CPU(s)\n", uptime(), kern.NumCPU())
		for _, sec := range StatusSections {
			fmt.Fprintf(&b, "\n== %s\n", sec.Title)
			kern.RunCommand(&b, sec.Command)
		}
		_, _ = io.WriteString(w, b.String())
	})
	return mux
}

func uptime() string {
	var b strings.Builder
	kern.RunCommand(&b, "uptime")
	return strings.TrimSpace(b.String())
}
