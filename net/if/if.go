package netif

import (
	"errors"
	"fmt"
	"github.com/smpgo/smpgo/net/nlock"
	"strconv"
	"sync/atomic"

	"github.com/smpgo/smpgo/net/mbuf"
)

// HWAddr is an IEEE 802 MAC address.
type HWAddr [6]byte

// Broadcast is the Ethernet broadcast address.
var Broadcast = HWAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func (a HWAddr) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5])
}

// IsMulticast reports whether the group bit is set (broadcast included).
func (a HWAddr) IsMulticast() bool { return a[0]&1 != 0 }

// Flags are interface flags (IFF_* in sys/net/if.h).
type Flags uint32

const (
	// IFF_UP: administratively up; the stack may transmit.
	IFF_UP Flags = 1 << iota
	// IFF_BROADCAST: the link supports broadcast.
	IFF_BROADCAST
	// IFF_LOOPBACK: the loopback interface.
	IFF_LOOPBACK
	// IFF_PROMISC: receive all frames.
	IFF_PROMISC
	// IFF_ALLMULTI: receive all multicast frames.
	IFF_ALLMULTI
	// IFF_MULTICAST: the link supports multicast.
	IFF_MULTICAST
	// IFF_NEEDSGIANT: the driver is not MPSAFE; its transmit runs under
	// Giant on a deferred queue.
	IFF_NEEDSGIANT
)

func (f Flags) String() string {
	return bitNames(uint32(f), "UP", "BROADCAST", "LOOPBACK", "PROMISC", "ALLMULTI", "MULTICAST", "NEEDSGIANT")
}

// bitNames formats the bits of v named by names (bit i is names[i]) as
// "<A,B>".
func bitNames(v uint32, names ...string) string {
	s := ""
	for i, n := range names {
		if v&(1<<i) != 0 {
			if s != "" {
				s += ","
			}
			s += n
		}
	}
	return "<" + s + ">"
}

// Caps are offload capabilities (IFCAP_* in sys/net/if.h).
type Caps uint32

const (
	// IFCAP_RXCSUM: the device verifies IPv4/TCP/UDP checksums.
	IFCAP_RXCSUM Caps = 1 << iota
	// IFCAP_TXCSUM: the device computes IPv4/TCP/UDP checksums.
	IFCAP_TXCSUM
	// IFCAP_TSO4: TCP segmentation offload over IPv4 (mbuf CSUM_TSO).
	// It needs IFCAP_TXCSUM: SetCapEnable turns it off without it, as
	// FreeBSD's drivers do.
	IFCAP_TSO4
)

// TSOMax is the largest IPv4 packet a TSO request may hold
// (IP_MAXPACKET: the header's 16-bit total length), FreeBSD's
// if_hw_tsomax default.
const TSOMax = 65535

// LinkState is the carrier state (LINK_STATE_*).
type LinkState int32

const (
	LINK_STATE_UNKNOWN LinkState = iota
	LINK_STATE_DOWN
	LINK_STATE_UP
)

func (s LinkState) String() string {
	switch s {
	case LINK_STATE_DOWN:
		return "down"
	case LINK_STATE_UP:
		return "up"
	}
	return "unknown"
}

// Type is the link type (IFT_*).
type Type uint8

const (
	// IFT_ETHER: Ethernet framing.
	IFT_ETHER Type = iota
	// IFT_LOOP: loopback, frames carry a bare IPv4 packet.
	IFT_LOOP
)

// Errors.
var (
	// ErrQueueFull is the driver's back-pressure signal: the transmit
	// queue (ring) is full and the packet was not taken.
	ErrQueueFull = errors.New("netif: transmit queue full")
	// ErrDown: the interface is not up.
	ErrDown = errors.New("netif: interface down")
	// ErrDetached: the interface has been detached.
	ErrDetached = errors.New("netif: interface detached")
	// ErrNotSupported: the driver does not implement the request.
	ErrNotSupported = errors.New("netif: not supported by driver")
	// ErrBadConfig: Attach got an unusable Config.
	ErrBadConfig = errors.New("netif: bad configuration")
)

// Driver is what a NIC driver implements.
type Driver interface {
	// Transmit queues packet m (a complete frame, link header included)
	// on transmit queue q, 0 <= q < Config.TxQueues. On success the
	// driver owns m and frees it when the device is done; on error it has
	// not kept m (ErrQueueFull when the ring is full). It must not sleep.
	Transmit(q int, m *mbuf.Mbuf) error
}

// FlagsSetter is implemented by drivers that act on IFF_UP, IFF_PROMISC
// and IFF_ALLMULTI changes (program the receive filter, start or stop
// the device).
type FlagsSetter interface {
	SetFlags(f Flags) error
}

// MTUSetter is implemented by drivers that accept MTU changes.
type MTUSetter interface {
	SetMTU(mtu int) error
}

// MulticastSetter is implemented by drivers with a multicast filter.
type MulticastSetter interface {
	SetMulticast(addrs []HWAddr) error
}

// Config describes an interface to Attach.
type Config struct {
	Name     string // driver name prefix ("em", "vtnet"); a unit is appended
	Type     Type
	MAC      HWAddr
	MTU      int // 0: 1500
	TxQueues int // 0: 1
	RxQueues int // 0: 1
	Flags    Flags
	Caps     Caps
	// GiantQueueLen bounds the deferred transmit queue of an
	// IFF_NEEDSGIANT driver (0: 512).
	GiantQueueLen int
	// Pseudo marks a software interface (an in-memory link between test
	// stacks) that the system's stack must leave alone: OnAttach
	// listeners that configure NICs skip it.
	Pseudo bool
}

// InputFunc is the stack's receive entry point.
type InputFunc func(ifp *Interface, m *mbuf.Mbuf)

// LinkFunc is a link-state listener.
type LinkFunc func(ifp *Interface, s LinkState)

// Interface is one attached network interface.
type Interface struct {
	name   string        // (c)
	index  int           // (c) 1-based, never reused
	typ    Type          // (c)
	mac    HWAddr        // (c)
	caps   Caps          // (c)
	capen  atomic.Uint32 // enabled subset of caps (if_capenable)
	drv    Driver        // (c)
	pseudo bool          // (c)
	rx     []queueCounters
	tx     []queueCounters

	mtu      atomic.Int32
	flags    atomic.Uint32
	link     atomic.Int32
	detached atomic.Bool
	input    atomic.Pointer[InputFunc]
	noInput  atomic.Uint64 // frames dropped for want of an input function or while down

	// TSO requests handed to the driver, and the segments they hold.
	tsoPackets, tsoSegments atomic.Uint64

	mu        nlock.Mutex
	listeners []LinkFunc // (l)
	multi     []HWAddr   // (l) joined link-level groups
	multiRefs []int      // (l) references to each

	giant *giantTx // (c) non-nil for IFF_NEEDSGIANT drivers

	// Softc is the driver's private state (FreeBSD's if_softc).
	Softc any
}

// queueCounters are one queue's counters, padded to a cache line.
type queueCounters struct {
	packets, bytes, drops, errors atomic.Uint64
	_                             [32]byte
}

// QueueStats is a snapshot of one queue's counters.
type QueueStats struct {
	Packets, Bytes, Drops, Errors uint64
}

// count counts one packet of n bytes.
func (c *queueCounters) count(n int) {
	c.packets.Add(1)
	c.bytes.Add(uint64(n))
}

// queueAt is queue q's counters, queue 0's for a q out of range.
func queueAt(cs []queueCounters, q int) *queueCounters {
	if q < 0 || q >= len(cs) {
		q = 0
	}
	return &cs[q]
}

// snapshot returns every queue's counters and their sum.
func snapshot(cs []queueCounters) (per []QueueStats, sum QueueStats) {
	for i := range cs {
		c := &cs[i]
		qs := QueueStats{c.packets.Load(), c.bytes.Load(), c.drops.Load(), c.errors.Load()}
		per = append(per, qs)
		sum.Packets += qs.Packets
		sum.Bytes += qs.Bytes
		sum.Drops += qs.Drops
		sum.Errors += qs.Errors
	}
	return per, sum
}

// Stats is a snapshot of an interface's counters.
type Stats struct {
	Rx, Tx         []QueueStats // per queue
	RxSum, TxSum   QueueStats   // summed over queues
	NoInput        uint64       // received while down or with no stack attached
	GiantQueueLen  int          // packets waiting for the Giant transmit worker
	GiantTxPackets uint64       // packets the Giant worker handed to the driver
	// TSOPackets are CSUM_TSO packets the driver took; TSOSegments the
	// wire segments they make (payload / TSOSegSz, rounded up).
	TSOPackets, TSOSegments uint64
}

var (
	listMu     = nlock.NewMutex("ifnet list")
	ifaces     []*Interface   // guarded by listMu; index i+1
	units      map[string]int // next unit per name prefix; guarded by listMu
	attachHook []func(*Interface)
)

// Attach registers a new interface for driver d. The interface starts
// down (not IFF_UP) with link state unknown; the driver reports its link
// with SetLinkState, and the stack brings it up.
func Attach(cfg Config, d Driver) (*Interface, error) {
	if d == nil || cfg.Name == "" {
		return nil, ErrBadConfig
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.TxQueues == 0 {
		cfg.TxQueues = 1
	}
	if cfg.RxQueues == 0 {
		cfg.RxQueues = 1
	}
	if cfg.MTU < 68 || cfg.TxQueues < 0 || cfg.RxQueues < 0 {
		return nil, ErrBadConfig
	}
	ifp := &Interface{
		typ:    cfg.Type,
		mac:    cfg.MAC,
		caps:   cfg.Caps,
		drv:    d,
		pseudo: cfg.Pseudo,
		rx:     make([]queueCounters, cfg.RxQueues),
		tx:     make([]queueCounters, cfg.TxQueues),
	}
	ifp.mu.Init("ifnet state")
	ifp.capen.Store(uint32(cfg.Caps))
	if cfg.Caps&IFCAP_TXCSUM == 0 {
		ifp.capen.Store(uint32(cfg.Caps &^ IFCAP_TSO4))
	}
	ifp.mtu.Store(int32(cfg.MTU))
	ifp.flags.Store(uint32(cfg.Flags &^ IFF_UP))
	if cfg.Flags&IFF_NEEDSGIANT != 0 {
		ifp.giant = newGiantTx(ifp, cfg.GiantQueueLen)
	}
	listMu.Lock()
	if units == nil {
		units = map[string]int{}
	}
	ifp.name = cfg.Name + strconv.Itoa(units[cfg.Name])
	units[cfg.Name]++
	ifaces = append(ifaces, ifp)
	ifp.index = len(ifaces)
	hooks := append([](func(*Interface)){}, attachHook...)
	listMu.Unlock()
	for _, h := range hooks {
		h(ifp)
	}
	return ifp, nil
}

// OnAttach calls fn for every interface attached so far and every one
// attached later (the stack uses it to configure NICs as drivers find
// them).
func OnAttach(fn func(*Interface)) {
	listMu.Lock()
	attachHook = append(attachHook, fn)
	cur := append([]*Interface(nil), ifaces...)
	listMu.Unlock()
	for _, ifp := range cur {
		if !ifp.detached.Load() {
			fn(ifp)
		}
	}
}

// List returns the attached interfaces in index order.
func List() []*Interface {
	listMu.Lock()
	defer listMu.Unlock()
	out := make([]*Interface, 0, len(ifaces))
	for _, ifp := range ifaces {
		if !ifp.detached.Load() {
			out = append(out, ifp)
		}
	}
	return out
}

// ByIndex returns the interface with index i, or nil.
func ByIndex(i int) *Interface {
	listMu.Lock()
	defer listMu.Unlock()
	if i < 1 || i > len(ifaces) || ifaces[i-1].detached.Load() {
		return nil
	}
	return ifaces[i-1]
}

// ByName returns the interface named name, or nil.
func ByName(name string) *Interface {
	for _, ifp := range List() {
		if ifp.name == name {
			return ifp
		}
	}
	return nil
}

// Detach stops the interface: Transmit and Input drop from now on, and the
// Giant worker (if any) frees what it still holds.
func (ifp *Interface) Detach() {
	if ifp.detached.Swap(true) {
		return
	}
	ifp.flags.And(^uint32(IFF_UP))
	if ifp.giant != nil {
		ifp.giant.stop()
	}
}

// Name returns the interface name ("em0").
func (ifp *Interface) Name() string { return ifp.name }

// Index returns the 1-based interface index.
func (ifp *Interface) Index() int { return ifp.index }

// Type returns the link type.
func (ifp *Interface) Type() Type { return ifp.typ }

// MAC returns the hardware address.
func (ifp *Interface) MAC() HWAddr { return ifp.mac }

// Caps returns the offload capabilities.
func (ifp *Interface) Caps() Caps { return ifp.caps }

// CapEnable returns the enabled offloads (FreeBSD's if_capenable): the
// stack asks the device to checksum only with IFCAP_TXCSUM enabled, and
// drivers report checksums they verified only with IFCAP_RXCSUM enabled.
func (ifp *Interface) CapEnable() Caps { return Caps(ifp.capen.Load()) }

// SetCapEnable enables the offloads c has of the interface's
// capabilities (the others are ignored) and returns what is enabled.
// IFCAP_TSO4 stays off without IFCAP_TXCSUM (the device checksums the
// segments it cuts). It takes effect for packets from now on.
func (ifp *Interface) SetCapEnable(c Caps) Caps {
	c &= ifp.caps
	if c&IFCAP_TXCSUM == 0 {
		c &^= IFCAP_TSO4
	}
	ifp.capen.Store(uint32(c))
	return c
}

func (c Caps) String() string { return bitNames(uint32(c), "RXCSUM", "TXCSUM", "TSO4") }

// Pseudo reports whether the interface is a software one (Config.Pseudo).
func (ifp *Interface) Pseudo() bool { return ifp.pseudo }

// Driver returns the driver.
func (ifp *Interface) Driver() Driver { return ifp.drv }

// MTU returns the current MTU.
func (ifp *Interface) MTU() int { return int(ifp.mtu.Load()) }

// Flags returns the current flags.
func (ifp *Interface) Flags() Flags { return Flags(ifp.flags.Load()) }

// Up reports whether IFF_UP is set.
func (ifp *Interface) Up() bool { return ifp.Flags()&IFF_UP != 0 }

// NumTxQueues returns the number of transmit queues.
func (ifp *Interface) NumTxQueues() int { return len(ifp.tx) }

// NumRxQueues returns the number of receive queues.
func (ifp *Interface) NumRxQueues() int { return len(ifp.rx) }

// LinkState returns the last reported link state.
func (ifp *Interface) LinkState() LinkState { return LinkState(ifp.link.Load()) }

func (ifp *Interface) String() string { return ifp.name }

// SetFlags changes the administrative flags IFF_UP, IFF_PROMISC and
// IFF_ALLMULTI (others are fixed at Attach), telling the driver first.
func (ifp *Interface) SetFlags(f Flags) error {
	if ifp.detached.Load() {
		return ErrDetached
	}
	const mutable = IFF_UP | IFF_PROMISC | IFF_ALLMULTI
	nf := ifp.Flags()&^mutable | f&mutable
	if fs, ok := ifp.drv.(FlagsSetter); ok {
		if err := fs.SetFlags(nf); err != nil {
			return err
		}
	}
	ifp.flags.Store(uint32(nf))
	return nil
}

// SetUp sets or clears IFF_UP.
func (ifp *Interface) SetUp(up bool) error {
	f := ifp.Flags()
	if up {
		f |= IFF_UP
	} else {
		f &^= IFF_UP
	}
	return ifp.SetFlags(f)
}

// SetMTU changes the MTU through the driver (a driver without MTUSetter
// accepts only values up to its attach-time MTU).
func (ifp *Interface) SetMTU(mtu int) error {
	if mtu < 68 {
		return ErrBadConfig
	}
	if ms, ok := ifp.drv.(MTUSetter); ok {
		if err := ms.SetMTU(mtu); err != nil {
			return err
		}
	} else if mtu > ifp.MTU() {
		return ErrNotSupported
	}
	ifp.mtu.Store(int32(mtu))
	return nil
}

// SetMulticast replaces the multicast filter list (each address joined
// once).
func (ifp *Interface) SetMulticast(addrs []HWAddr) error {
	ms, ok := ifp.drv.(MulticastSetter)
	if !ok {
		return ErrNotSupported
	}
	cp := append([]HWAddr(nil), addrs...)
	ifp.mu.Lock()
	defer ifp.mu.Unlock()
	if err := ms.SetMulticast(cp); err != nil {
		return err
	}
	ifp.multi = cp
	ifp.multiRefs = make([]int, len(cp))
	for i := range ifp.multiRefs {
		ifp.multiRefs[i] = 1
	}
	return nil
}

// Multicast-group errors.
var (
	// ErrNotMulticast: the address is not a group address.
	ErrNotMulticast = errors.New("netif: not a multicast address")
	// ErrNotJoined: LeaveMulticast for a group not joined.
	ErrNotJoined = errors.New("netif: multicast group not joined")
)

// JoinMulticast adds a reference to link-level group a (FreeBSD's
// if_addmulti): the first one adds a to the driver's filter, later ones
// only count. The driver is told under the interface's lock, so filters
// are programmed in the order joins and leaves happen.
func (ifp *Interface) JoinMulticast(a HWAddr) error {
	if !a.IsMulticast() || a == Broadcast {
		return ErrNotMulticast
	}
	ms, ok := ifp.drv.(MulticastSetter)
	if !ok {
		return ErrNotSupported
	}
	ifp.mu.Lock()
	defer ifp.mu.Unlock()
	for i, m := range ifp.multi {
		if m == a {
			ifp.multiRefs[i]++
			return nil
		}
	}
	next := append(append([]HWAddr(nil), ifp.multi...), a)
	if err := ms.SetMulticast(next); err != nil {
		return err
	}
	ifp.multi = next
	ifp.multiRefs = append(ifp.multiRefs, 1)
	return nil
}

// LeaveMulticast drops a reference to group a; the last one removes it
// from the driver's filter (if_delmulti).
func (ifp *Interface) LeaveMulticast(a HWAddr) error {
	ms, ok := ifp.drv.(MulticastSetter)
	if !ok {
		return ErrNotSupported
	}
	ifp.mu.Lock()
	defer ifp.mu.Unlock()
	for i, m := range ifp.multi {
		if m != a {
			continue
		}
		if ifp.multiRefs[i] > 1 {
			ifp.multiRefs[i]--
			return nil
		}
		next := append(append([]HWAddr(nil), ifp.multi[:i]...), ifp.multi[i+1:]...)
		if err := ms.SetMulticast(next); err != nil {
			return err
		}
		ifp.multi = next
		ifp.multiRefs = append(append([]int(nil), ifp.multiRefs[:i]...), ifp.multiRefs[i+1:]...)
		return nil
	}
	return ErrNotJoined
}

// MulticastRefs returns how many times group a is joined (0: not).
func (ifp *Interface) MulticastRefs(a HWAddr) int {
	ifp.mu.Lock()
	defer ifp.mu.Unlock()
	for i, m := range ifp.multi {
		if m == a {
			return ifp.multiRefs[i]
		}
	}
	return 0
}

// Multicast returns the multicast filter list.
func (ifp *Interface) Multicast() []HWAddr {
	ifp.mu.Lock()
	defer ifp.mu.Unlock()
	return append([]HWAddr(nil), ifp.multi...)
}

// InputFunc returns the installed receive function, nil if none (a test
// that taps the interface chains to it and restores it).
func (ifp *Interface) InputFunc() InputFunc {
	if fn := ifp.input.Load(); fn != nil {
		return *fn
	}
	return nil
}

// SetInput installs the stack's receive function (nil detaches the stack).
func (ifp *Interface) SetInput(fn InputFunc) {
	if fn == nil {
		ifp.input.Store(nil)
		return
	}
	ifp.input.Store(&fn)
}

// OnLinkState adds a link-state listener.
func (ifp *Interface) OnLinkState(fn LinkFunc) {
	ifp.mu.Lock()
	ifp.listeners = append(ifp.listeners, fn)
	ifp.mu.Unlock()
}

// SetLinkState records a carrier change reported by the driver and, if it
// changed, calls the listeners in the caller's goroutine.
func (ifp *Interface) SetLinkState(s LinkState) {
	if LinkState(ifp.link.Swap(int32(s))) == s {
		return
	}
	ifp.mu.Lock()
	ls := append([]LinkFunc(nil), ifp.listeners...)
	ifp.mu.Unlock()
	for _, fn := range ls {
		fn(ifp, s)
	}
}

// TxQueue returns the transmit queue for packet m: its flow id modulo
// the queue count when it has one, else the frame's FlowHash modulo the
// count. Every frame of a flow takes the same queue, so a device with
// several transmit queues never reorders a flow (choosing by the sending
// CPU would: a connection's segments are sent from the application's
// goroutine, the receive interrupt thread's ACK processing and timers,
// on whichever CPUs they run). Frames FlowHash does not cover (ARP) take
// queue 0.
func (ifp *Interface) TxQueue(m *mbuf.Mbuf) int {
	if len(ifp.tx) == 1 {
		return 0
	}
	if m.Pkt.HashType != mbuf.M_HASHTYPE_NONE {
		return int(m.Pkt.FlowID % uint32(len(ifp.tx)))
	}
	h, ok := FlowHash(m)
	if !ok {
		return 0
	}
	return int(h % uint32(len(ifp.tx)))
}

// FlowHash hashes an Ethernet frame's IPv4 flow: source and destination
// addresses and protocol, and for TCP and UDP the ports (not for IP
// fragments, whose later pieces carry no ports: every fragment of a
// datagram hashes alike). ok is false for anything else (ARP, IPv6, a
// runt). FNV-1a over the fields, then a finaliser.
func FlowHash(m *mbuf.Mbuf) (h uint32, ok bool) {
	var b [14 + 60 + 4]byte
	n := m.CopyOut(0, b[:])
	if n < 14+20 || b[12] != 0x08 || b[13] != 0x00 || b[14]>>4 != 4 {
		return 0, false
	}
	ip := b[14:n]
	ihl := int(b[14]&0xf) * 4
	if ihl < 20 {
		return 0, false
	}
	h = 2166136261
	mix := func(p []byte) {
		for _, c := range p {
			h ^= uint32(c)
			h *= 16777619
		}
	}
	mix(ip[12:20])                                       // addresses
	mix(ip[9:10])                                        // protocol
	frag := (uint16(ip[6])<<8|uint16(ip[7]))&0x3fff != 0 // MF or an offset
	if (ip[9] == 6 || ip[9] == 17) && !frag && len(ip) >= ihl+4 {
		mix(ip[ihl : ihl+4]) // ports
	}
	// MurmurHash3's finaliser: FNV-1a's low bits follow the last byte's
	// (a port's parity would pick between two queues only).
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h, true
}

// Transmit hands frame m to the driver. It always consumes m: on error
// (ErrQueueFull, ErrDown, a driver error) the packet has been freed and
// counted as a drop or an error on its queue. It never blocks.
func (ifp *Interface) Transmit(m *mbuf.Mbuf) error {
	q := ifp.TxQueue(m)
	c := &ifp.tx[q]
	if ifp.detached.Load() || !ifp.Up() {
		c.drops.Add(1)
		m.FreeChain()
		if ifp.detached.Load() {
			return ErrDetached
		}
		return ErrDown
	}
	if ifp.giant != nil {
		return ifp.giant.enqueue(q, m)
	}
	return ifp.transmit(q, m)
}

// transmit calls the driver and counts the outcome.
func (ifp *Interface) transmit(q int, m *mbuf.Mbuf) error {
	c := &ifp.tx[q]
	n := m.PktLen()
	segs := TSOSegments(m)
	if err := ifp.drv.Transmit(q, m); err != nil {
		if err == ErrQueueFull {
			c.drops.Add(1)
		} else {
			c.errors.Add(1)
		}
		m.FreeChain()
		return err
	}
	c.count(n)
	if segs > 0 {
		ifp.tsoPackets.Add(1)
		ifp.tsoSegments.Add(uint64(segs))
	}
	return nil
}

// TSOSegments returns how many segments CSUM_TSO frame m (Ethernet,
// IPv4, TCP headers first) makes on the wire: its TCP payload divided by
// TSOSegSz, rounded up; 0 for a frame without CSUM_TSO or unreadable
// headers.
func TSOSegments(m *mbuf.Mbuf) int {
	if m.Pkt.Csum&mbuf.CSUM_TSO == 0 || m.Pkt.TSOSegSz == 0 {
		return 0
	}
	var b [14 + 60 + 13]byte
	n := m.CopyOut(0, b[:])
	if n < 14+20 {
		return 0
	}
	ihl := int(b[14]&0xf) * 4
	if n < 14+ihl+13 {
		return 0
	}
	thl := int(b[14+ihl+12]>>4) * 4
	pay := m.PktLen() - 14 - ihl - thl
	if pay <= 0 {
		return 0
	}
	mss := int(m.Pkt.TSOSegSz)
	return (pay + mss - 1) / mss
}

// Input passes a received frame from receive queue q to the stack, in the
// caller's context. The stack takes ownership of m. Frames arriving while
// the interface is down or before a stack is attached are counted and
// freed.
func (ifp *Interface) Input(q int, m *mbuf.Mbuf) {
	if q < 0 || q >= len(ifp.rx) {
		q = 0
	}
	c := &ifp.rx[q]
	c.count(m.PktLen())
	fn := ifp.input.Load()
	if fn == nil || !ifp.Up() || ifp.detached.Load() {
		ifp.noInput.Add(1)
		c.drops.Add(1)
		m.FreeChain()
		return
	}
	m.Pkt.RcvIf = ifp.index
	m.Pkt.RxQueue = q
	(*fn)(ifp, m)
}

// RxCount names a receive-side counter a driver bumps itself.
type RxCount int

const (
	// RxDrop: a frame lost for want of resources (no buffer, ring
	// overrun).
	RxDrop RxCount = iota
	// RxError: a bad frame from the device (CRC, length, descriptor
	// error).
	RxError
)

// CountRx adds n to a receive queue's drop or error counter.
func (ifp *Interface) CountRx(q int, what RxCount, n uint64) {
	c := queueAt(ifp.rx, q)
	if what == RxDrop {
		c.drops.Add(n)
	} else {
		c.errors.Add(n)
	}
}

// CountTxError adds n to a transmit queue's error counter (completion
// errors the device reports after Transmit accepted the packet).
func (ifp *Interface) CountTxError(q int, n uint64) {
	queueAt(ifp.tx, q).errors.Add(n)
}

// Stats returns the interface's counters.
func (ifp *Interface) Stats() Stats {
	s := Stats{NoInput: ifp.noInput.Load()}
	s.Rx, s.RxSum = snapshot(ifp.rx)
	s.Tx, s.TxSum = snapshot(ifp.tx)
	if ifp.giant != nil {
		s.GiantQueueLen, s.GiantTxPackets = ifp.giant.stats()
	}
	s.TSOPackets, s.TSOSegments = ifp.tsoPackets.Load(), ifp.tsoSegments.Load()
	return s
}
