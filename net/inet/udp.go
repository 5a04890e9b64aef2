package inet

import (
	"net"
	"net/netip"
	"os"
	"time"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/nlock"
	"github.com/smpgo/smpgo/net/wire"
)

// UDP (RFC 768) with net.PacketConn sockets.

const (
	udpRcvLimit    = 256 << 10 // bytes queued per socket
	ephemeralLow   = 49152
	ephemeralHigh  = 65535
	ephemeralRange = ephemeralHigh - ephemeralLow + 1
	udpMaxDatagram = 65507
)

type udpTable struct {
	st    *Stack
	mu    nlock.RWMutex         // pcbinfo: the port table
	ports map[uint16][]*UDPConn // (mu)
	next  uint16                // (mu) next ephemeral port to try
}

func (t *udpTable) init(st *Stack) {
	t.mu.Init("udphash")
	t.st = st
	t.ports = map[uint16][]*UDPConn{}
	t.next = uint16(ephemeralLow + st.rand32()%ephemeralRange)
}

// UDPConn is a UDP socket. It implements net.PacketConn and, once
// connected (DialUDP), net.Conn.
type UDPConn struct {
	st *Stack

	// Set at bind/connect, then constant.
	laddr Addr
	lport uint16
	raddr Addr
	rport uint16
	ifp   *netif.Interface // bound to one interface (BindToInterface)

	mu       nlock.Mutex // inp lock
	rcv      []udpDgram  // (mu)
	rcvBytes int         // (mu)
	rwait    waitq       // (mu)
	closed   bool        // (mu)
	softErr  error       // (mu) from an ICMP error, reported once

	rdl, wdl deadline
}

type udpDgram struct {
	m     *mbuf.Mbuf // payload only
	from  Addr
	fport uint16
}

// bindLocked reserves a port (0: an ephemeral one).
func (t *udpTable) bind(c *UDPConn, port uint16) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if port == 0 {
		for i := 0; i < ephemeralRange; i++ {
			p := t.next
			t.next++
			if t.next < ephemeralLow {
				t.next = ephemeralLow
			}
			if len(t.ports[p]) == 0 {
				port = p
				break
			}
		}
		if port == 0 {
			return ErrAddrInUse
		}
	}
	for _, o := range t.ports[port] {
		if o.laddr == c.laddr || o.laddr.IsUnspecified() || c.laddr.IsUnspecified() {
			if o.ifp == nil || c.ifp == nil || o.ifp == c.ifp {
				return ErrAddrInUse
			}
		}
	}
	c.lport = port
	t.ports[port] = append(t.ports[port], c)
	return nil
}

func (t *udpTable) unbind(c *UDPConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.ports[c.lport]
	for i, o := range l {
		if o == c {
			t.ports[c.lport] = append(l[:i:i], l[i+1:]...)
			break
		}
	}
	if len(t.ports[c.lport]) == 0 {
		delete(t.ports, c.lport)
	}
}

// lookup finds the best socket for a datagram: a connected match beats a
// specific local address, which beats a wildcard.
func (t *udpTable) lookup(ifp *netif.Interface, src Addr, sport uint16, dst Addr, dport uint16) *UDPConn {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var best *UDPConn
	score := -1
	for _, c := range t.ports[dport] {
		if c.ifp != nil && c.ifp != ifp {
			continue
		}
		s := 0
		if !c.laddr.IsUnspecified() {
			if c.laddr != dst {
				continue
			}
			s++
		}
		if c.rport != 0 {
			if c.raddr != src || c.rport != sport {
				continue
			}
			s += 2
		}
		if s > score {
			best, score = c, s
		}
	}
	return best
}

func (t *udpTable) closeAll() {
	t.mu.RLock()
	var all []*UDPConn
	for _, l := range t.ports {
		all = append(all, l...)
	}
	t.mu.RUnlock()
	for _, c := range all {
		_ = c.Close()
	}
}

func (st *Stack) udpInput(ifs *ifState, h *wire.IPv4, m *mbuf.Mbuf) {
	st.count(UDPIn)
	n := m.PktLen() - h.HdrLen
	m, err := m.Pullup(h.HdrLen + wire.UDPHdrLen)
	if err != nil {
		st.count(UDPDropShort)
		m.FreeChain()
		return
	}
	u, err := wire.ParseUDP(m.Bytes()[h.HdrLen:], n)
	if err != nil {
		st.count(UDPDropShort)
		m.FreeChain()
		return
	}
	if u.Length < n {
		m.Adj(u.Length - n)
	}
	if u.Csum != 0 && m.Pkt.Csum&mbuf.CSUM_L4_VALID == 0 && m.Pkt.Flags&mbuf.M_LOOP == 0 {
		if wire.SumMbuf(wire.Pseudo(h.Src, h.Dst, wire.IPPROTO_UDP, u.Length), m, h.HdrLen, u.Length).Fold() != 0 {
			st.count(UDPDropChecksum)
			m.FreeChain()
			return
		}
	}
	c := st.udp.lookup(ifs.ifp, h.Src, u.SrcPort, h.Dst, u.DstPort)
	if c == nil {
		st.count(UDPDropNoPort)
		st.icmpError(m, h, wire.ICMP_UNREACH, wire.ICMP_UNREACH_PORT, 0)
		return
	}
	m.Adj(h.HdrLen + wire.UDPHdrLen)
	c.mu.Lock()
	if c.closed || c.rcvBytes+m.PktLen() > udpRcvLimit {
		c.mu.Unlock()
		st.count(UDPDropFull)
		m.FreeChain()
		return
	}
	c.rcv = append(c.rcv, udpDgram{m: m, from: h.Src, fport: u.SrcPort})
	c.rcvBytes += m.PktLen()
	c.rwait.wake()
	c.mu.Unlock()
}

// udpCtlInput takes an ICMP error about a datagram we sent.
func (st *Stack) udpCtlInput(src Addr, sport uint16, dst Addr, dport uint16, hard bool) {
	if !hard {
		return
	}
	st.udp.mu.RLock()
	var hit *UDPConn
	for _, c := range st.udp.ports[sport] {
		if c.rport == dport && c.raddr == dst {
			hit = c
		}
	}
	st.udp.mu.RUnlock()
	if hit != nil {
		hit.mu.Lock()
		hit.softErr = ErrConnRefused
		hit.rwait.wake()
		hit.mu.Unlock()
	}
}

// ListenUDP opens a UDP socket bound to laddr (an unspecified address
// binds every address, port 0 an ephemeral port).
func (st *Stack) ListenUDP(laddr netip.AddrPort) (*UDPConn, error) {
	return st.listenUDP(laddr, nil)
}

// ListenUDPOn opens a socket bound to one interface (DHCP uses it before
// the interface has an address); it receives broadcasts only from ifp
// and sends its broadcasts out of ifp.
func (st *Stack) ListenUDPOn(ifp *netif.Interface, port uint16) (*UDPConn, error) {
	return st.listenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), port), ifp)
}

func (st *Stack) listenUDP(laddr netip.AddrPort, ifp *netif.Interface) (*UDPConn, error) {
	a := laddr.Addr().Unmap()
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	if !a.Is4() {
		return nil, ErrBadAddress
	}
	c := &UDPConn{st: st, laddr: a.As4(), ifp: ifp}
	c.initLocks()
	if !c.laddr.IsUnspecified() && !st.IsLocal(c.laddr) {
		return nil, ErrBadAddress
	}
	if err := st.udp.bind(c, laddr.Port()); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *UDPConn) initLocks() {
	c.mu.Init("udpinp")
	c.rdl.init()
	c.wdl.init()
}

// DialUDP opens a socket connected to raddr: it receives only from raddr
// and learns of ICMP port-unreachable errors.
func (st *Stack) DialUDP(raddr netip.AddrPort) (*UDPConn, error) {
	ra := raddr.Addr().Unmap()
	if !ra.Is4() || raddr.Port() == 0 {
		return nil, ErrBadAddress
	}
	c := &UDPConn{st: st, raddr: ra.As4(), rport: raddr.Port()}
	c.initLocks()
	src, err := st.SourceFor(c.raddr)
	if err != nil {
		return nil, err
	}
	c.laddr = src
	if err := st.udp.bind(c, 0); err != nil {
		return nil, err
	}
	return c, nil
}

// ReadFrom implements net.PacketConn.
func (c *UDPConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, port, err := c.readFrom(p)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(toAddrPort(a, port)), nil
}

// ReadFromAddrPort is ReadFrom without the allocation of a net.Addr.
func (c *UDPConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	n, a, port, err := c.readFrom(p)
	return n, toAddrPort(a, port), err
}

func (c *UDPConn) readFrom(p []byte) (int, Addr, uint16, error) {
	for {
		c.st.enter()
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			c.st.exit()
			return 0, Addr{}, 0, c.opErr("read", net.ErrClosed)
		}
		if err := c.softErr; err != nil {
			c.softErr = nil
			c.mu.Unlock()
			c.st.exit()
			return 0, Addr{}, 0, c.opErr("read", err)
		}
		if len(c.rcv) > 0 {
			d := c.rcv[0]
			c.rcv[0] = udpDgram{}
			c.rcv = c.rcv[1:]
			c.rcvBytes -= d.m.PktLen()
			c.mu.Unlock()
			c.st.exit()
			n := d.m.CopyOut(0, p)
			d.m.FreeChain()
			return n, d.from, d.fport, nil
		}
		if c.rdl.expired() {
			c.mu.Unlock()
			c.st.exit()
			return 0, Addr{}, 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		w := c.rwait.wait()
		c.mu.Unlock()
		c.st.exit()
		select {
		case <-w:
		case <-c.rdl.done():
		}
	}
}

// WriteTo implements net.PacketConn.
func (c *UDPConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	a, port, err := fromNetAddr(addr)
	if err != nil {
		return 0, c.opErr("write", err)
	}
	return c.writeTo(p, a, port)
}

// WriteToAddrPort sends p to addr.
func (c *UDPConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	a := addr.Addr().Unmap()
	if !a.Is4() {
		return 0, c.opErr("write", ErrBadAddress)
	}
	return c.writeTo(p, a.As4(), addr.Port())
}

func (c *UDPConn) writeTo(p []byte, dst Addr, dport uint16) (int, error) {
	if len(p) > udpMaxDatagram {
		return 0, c.opErr("write", ErrMsgSize)
	}
	if dport == 0 {
		return 0, c.opErr("write", ErrBadAddress)
	}
	if c.wdl.expired() {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	st := c.st
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0, c.opErr("write", net.ErrClosed)
	}
	rt, err := st.routeTo(dst, c.ifp)
	if err != nil {
		return 0, c.opErr("write", err)
	}
	src := c.laddr
	if src.IsUnspecified() {
		src = rt.src
	}
	m := mbuf.FromBytes(p, mbuf.MaxHdr)
	if m == nil {
		return 0, c.opErr("write", ErrNoBufs)
	}
	m = m.Prepend(wire.UDPHdrLen)
	u := wire.UDP{SrcPort: c.lport, DstPort: dport, Length: m.PktLen()}
	u.Put(m.Bytes())
	delayCsum(m, src, dst, wire.IPPROTO_UDP, u.Length) // finished by the device or ipOutputRoute
	st.enter()
	st.count(UDPOut)
	err = st.ipOutputRoute(rt, m, src, dst, wire.IPPROTO_UDP, outOpts{ifp: c.ifp})
	st.exit()
	if err != nil {
		return 0, c.opErr("write", err)
	}
	return len(p), nil
}

// Read reads a datagram from a connected socket.
func (c *UDPConn) Read(p []byte) (int, error) {
	n, _, _, err := c.readFrom(p)
	return n, err
}

// Write sends a datagram on a connected socket.
func (c *UDPConn) Write(p []byte) (int, error) {
	if c.rport == 0 {
		return 0, c.opErr("write", ErrNotConnected)
	}
	return c.writeTo(p, c.raddr, c.rport)
}

// Close implements net.PacketConn.
func (c *UDPConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opErr("close", net.ErrClosed)
	}
	c.closed = true
	q := c.rcv
	c.rcv = nil
	c.rcvBytes = 0
	c.rwait.wake()
	c.mu.Unlock()
	for _, d := range q {
		d.m.FreeChain()
	}
	c.st.udp.unbind(c)
	return nil
}

// LocalAddr implements net.PacketConn.
func (c *UDPConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(toAddrPort(c.laddr, c.lport)) }

// RemoteAddr returns the connected peer, or nil.
func (c *UDPConn) RemoteAddr() net.Addr {
	if c.rport == 0 {
		return nil
	}
	return net.UDPAddrFromAddrPort(toAddrPort(c.raddr, c.rport))
}

// SetDeadline implements net.PacketConn.
func (c *UDPConn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline implements net.PacketConn.
func (c *UDPConn) SetReadDeadline(t time.Time) error { c.rdl.set(t); return nil }

// SetWriteDeadline implements net.PacketConn.
func (c *UDPConn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

func (c *UDPConn) opErr(op string, err error) error {
	e := opError(op, c.LocalAddr(), c.RemoteAddr(), err)
	if oe, ok := e.(*net.OpError); ok {
		oe.Net = "udp"
	}
	return e
}
