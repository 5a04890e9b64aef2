package inet

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	mrand "math/rand"
	"sync"
	"sync/atomic"
	"time"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/netisr"
	"github.com/smpgo/smpgo/net/nlock"
	"github.com/smpgo/smpgo/net/wire"
)

// Addr is an IPv4 address.
type Addr = wire.Addr

// Errors returned to callers that can act on them.
var (
	ErrNoRoute      = errors.New("inet: no route to host")
	ErrHostDown     = errors.New("inet: host is down (ARP failed)")
	ErrMsgSize      = errors.New("inet: message too long")
	ErrNoInterface  = errors.New("inet: interface not attached to this stack")
	ErrAddrInUse    = errors.New("inet: address already in use")
	ErrClosed       = errors.New("inet: use of closed connection")
	ErrConnRefused  = errors.New("inet: connection refused")
	ErrConnReset    = errors.New("inet: connection reset by peer")
	ErrTimeout      = errors.New("inet: i/o timeout")
	ErrConnAborted  = errors.New("inet: connection timed out")
	ErrNoBufs       = errors.New("inet: no buffer space")
	ErrBadAddress   = errors.New("inet: bad address")
	ErrStackClosed  = errors.New("inet: stack closed")
	ErrNotConnected = errors.New("inet: not connected")
)

// Config tunes a Stack. Zero values select the defaults shown.
type Config struct {
	// Clock drives every timer (default: the real clock).
	Clock Clock
	// Giant puts the whole stack under one lock (GiantLock).
	Giant bool
	// GiantLock is the lock of Giant mode (default netif.Giant).
	GiantLock sync.Locker
	// Seed seeds initial sequence numbers, IP ids and ephemeral ports
	// (0: from crypto/rand). Tests fix it to be reproducible.
	Seed int64
	// CPU returns the current CPU for per-CPU counters (default: 0).
	CPU func() int
	// Netisr, when set, receives every frame (protocol "ether") with
	// NetisrMode and NetisrPolicy; otherwise frames are processed in the
	// driver's context.
	Netisr       *netisr.Netisr
	NetisrMode   netisr.Mode
	NetisrPolicy netisr.Policy

	ARPTimeout time.Duration // reachable entry lifetime (20 min)
	ARPHold    int           // packets held per unresolved entry (16)
	ARPRetries int           // requests before declaring a host down (5)

	ReassTimeout  time.Duration // fragment reassembly timeout (30 s)
	ReassMax      int           // datagrams being reassembled at once (64)
	ReassMaxFrags int           // fragments per datagram (64)

	ICMPErrorRate int // ICMP errors sent per second (100)

	SlowTick time.Duration // period of the cache and reassembly sweeper (500 ms)

	TCP TCPConfig
}

// Stack is one instance of the IPv4 stack.
type Stack struct {
	cfg   Config // (c)
	clock Clock  // (c)
	giant sync.Locker
	stats statTable

	// ifs maps an interface index to its state; replaced wholesale under
	// ifsMu (copy on write) and read without locks.
	ifs   atomic.Pointer[map[int]*ifState]
	ifsMu nlock.Mutex
	loop  *ifState // (c) lo0

	rtMu   nlock.RWMutex
	routes []Route // (rtMu)

	rngMu nlock.Mutex
	rng   *mrand.Rand // (rngMu)
	ipID  atomic.Uint32

	isrID int // (c) the stack's protocol id in cfg.Netisr

	reass reassTable
	icmp  icmpState
	udp   udpTable
	tcp   tcpTable

	slowMu  nlock.Mutex
	slow    Timer // (slowMu)
	closed  atomic.Bool
	busy    atomic.Int64 // (a) frames being processed (process)
	closeWg sync.WaitGroup
}

// ifState is the stack's view of one interface.
type ifState struct {
	st    *Stack
	ifp   *netif.Interface // (c)
	addrs []ifAddr         // (rtMu)
	arp   arpTable
}

type ifAddr struct {
	addr   Addr
	prefix int
}

func (a ifAddr) broadcast() Addr {
	return wire.AddrFrom32(a.addr.Uint32() | ^wire.PrefixMask(a.prefix))
}

// Route is a routing-table entry.
type Route struct {
	Dst     Addr
	Prefix  int
	Gateway Addr // zero for a connected route
	Ifp     *netif.Interface
	Src     Addr // preferred source address
}

// New creates a stack with a loopback interface (127.0.0.1/8).
func New(cfg Config) (*Stack, error) {
	if cfg.Clock == nil {
		cfg.Clock = NewRealClock()
	}
	if cfg.GiantLock == nil {
		cfg.GiantLock = netif.Giant
	}
	if cfg.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cfg.Seed = int64(binary.LittleEndian.Uint64(b[:]) | 1)
	}
	if cfg.ARPTimeout == 0 {
		cfg.ARPTimeout = 20 * time.Minute
	}
	if cfg.ARPHold == 0 {
		cfg.ARPHold = 16
	}
	if cfg.ARPRetries == 0 {
		cfg.ARPRetries = 5
	}
	if cfg.ReassTimeout == 0 {
		cfg.ReassTimeout = 30 * time.Second
	}
	if cfg.ReassMax == 0 {
		cfg.ReassMax = 64
	}
	if cfg.ReassMaxFrags == 0 {
		cfg.ReassMaxFrags = 64
	}
	if cfg.ICMPErrorRate == 0 {
		cfg.ICMPErrorRate = 100
	}
	if cfg.SlowTick == 0 {
		cfg.SlowTick = 500 * time.Millisecond
	}
	cfg.TCP.setDefaults()
	st := &Stack{cfg: cfg, clock: cfg.Clock}
	st.ifsMu.Init("inet ifs")
	st.rtMu.Init("inet rt")
	st.rngMu.Init("inet rng")
	st.slowMu.Init("inet slowtimo")
	st.icmp.mu.Init("icmp")
	if cfg.Giant {
		st.giant = cfg.GiantLock
	}
	st.stats.cpu = cfg.CPU
	st.rng = mrand.New(mrand.NewSource(cfg.Seed))
	st.ipID.Store(uint32(st.rng.Intn(65536)))
	empty := map[int]*ifState{}
	st.ifs.Store(&empty)
	if cfg.Netisr != nil {
		st.isrID = cfg.Netisr.Register(netisr.Proto{Name: "ether", Mode: cfg.NetisrMode, Policy: cfg.NetisrPolicy,
			Handler: func(m *mbuf.Mbuf) {
				ifp := netif.ByIndex(m.Pkt.RcvIf)
				if ifp == nil {
					m.FreeChain()
					return
				}
				st.process(ifp, m)
			}})
	}
	st.reass.init()
	st.icmp.refill(st, 0)
	st.udp.init(st)
	st.tcp.init(st)
	lo, err := newLoopback(st)
	if err != nil {
		return nil, err
	}
	st.loop = lo
	if err := st.SetAddr(lo.ifp, wire.MustAddr("127.0.0.1"), 8); err != nil {
		return nil, err
	}
	st.slowMu.Lock()
	st.slow = st.clock.AfterFunc(cfg.SlowTick, st.slowTimo)
	st.slowMu.Unlock()
	return st, nil
}

// Close stops the stack's timers, resets its connections and detaches the
// loopback interface. Interfaces added with AddInterface stay attached to
// their drivers but no longer feed this stack.
func (st *Stack) Close() {
	if st.closed.Swap(true) {
		return
	}
	// Let frames already inside the stack finish, so that none of them
	// leaves an mbuf in a cache or queue flushed below.
	for st.busy.Load() != 0 {
		time.Sleep(100 * time.Microsecond)
	}
	st.slowMu.Lock()
	st.slow.Stop()
	st.slowMu.Unlock()
	st.tcp.closeAll()
	st.udp.closeAll()
	for _, ifs := range *st.ifs.Load() {
		ifs.ifp.SetInput(nil)
		ifs.arp.flush()
	}
	st.reass.flush()
	_ = st.loop.ifp.SetUp(false)
	st.loop.ifp.Detach()
	st.closeWg.Wait()
}

// enter and exit bracket every entry into the stack: in Giant mode they
// take and drop the Giant lock.
func (st *Stack) enter() {
	if st.giant != nil {
		st.giant.Lock()
	}
}

func (st *Stack) exit() {
	if st.giant != nil {
		st.giant.Unlock()
	}
}

// GiantMode reports whether the stack runs under Giant.
func (st *Stack) GiantMode() bool { return st.giant != nil }

// GiantLock returns the lock of Giant mode, or nil. A layer above the
// stack whose own locks are held across calls into it (the socket layer)
// takes Giant first, as FreeBSD requires: Giant is never acquired after
// another mutex.
func (st *Stack) GiantLock() sync.Locker { return st.giant }

// Now returns the stack clock's time.
func (st *Stack) Now() time.Duration { return st.clock.Now() }

func (st *Stack) rand32() uint32 {
	st.rngMu.Lock()
	defer st.rngMu.Unlock()
	return st.rng.Uint32()
}

func (st *Stack) ifState(index int) *ifState { return (*st.ifs.Load())[index] }

// AddInterface attaches ifp to the stack: the stack becomes its input,
// brings it up, and announces its addresses when the link comes up.
func (st *Stack) AddInterface(ifp *netif.Interface) error {
	ifs := &ifState{st: st, ifp: ifp}
	ifs.arp.init(ifs)
	st.ifsMu.Lock()
	old := *st.ifs.Load()
	if _, ok := old[ifp.Index()]; ok {
		st.ifsMu.Unlock()
		return ErrAddrInUse
	}
	nm := make(map[int]*ifState, len(old)+1)
	for k, v := range old {
		nm[k] = v
	}
	nm[ifp.Index()] = ifs
	st.ifs.Store(&nm)
	st.ifsMu.Unlock()
	ifp.SetInput(st.input)
	ifp.OnLinkState(func(_ *netif.Interface, s netif.LinkState) {
		if s == netif.LINK_STATE_UP {
			st.enter()
			st.announce(ifs)
			st.exit()
		}
	})
	return ifp.SetUp(true)
}

// Interfaces returns the interfaces attached to the stack.
func (st *Stack) Interfaces() []*netif.Interface {
	var out []*netif.Interface
	for _, ifs := range *st.ifs.Load() {
		out = append(out, ifs.ifp)
	}
	return out
}

// Loopback returns the stack's loopback interface.
func (st *Stack) Loopback() *netif.Interface { return st.loop.ifp }

// SetAddr adds address addr/prefix to ifp with its connected route and
// announces it with a gratuitous ARP.
func (st *Stack) SetAddr(ifp *netif.Interface, addr Addr, prefix int) error {
	ifs := st.ifState(ifp.Index())
	if ifs == nil {
		return ErrNoInterface
	}
	if prefix < 0 || prefix > 32 || addr.IsUnspecified() || addr.IsMulticast() || addr.IsBroadcast() {
		return ErrBadAddress
	}
	st.rtMu.Lock()
	for _, a := range ifs.addrs {
		if a.addr == addr {
			st.rtMu.Unlock()
			return nil
		}
	}
	ifs.addrs = append(ifs.addrs, ifAddr{addr, prefix})
	st.routes = append(st.routes, Route{Dst: addr.Mask(prefix), Prefix: prefix, Ifp: ifp, Src: addr})
	st.rtMu.Unlock()
	st.enter()
	st.announce(ifs)
	st.exit()
	return nil
}

// RemoveAddr removes an address and the routes that use it.
func (st *Stack) RemoveAddr(ifp *netif.Interface, addr Addr) {
	ifs := st.ifState(ifp.Index())
	if ifs == nil {
		return
	}
	st.rtMu.Lock()
	defer st.rtMu.Unlock()
	for i, a := range ifs.addrs {
		if a.addr == addr {
			ifs.addrs = append(ifs.addrs[:i:i], ifs.addrs[i+1:]...)
			break
		}
	}
	keep := st.routes[:0]
	for _, r := range st.routes {
		if r.Src != addr {
			keep = append(keep, r)
		}
	}
	st.routes = keep
}

// Addrs returns ifp's addresses as prefixes.
func (st *Stack) Addrs(ifp *netif.Interface) []Prefix {
	ifs := st.ifState(ifp.Index())
	if ifs == nil {
		return nil
	}
	st.rtMu.RLock()
	defer st.rtMu.RUnlock()
	var out []Prefix
	for _, a := range ifs.addrs {
		out = append(out, Prefix{a.addr, a.prefix})
	}
	return out
}

// Prefix is an address with a prefix length.
type Prefix struct {
	Addr Addr
	Bits int
}

// SetDefaultGateway replaces the default route.
func (st *Stack) SetDefaultGateway(gw Addr) error {
	st.rtMu.Lock()
	defer st.rtMu.Unlock()
	r, ok := st.lookupRLocked(gw)
	if !ok || r.Gateway != (Addr{}) {
		return ErrNoRoute
	}
	keep := st.routes[:0]
	for _, x := range st.routes {
		if x.Prefix != 0 {
			keep = append(keep, x)
		}
	}
	st.routes = append(keep, Route{Prefix: 0, Gateway: gw, Ifp: r.Ifp, Src: r.Src})
	return nil
}

// Routes returns a copy of the routing table.
func (st *Stack) Routes() []Route {
	st.rtMu.RLock()
	defer st.rtMu.RUnlock()
	return append([]Route(nil), st.routes...)
}

// lookupRLocked finds the longest-prefix route to dst.
func (st *Stack) lookupRLocked(dst Addr) (Route, bool) {
	best := -1
	var r Route
	for _, x := range st.routes {
		if x.Prefix > best && dst.Mask(x.Prefix) == x.Dst.Mask(x.Prefix) {
			best, r = x.Prefix, x
		}
	}
	return r, best >= 0
}

// isLocalRLocked reports whether dst is one of the stack's addresses.
func (st *Stack) isLocalRLocked(dst Addr) bool {
	for _, ifs := range *st.ifs.Load() {
		for _, a := range ifs.addrs {
			if a.addr == dst {
				return true
			}
		}
	}
	return false
}

// IsLocal reports whether dst is one of the stack's addresses.
func (st *Stack) IsLocal(dst Addr) bool {
	st.rtMu.RLock()
	defer st.rtMu.RUnlock()
	return st.isLocalRLocked(dst)
}

// route is a resolved output path.
type route struct {
	ifs     *ifState
	nexthop Addr
	src     Addr
	bcast   bool
}

// routeTo picks the interface, next hop and source address for dst. ifp,
// when not nil, forces the interface (broadcasts before an address is
// configured, as DHCP sends them).
func (st *Stack) routeTo(dst Addr, ifp *netif.Interface) (route, error) {
	st.rtMu.RLock()
	defer st.rtMu.RUnlock()
	if ifp != nil {
		ifs := st.ifState(ifp.Index())
		if ifs == nil {
			return route{}, ErrNoInterface
		}
		rt := route{ifs: ifs, nexthop: dst, bcast: dst.IsBroadcast()}
		if len(ifs.addrs) > 0 {
			rt.src = ifs.addrs[0].addr
			for _, a := range ifs.addrs {
				if dst == a.broadcast() {
					rt.bcast = true
				}
			}
		}
		return rt, nil
	}
	if st.isLocalRLocked(dst) || dst.IsLoopback() {
		return route{ifs: st.loop, nexthop: dst, src: dst}, nil
	}
	if dst.IsBroadcast() {
		for _, ifs := range *st.ifs.Load() {
			if ifs != st.loop && len(ifs.addrs) > 0 {
				return route{ifs: ifs, nexthop: dst, src: ifs.addrs[0].addr, bcast: true}, nil
			}
		}
		return route{}, ErrNoRoute
	}
	r, ok := st.lookupRLocked(dst)
	if !ok {
		return route{}, ErrNoRoute
	}
	ifs := st.ifState(r.Ifp.Index())
	if ifs == nil {
		return route{}, ErrNoRoute
	}
	rt := route{ifs: ifs, nexthop: dst, src: r.Src}
	if r.Gateway != (Addr{}) {
		rt.nexthop = r.Gateway
	} else if dst == wire.AddrFrom32(r.Dst.Uint32()|^wire.PrefixMask(r.Prefix)) && r.Prefix < 31 {
		rt.bcast = true
	}
	return rt, nil
}

// SourceFor returns the source address the stack would use towards dst.
func (st *Stack) SourceFor(dst Addr) (Addr, error) {
	rt, err := st.routeTo(dst, nil)
	return rt.src, err
}

// slowTimo is the periodic sweeper (pfslowtimo): ARP expiry, reassembly
// timeouts, the ICMP error budget.
func (st *Stack) slowTimo() {
	if st.closed.Load() {
		return
	}
	st.enter()
	now := st.clock.Now()
	for _, ifs := range *st.ifs.Load() {
		ifs.arp.sweep(now)
	}
	st.reass.sweep(st, now)
	st.icmp.refill(st, now)
	st.exit()
	st.slowMu.Lock()
	if !st.closed.Load() {
		st.slow.Reset(st.cfg.SlowTick)
	}
	st.slowMu.Unlock()
}
