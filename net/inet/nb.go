package inet

import (
	"errors"
	"io"
	"net"
	"net/netip"

	"github.com/smpgo/smpgo/net/mbuf"
)

// Non-blocking socket calls and upcalls, for a socket layer that keeps its
// own waiting (the kernel's socket system calls, net/sock, where the Go
// runtime's netpoller waits): each Try call does what the blocking call
// would do without waiting, or returns ErrWouldBlock; an upcall set with
// SetUpcall runs whenever the socket's readers or writers would be woken
// (with the socket's lock held: it must not block or call into the
// socket).

// ErrWouldBlock is returned by a Try call that would have to wait.
var ErrWouldBlock = errors.New("inet: operation would block")

// SetUpcall installs the connection's upcalls: rd when reading may make
// progress (data, end of stream, an error), wr when writing may (the
// handshake completed, send-buffer space, an error). nil removes them.
func (t *TCPConn) SetUpcall(rd, wr func()) {
	c := t.c
	c.mu.Lock()
	c.rwait.up = rd
	c.wwait.up = wr
	c.cwait.up = wr
	c.mu.Unlock()
}

// TryRead is Read without waiting: io.EOF at the end of the stream,
// ErrWouldBlock when no data is there yet.
func (t *TCPConn) TryRead(p []byte) (int, error) {
	c := t.c
	st := c.st
	if len(p) == 0 {
		return 0, nil
	}
	st.enter()
	defer st.exit()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.userClosed:
		return 0, net.ErrClosed
	case c.rcvLen > 0:
		return c.readLocked(p), nil
	case c.finRcvd:
		return 0, io.EOF
	case c.err != nil:
		return 0, c.err
	case c.state == CLOSED:
		return 0, io.EOF
	}
	return 0, ErrWouldBlock
}

// TryWrite is Write without waiting: it queues what fits in the send
// buffer and returns ErrWouldBlock only if nothing fits (or the handshake
// is still under way).
func (t *TCPConn) TryWrite(p []byte) (int, error) {
	c := t.c
	st := c.st
	st.enter()
	defer st.exit()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.err != nil:
		return 0, c.err
	case c.userClosed:
		return 0, net.ErrClosed
	case c.finQueued || c.state == CLOSED || c.state > CLOSE_WAIT:
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	space := st.cfg.TCP.SndBuf - c.sndLen
	if space <= 0 || !c.state.synchronized() {
		return 0, ErrWouldBlock
	}
	n := min(space, len(p))
	if c.snd == nil {
		c.snd = mbuf.Get()
	}
	if c.snd.Append(p[:n]) != nil {
		return 0, ErrNoBufs
	}
	c.sndLen += n
	c.output()
	return n, nil
}

// Connected reports whether the handshake completed, or the error that
// ended it (ErrConnRefused, ...); (false, nil) while it is under way.
func (t *TCPConn) Connected() (bool, error) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return false, c.err
	}
	return c.state.synchronized() || c.state > ESTABLISHED, nil
}

// StartDialTCP sends a SYN to raddr and returns the connection at once,
// in SYN_SENT; Connected tells when the handshake is done.
func (st *Stack) StartDialTCP(raddr netip.AddrPort) (*TCPConn, error) {
	ra := raddr.Addr().Unmap()
	if !ra.Is4() || raddr.Port() == 0 {
		return nil, ErrBadAddress
	}
	dst := Addr(ra.As4())
	src, err := st.SourceFor(dst)
	if err != nil {
		return nil, err
	}
	c := st.newConn(tcpKey{laddr: src, raddr: dst, rport: raddr.Port()})
	c.state = SYN_SENT
	if err := st.tcp.insert(c); err != nil {
		return nil, err
	}
	st.enter()
	c.mu.Lock()
	c.output()
	c.mu.Unlock()
	st.exit()
	return &TCPConn{c: c}, nil
}

// SetUpcall installs the listener's upcall: fn runs when a connection is
// ready to accept (or the listener closed).
func (l *TCPListener) SetUpcall(fn func()) {
	l.mu.Lock()
	l.wait.up = fn
	l.mu.Unlock()
}

// TryAccept is AcceptTCP without waiting.
func (l *TCPListener) TryAccept() (*TCPConn, error) {
	l.st.enter()
	defer l.st.exit()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, net.ErrClosed
	}
	if len(l.queue) == 0 {
		return nil, ErrWouldBlock
	}
	c := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	return &TCPConn{c: c}, nil
}

// SetUpcall installs the socket's upcall: fn runs when a datagram (or an
// ICMP error) arrives, or the socket closes.
func (c *UDPConn) SetUpcall(fn func()) {
	c.mu.Lock()
	c.rwait.up = fn
	c.mu.Unlock()
}

// TryReadFrom is ReadFromAddrPort without waiting.
func (c *UDPConn) TryReadFrom(p []byte) (int, netip.AddrPort, error) {
	c.st.enter()
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		c.st.exit()
		return 0, netip.AddrPort{}, net.ErrClosed
	case c.softErr != nil:
		err := c.softErr
		c.softErr = nil
		c.mu.Unlock()
		c.st.exit()
		return 0, netip.AddrPort{}, err
	case len(c.rcv) == 0:
		c.mu.Unlock()
		c.st.exit()
		return 0, netip.AddrPort{}, ErrWouldBlock
	}
	d := c.rcv[0]
	c.rcv[0] = udpDgram{}
	c.rcv = c.rcv[1:]
	c.rcvBytes -= d.m.PktLen()
	c.mu.Unlock()
	c.st.exit()
	n := d.m.CopyOut(0, p)
	d.m.FreeChain()
	return n, toAddrPort(d.from, d.fport), nil
}

// Connect fixes the socket's peer (connect(2) on a UDP socket): from now
// on it receives only from raddr, and Write sends there.
func (c *UDPConn) Connect(raddr netip.AddrPort) error {
	ra := raddr.Addr().Unmap()
	if !ra.Is4() || raddr.Port() == 0 {
		return ErrBadAddress
	}
	t := &c.st.udp
	t.mu.Lock()
	defer t.mu.Unlock()
	c.raddr, c.rport = ra.As4(), raddr.Port()
	return nil
}
