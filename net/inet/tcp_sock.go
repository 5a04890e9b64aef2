package inet

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/nlock"
	"github.com/smpgo/smpgo/net/wire"
)

// TCPListener is a listening socket; it implements net.Listener.
type TCPListener struct {
	st    *Stack
	laddr Addr   // (c)
	lport uint16 // (c)

	mu        nlock.Mutex // the listen lock, after inp in the lock order
	backlog   int         // (mu)
	embryonic int         // (mu) connections in SYN_RECEIVED
	queue     []*tcpConn  // (mu) established, not yet accepted
	closed    bool        // (mu)
	wait      waitq       // (mu)
	adl       deadline
}

// ListenTCP opens a listening socket on laddr (unspecified address: all of
// the stack's addresses; port 0: an ephemeral port). backlog 0 uses
// TCPConfig.AcceptQueue.
func (st *Stack) ListenTCP(laddr netip.AddrPort, backlog int) (*TCPListener, error) {
	a := laddr.Addr().Unmap()
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	if !a.Is4() {
		return nil, ErrBadAddress
	}
	if backlog <= 0 {
		backlog = st.cfg.TCP.AcceptQueue
	}
	l := &TCPListener{st: st, laddr: a.As4(), lport: laddr.Port(), backlog: backlog}
	l.mu.Init("tcplisten")
	l.adl.init()
	if !l.laddr.IsUnspecified() && !st.IsLocal(l.laddr) {
		return nil, ErrBadAddress
	}
	t := &st.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.lport == 0 { // an ephemeral port nobody uses
		for range ephemeralRange {
			p := t.next
			if t.next++; t.next < ephemeralLow {
				t.next = ephemeralLow
			}
			if t.ports[p] == 0 && len(t.listeners[p]) == 0 {
				l.lport = p
				break
			}
		}
		if l.lport == 0 {
			return nil, ErrAddrInUse
		}
	}
	for _, o := range t.listeners[l.lport] {
		if o.laddr == l.laddr || o.laddr.IsUnspecified() || l.laddr.IsUnspecified() {
			return nil, ErrAddrInUse
		}
	}
	t.listeners[l.lport] = append(t.listeners[l.lport], l)
	t.ports[l.lport]++
	return l, nil
}

// input handles a segment for the listener (RFC 9293 §3.10.7.2): a SYN
// creates a connection in SYN_RECEIVED, within the SYN backlog and the
// accept queue's limits; anything else is answered or dropped.
func (l *TCPListener) input(s *seg) {
	st := l.st
	th := &s.th
	switch {
	case th.Flags&wire.TH_RST != 0:
		return
	case th.Flags&wire.TH_ACK != 0:
		st.count(TCPDropBadAck)
		st.tcpRespondRST(s)
		return
	case th.Flags&wire.TH_SYN == 0:
		st.count(TCPDropBadAck)
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		st.tcpRespondRST(s)
		return
	}
	if l.embryonic >= st.cfg.TCP.SynBacklog {
		l.mu.Unlock()
		st.count(TCPDropSynFlood)
		return
	}
	if len(l.queue) >= l.backlog {
		l.mu.Unlock()
		st.count(TCPDropListenFull)
		return
	}
	c := st.newConn(tcpKey{laddr: s.h.Dst, lport: th.DstPort, raddr: s.h.Src, rport: th.SrcPort})
	c.lis = l
	c.state = SYN_RECEIVED
	c.irs = th.Seq
	c.rcvNxt = th.Seq + 1
	c.rcvAdv = c.rcvNxt
	c.applySynOptions(&th.Opts)
	c.sndWnd = uint32(th.Window)
	c.sndWl1 = th.Seq
	c.embryonic = true
	if err := st.tcp.insert(c); err != nil {
		l.mu.Unlock()
		return
	}
	l.embryonic++
	l.mu.Unlock()
	c.mu.Lock()
	c.output()
	c.mu.Unlock()
}

// completed queues an established connection for Accept; false if the
// listener is closed. Called with c.mu held (inp before listen).
func (l *TCPListener) completed(c *tcpConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.embryonic--
	if l.closed {
		return false
	}
	l.queue = append(l.queue, c)
	l.wait.wake()
	return true
}

func (l *TCPListener) embryonicGone() {
	l.mu.Lock()
	l.embryonic--
	l.mu.Unlock()
}

// Accept implements net.Listener.
func (l *TCPListener) Accept() (net.Conn, error) { return l.AcceptTCP() }

// AcceptTCP waits for the next connection.
func (l *TCPListener) AcceptTCP() (*TCPConn, error) {
	for {
		l.st.enter()
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			l.st.exit()
			return nil, opError("accept", l.Addr(), nil, net.ErrClosed)
		}
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			l.mu.Unlock()
			l.st.exit()
			return &TCPConn{c: c}, nil
		}
		if l.adl.expired() {
			l.mu.Unlock()
			l.st.exit()
			return nil, opError("accept", l.Addr(), nil, os.ErrDeadlineExceeded)
		}
		w := l.wait.wait()
		l.mu.Unlock()
		l.st.exit()
		select {
		case <-w:
		case <-l.adl.done():
		}
	}
}

// SetDeadline sets the deadline for Accept.
func (l *TCPListener) SetDeadline(t time.Time) error {
	l.adl.set(t)
	l.mu.Lock()
	l.wait.wake()
	l.mu.Unlock()
	return nil
}

// Close implements net.Listener: queued connections that were never
// accepted are reset.
func (l *TCPListener) Close() error {
	l.st.enter()
	defer l.st.exit()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return opError("close", l.Addr(), nil, net.ErrClosed)
	}
	l.closed = true
	q := l.queue
	l.queue = nil
	l.wait.wake()
	l.mu.Unlock()
	t := &l.st.tcp
	t.mu.Lock()
	ls := t.listeners[l.lport]
	for i, o := range ls {
		if o == l {
			t.listeners[l.lport] = append(ls[:i:i], ls[i+1:]...)
		}
	}
	if len(t.listeners[l.lport]) == 0 {
		delete(t.listeners, l.lport)
	}
	if t.ports[l.lport]--; t.ports[l.lport] <= 0 {
		delete(t.ports, l.lport)
	}
	t.mu.Unlock()
	for _, c := range q {
		c.mu.Lock()
		c.userClosed = true
		c.dropLocked(ErrConnReset, true)
		c.mu.Unlock()
	}
	return nil
}

// Addr implements net.Listener.
func (l *TCPListener) Addr() net.Addr {
	return net.TCPAddrFromAddrPort(toAddrPort(l.laddr, l.lport))
}

// DialTCP opens a connection to raddr, waiting for the handshake until
// ctx ends.
func (st *Stack) DialTCP(ctx context.Context, raddr netip.AddrPort) (*TCPConn, error) {
	ra := raddr.Addr().Unmap()
	if !ra.Is4() || raddr.Port() == 0 {
		return nil, ErrBadAddress
	}
	dst := Addr(ra.As4())
	src, err := st.SourceFor(dst)
	if err != nil {
		return nil, opError("dial", nil, net.TCPAddrFromAddrPort(raddr), err)
	}
	c := st.newConn(tcpKey{laddr: src, raddr: dst, rport: raddr.Port()})
	c.state = SYN_SENT
	if err := st.tcp.insert(c); err != nil {
		return nil, err
	}
	tc := &TCPConn{c: c}
	st.enter()
	c.mu.Lock()
	c.output()
	c.mu.Unlock()
	st.exit()
	for {
		st.enter()
		c.mu.Lock()
		switch {
		case c.err != nil:
			err := c.err
			c.userClosed = true
			c.freeRcv()
			c.mu.Unlock()
			st.exit()
			return nil, opError("dial", tc.LocalAddr(), tc.RemoteAddr(), err)
		case c.state.synchronized():
			c.mu.Unlock()
			st.exit()
			return tc, nil
		}
		w := c.cwait.wait()
		c.mu.Unlock()
		st.exit()
		select {
		case <-w:
		case <-ctx.Done():
			st.enter()
			c.mu.Lock()
			c.userClosed = true
			c.dropLocked(ctx.Err(), true)
			c.mu.Unlock()
			st.exit()
			return nil, opError("dial", tc.LocalAddr(), tc.RemoteAddr(), ctx.Err())
		}
	}
}

// DialContext dials "tcp" or "tcp4" addresses given as "a.b.c.d:port", with
// net.Dialer.DialContext's signature (for http.Transport.DialContext).
func (st *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.AddrError{Err: "not an IPv4 address", Addr: host}}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.AddrError{Err: "bad port", Addr: port}}
	}
	return st.DialTCP(ctx, netip.AddrPortFrom(a, uint16(p)))
}

// TCPConn is a TCP connection; it implements net.Conn.
type TCPConn struct {
	c *tcpConn
}

// Read implements net.Conn.
func (t *TCPConn) Read(p []byte) (int, error) {
	c := t.c
	st := c.st
	if len(p) == 0 {
		return 0, nil
	}
	for {
		st.enter()
		c.mu.Lock()
		if c.userClosed {
			c.mu.Unlock()
			st.exit()
			return 0, t.opErr("read", net.ErrClosed)
		}
		if c.rcvLen > 0 {
			n := c.readLocked(p)
			c.mu.Unlock()
			st.exit()
			return n, nil
		}
		if c.finRcvd {
			c.mu.Unlock()
			st.exit()
			return 0, io.EOF
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			st.exit()
			return 0, t.opErr("read", err)
		}
		if c.state == CLOSED {
			c.mu.Unlock()
			st.exit()
			return 0, io.EOF
		}
		if c.rdl.expired() {
			c.mu.Unlock()
			st.exit()
			return 0, t.opErr("read", os.ErrDeadlineExceeded)
		}
		w := c.rwait.wait()
		c.mu.Unlock()
		st.exit()
		select {
		case <-w:
		case <-c.rdl.done():
		}
	}
}

// readLocked takes up to len(p) received bytes (rcvLen > 0) and sends a
// window update when reading opened the window enough.
func (c *tcpConn) readLocked(p []byte) int {
	st := c.st
	n := c.rcv.CopyOut(0, p)
	c.rcv = c.rcv.TrimHead(n)
	c.rcvLen -= n
	// Window update once the window opened by two segments or half the
	// buffer (RFC 1122 §4.2.3.3, receiver SWS).
	if c.state.synchronized() && !c.finRcvd {
		adv := c.rcvAdv - c.rcvNxt
		if seqLT(c.rcvAdv, c.rcvNxt) {
			adv = 0
		}
		if space := c.rcvWindow(); space >= adv+uint32(2*c.mss) || space >= adv+uint32(st.cfg.TCP.RcvBuf/2) {
			c.ackNow = true
			c.output()
		}
	}
	return n
}

// Write implements net.Conn: it returns once p is in the send buffer.
func (t *TCPConn) Write(p []byte) (int, error) {
	c := t.c
	st := c.st
	total := 0
	for len(p) > 0 {
		st.enter()
		c.mu.Lock()
		var err error
		switch {
		case c.err != nil:
			err = c.err
		case c.userClosed:
			err = net.ErrClosed
		case c.finQueued || c.state == CLOSED || c.state > CLOSE_WAIT:
			err = ErrClosed
		}
		if err != nil {
			c.mu.Unlock()
			st.exit()
			return total, t.opErr("write", err)
		}
		if space := st.cfg.TCP.SndBuf - c.sndLen; space > 0 && c.state.synchronized() {
			n := min(space, len(p))
			if c.snd == nil {
				c.snd = mbuf.Get()
			}
			if c.snd.Append(p[:n]) != nil {
				c.mu.Unlock()
				st.exit()
				return total, t.opErr("write", ErrNoBufs)
			}
			c.sndLen += n
			p = p[n:]
			total += n
			c.output()
			c.mu.Unlock()
			st.exit()
			continue
		}
		if c.wdl.expired() {
			c.mu.Unlock()
			st.exit()
			return total, t.opErr("write", os.ErrDeadlineExceeded)
		}
		w := c.wwait.wait()
		c.mu.Unlock()
		st.exit()
		select {
		case <-w:
		case <-c.wdl.done():
		}
	}
	return total, nil
}

// Close implements net.Conn. Unsent data is still delivered (the FIN
// follows it); unread received data makes it a reset (RFC 9293 §3.10.4,
// RFC 2525 §2.17).
func (t *TCPConn) Close() error {
	c := t.c
	c.st.enter()
	defer c.st.exit()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.userClosed {
		return t.opErr("close", net.ErrClosed)
	}
	c.userClosed = true
	if c.rcvLen > 0 && c.state != CLOSED {
		c.dropLocked(ErrConnReset, true)
		c.freeRcv()
		return nil
	}
	c.freeRcv()
	c.shutdownLocked()
	if c.state == FIN_WAIT_2 {
		c.setTimer(t2MSL, 2*c.st.cfg.TCP.MSL)
	}
	c.rwait.wake()
	c.wwait.wake()
	return nil
}

// Abort closes the connection with a reset (RFC 9293 §3.10.5 ABORT):
// queued and unread data are dropped and the peer gets an RST, its reads
// ECONNRESET. A socket's close with SO_LINGER on and a zero timeout is
// an abort (FreeBSD's tcp_usr_disconnect: tcp_drop).
func (t *TCPConn) Abort() error {
	c := t.c
	c.st.enter()
	defer c.st.exit()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.userClosed {
		return t.opErr("close", net.ErrClosed)
	}
	c.userClosed = true
	c.dropLocked(ErrConnReset, true)
	c.freeRcv()
	c.rwait.wake()
	c.wwait.wake()
	return nil
}

// CloseWrite sends a FIN after the queued data; reading goes on.
func (t *TCPConn) CloseWrite() error {
	c := t.c
	c.st.enter()
	defer c.st.exit()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.userClosed {
		return t.opErr("close", net.ErrClosed)
	}
	c.shutdownLocked()
	c.wwait.wake()
	return nil
}

// shutdownLocked queues our FIN (RFC 9293 §3.10.4 CLOSE).
func (c *tcpConn) shutdownLocked() {
	switch c.state {
	case SYN_SENT:
		c.closeLocked()
	case SYN_RECEIVED, ESTABLISHED:
		c.finQueued = true
		c.state = FIN_WAIT_1
		c.output()
	case CLOSE_WAIT:
		c.finQueued = true
		c.state = LAST_ACK
		c.output()
	}
}

// LocalAddr implements net.Conn.
func (t *TCPConn) LocalAddr() net.Addr {
	return net.TCPAddrFromAddrPort(toAddrPort(t.c.key.laddr, t.c.key.lport))
}

// RemoteAddr implements net.Conn.
func (t *TCPConn) RemoteAddr() net.Addr {
	return net.TCPAddrFromAddrPort(toAddrPort(t.c.key.raddr, t.c.key.rport))
}

// SetDeadline implements net.Conn.
func (t *TCPConn) SetDeadline(d time.Time) error {
	_ = t.SetReadDeadline(d)
	return t.SetWriteDeadline(d)
}

// SetReadDeadline implements net.Conn; it wakes a blocked Read so that a
// deadline in the past interrupts it (net/http relies on that).
func (t *TCPConn) SetReadDeadline(d time.Time) error {
	t.c.rdl.set(d)
	t.c.mu.Lock()
	t.c.rwait.wake()
	t.c.mu.Unlock()
	return nil
}

// SetWriteDeadline implements net.Conn.
func (t *TCPConn) SetWriteDeadline(d time.Time) error {
	t.c.wdl.set(d)
	t.c.mu.Lock()
	t.c.wwait.wake()
	t.c.mu.Unlock()
	return nil
}

// SetKeepAlive turns keepalive probes on or off (SO_KEEPALIVE).
func (t *TCPConn) SetKeepAlive(on bool) error {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keep = on
	if on && c.state.synchronized() {
		c.setTimer(tKeep, c.st.cfg.TCP.KeepIdle)
	} else {
		c.setTimer(tKeep, 0)
	}
	return nil
}

// State returns the connection's TCP state name.
func (t *TCPConn) State() string {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.state.String()
}

func (t *TCPConn) opErr(op string, err error) error {
	return opError(op, t.LocalAddr(), t.RemoteAddr(), err)
}
