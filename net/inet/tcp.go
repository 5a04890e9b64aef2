package inet

import (
	"time"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/nlock"
	"github.com/smpgo/smpgo/net/wire"
)

// TCP (RFC 9293), after sys/netinet/tcp_input.c, tcp_output.c,
// tcp_timer.c. One tcpConn is FreeBSD's inpcb, tcpcb and socket in one:
// its mutex (the inp lock) guards the protocol state and both socket
// buffers. Segments are processed in the context that delivers them (a
// driver's thread, a netisr worker, the loopback goroutine); timers run in
// the clock's goroutines; socket calls in their callers'.

// TCPConfig tunes TCP. Zero values select the defaults.
type TCPConfig struct {
	MSS          int           // cap on the MSS we announce (1460)
	SndBuf       int           // send buffer bytes (256 KiB)
	RcvBuf       int           // receive buffer bytes (256 KiB)
	MinRTO       time.Duration // RFC 6298 (2.4) lower bound (200 ms, as FreeBSD and Linux)
	MaxRTO       time.Duration // upper bound (60 s)
	InitialRTO   time.Duration // before any RTT sample (1 s, RFC 6298 (2.1))
	MaxRexmits   int           // data retransmissions before giving up (12)
	SynRexmits   int           // SYN retransmissions before giving up (6)
	DelAck       time.Duration // delayed ACK timeout (40 ms)
	MSL          time.Duration // TIME_WAIT lasts 2*MSL (30 s)
	KeepIdle     time.Duration // keepalive idle time (2 h)
	KeepIntvl    time.Duration // between probes (75 s)
	KeepCnt      int           // unanswered probes before dropping (8)
	SynBacklog   int           // embryonic connections per listener (128)
	AcceptQueue  int           // default backlog of completed connections (128)
	NoDelayedAck bool          // ACK every segment at once
}

func (c *TCPConfig) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MSS, 1460)
	def(&c.SndBuf, 256<<10)
	def(&c.RcvBuf, 256<<10)
	defd(&c.MinRTO, 200*time.Millisecond)
	defd(&c.MaxRTO, 60*time.Second)
	defd(&c.InitialRTO, time.Second)
	def(&c.MaxRexmits, 12)
	def(&c.SynRexmits, 6)
	defd(&c.DelAck, 40*time.Millisecond)
	defd(&c.MSL, 30*time.Second)
	defd(&c.KeepIdle, 2*time.Hour)
	defd(&c.KeepIntvl, 75*time.Second)
	def(&c.KeepCnt, 8)
	def(&c.SynBacklog, 128)
	def(&c.AcceptQueue, 128)
}

// TCP states (RFC 9293 §3.3.2).
type tcpState uint8

const (
	CLOSED tcpState = iota
	SYN_SENT
	SYN_RECEIVED
	ESTABLISHED
	FIN_WAIT_1
	FIN_WAIT_2
	CLOSE_WAIT
	CLOSING
	LAST_ACK
	TIME_WAIT
)

var tcpStateNames = [...]string{"CLOSED", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
	"FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"}

func (s tcpState) String() string { return tcpStateNames[s] }

// synchronized reports states after the handshake.
func (s tcpState) synchronized() bool { return s >= ESTABLISHED }

// Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).
func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLEQ(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool  { return int32(a-b) > 0 }
func seqGEQ(a, b uint32) bool { return int32(a-b) >= 0 }

// Timers, one deadline each, served by one Clock timer per connection.
const (
	tRexmt = iota // retransmission (and SYN retransmission)
	tPersist
	tKeep
	tDelack
	t2MSL
	numTimers
)

type tcpKey struct {
	laddr, raddr Addr
	lport, rport uint16
}

type oooSeg struct {
	seq uint32
	m   *mbuf.Mbuf
	fin bool
}

// tcpConn is one connection.
type tcpConn struct {
	st  *Stack
	key tcpKey       // (c) after insertion
	lis *TCPListener // (c) the listener that spawned it, nil for active opens

	mu    nlock.Mutex // the inp lock: everything below
	state tcpState

	// Send sequence space (RFC 9293 §3.3.1).
	iss, sndUna, sndNxt, sndMax uint32
	sndWnd                      uint32 // peer's window, scaled
	sndWl1, sndWl2              uint32
	sndScale, rcvScale          uint8
	mss                         int // send MSS
	snd                         *mbuf.Mbuf
	sndLen                      int  // bytes in snd, starting at sndUna (SYN excluded)
	finQueued                   bool // the user closed for writing: FIN follows the data
	finSent                     bool // a FIN occupies sequence sndMax-1

	// Receive sequence space.
	irs, rcvNxt uint32
	rcvAdv      uint32 // right edge of the window we advertised
	rcv         *mbuf.Mbuf
	rcvLen      int
	ooo         []oooSeg // out-of-order segments, sorted by seq
	oooLen      int
	finRcvd     bool

	// Congestion control (RFC 5681, NewReno RFC 6582).
	cwnd, ssthresh uint32
	dupacks        int
	recover        uint32
	inRecovery     bool

	// Round-trip timing (RFC 6298), one segment at a time (Karn).
	srtt, rttvar, rto time.Duration
	rtting            bool
	rttSeq            uint32
	rttStart          time.Duration
	rexmtShift        int

	// Timers.
	timers  [numTimers]time.Duration // deadlines, 0 = off
	timer   Timer
	timerAt time.Duration
	idleAt  time.Duration // last segment received (keepalive)
	probes  int           // keepalive probes or persist shifts sent
	keep    bool          // SO_KEEPALIVE

	// ACK policy.
	ackNow     bool
	delackSegs int

	// Socket side.
	err        error // reported to the user (reset, refused, timed out)
	userClosed bool  // Close was called
	embryonic  bool  // counted in the listener's SYN backlog
	wsOffered  bool  // the peer's SYN carried a window scale
	rwait      waitq
	wwait      waitq
	cwait      waitq // connect/accept completion
	rdl, wdl   deadline
}

// tcpTable holds connections and listeners (tcbinfo).
type tcpTable struct {
	st        *Stack
	mu        nlock.RWMutex // pcbinfo: lookups shared, changes exclusive; held only briefly
	conns     map[tcpKey]*tcpConn
	listeners map[uint16][]*TCPListener
	ports     map[uint16]int // references to each local port
	next      uint16
}

func (t *tcpTable) init(st *Stack) {
	t.mu.Init("tcphash")
	t.st = st
	t.conns = map[tcpKey]*tcpConn{}
	t.listeners = map[uint16][]*TCPListener{}
	t.ports = map[uint16]int{}
	t.next = uint16(ephemeralLow + st.rand32()%ephemeralRange)
}

func (t *tcpTable) lookup(k tcpKey) *tcpConn {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.conns[k]
}

func (t *tcpTable) lookupListener(addr Addr, port uint16) *TCPListener {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var wild *TCPListener
	for _, l := range t.listeners[port] {
		if l.laddr == addr {
			return l
		}
		if l.laddr.IsUnspecified() {
			wild = l
		}
	}
	return wild
}

// insert adds c under its key; lport 0 picks an ephemeral port.
func (t *tcpTable) insert(c *tcpConn) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.key.lport == 0 {
		for i := 0; i < ephemeralRange; i++ {
			p := t.next
			t.next++
			if t.next < ephemeralLow {
				t.next = ephemeralLow
			}
			k := c.key
			k.lport = p
			if t.ports[p] == 0 && t.conns[k] == nil {
				c.key.lport = p
				break
			}
		}
		if c.key.lport == 0 {
			return ErrAddrInUse
		}
	}
	if t.conns[c.key] != nil {
		return ErrAddrInUse
	}
	t.conns[c.key] = c
	t.ports[c.key.lport]++
	return nil
}

func (t *tcpTable) remove(c *tcpConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns[c.key] == c {
		delete(t.conns, c.key)
		if t.ports[c.key.lport]--; t.ports[c.key.lport] <= 0 {
			delete(t.ports, c.key.lport)
		}
	}
}

func (t *tcpTable) closeAll() {
	t.mu.RLock()
	var cs []*tcpConn
	for _, c := range t.conns {
		cs = append(cs, c)
	}
	var ls []*TCPListener
	for _, l := range t.listeners {
		ls = append(ls, l...)
	}
	t.mu.RUnlock()
	for _, l := range ls {
		_ = l.Close()
	}
	for _, c := range cs {
		c.mu.Lock()
		c.dropLocked(ErrStackClosed, false)
		c.mu.Unlock()
	}
}

// TCPCounts reports the connections by state (for leak checks and the
// status page).
func (st *Stack) TCPCounts() map[string]int {
	st.tcp.mu.RLock()
	cs := make([]*tcpConn, 0, len(st.tcp.conns))
	for _, c := range st.tcp.conns {
		cs = append(cs, c)
	}
	nl := 0
	for _, l := range st.tcp.listeners {
		nl += len(l)
	}
	st.tcp.mu.RUnlock()
	out := map[string]int{}
	if nl > 0 {
		out["LISTEN"] = nl
	}
	for _, c := range cs {
		c.mu.Lock()
		out[c.state.String()]++
		c.mu.Unlock()
	}
	return out
}

// newConn makes a connection in state CLOSED with the stack's defaults.
func (st *Stack) newConn(k tcpKey) *tcpConn {
	c := &tcpConn{st: st, key: k, rto: st.cfg.TCP.InitialRTO, keep: false}
	c.mu.Init("tcpinp")
	c.rdl.init()
	c.wdl.init()
	c.iss = st.isn()
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss, c.iss
	c.mss = 536 // RFC 9293 §3.7.1 default until the peer says otherwise
	for c.rcvScale < wire.TCP_MAX_WINSHIFT && st.cfg.TCP.RcvBuf>>c.rcvScale > 65535 {
		c.rcvScale++
	}
	return c
}

// isn picks an initial sequence number. RFC 6528 asks for a keyed hash
// of the 4-tuple plus a clock; a seeded generator gives unpredictable and,
// in tests, reproducible values.
func (st *Stack) isn() uint32 { return st.rand32() }

// ourMSS is the MSS we announce: the interface MTU minus headers.
func (st *Stack) ourMSS(dst Addr) int {
	mss := st.cfg.TCP.MSS
	if rt, err := st.routeTo(dst, nil); err == nil {
		mss = min(mss, rt.ifs.ifp.MTU()-wire.IPv4HdrLen-wire.TCPHdrLen)
	}
	return mss
}

// initCwnd sets the initial window (RFC 5681 §3.1: IW = 2..4 segments).
func (c *tcpConn) initCwnd() {
	mss := uint32(c.mss)
	switch {
	case mss > 2190:
		c.cwnd = 2 * mss
	case mss > 1095:
		c.cwnd = 3 * mss
	default:
		c.cwnd = 4 * mss
	}
	c.ssthresh = 1 << 30
}
