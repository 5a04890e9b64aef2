// Package memlink is an in-memory Ethernet link: two netif interfaces wired
// back to back, each a netif.Driver whose transmitted frames arrive as
// received frames on the other. Each direction can lose, duplicate,
// reorder and corrupt frames with given probabilities drawn from its own
// seeded generator, so a test that injects faults sees the same decisions
// for the same sequence of frames.
//
// It stands in for a NIC in host tests of the stack and, in the kernel, for
// the Giant-versus-fine-grained benchmarks (DESIGN.md §6: QEMU's NIC
// emulation runs under QEMU's own lock and would hide the difference).
//
// Each direction has a bounded queue (back-pressure: Transmit returns
// netif.ErrQueueFull when it is full) and a delivery goroutine that plays
// the receiving driver's interrupt thread: it calls the peer's
// netif.Interface.Input, so the receiving stack runs there, never inside
// the sender's Transmit.
package memlink

import (
	"math/rand"
	"sync/atomic"
	"time"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/nlock"
)

// Faults are per-frame probabilities (0..1) of damage in one direction.
type Faults struct {
	Seed    int64
	Loss    float64 // frame dropped
	Dup     float64 // frame delivered twice
	Reorder float64 // frame held back and delivered after the next one
	Corrupt float64 // one bit of the frame flipped
}

// Config describes a link.
type Config struct {
	Name     string // interface name prefix (default "ml")
	MTU      int    // default 1500
	QueueLen int    // frames queued per direction (default 512)
	Faults   Faults // applied in both directions (B→A uses Seed+1)
	// Flags are extra interface flags (IFF_NEEDSGIANT to exercise the
	// Giant transmit path).
	Flags netif.Flags
	// Offload gives both interfaces IFCAP_TXCSUM and IFCAP_RXCSUM, and
	// the link does what such a NIC does (csum.go): it completes the
	// checksums the stack left to it on transmit and marks received
	// TCP/UDP checksums it verified.
	Offload bool
	// TSO (with Offload) also gives both interfaces IFCAP_TSO4, and the
	// link cuts CSUM_TSO frames into MTU-sized ones as such a NIC does
	// (tso.go).
	TSO bool
}

// Counters count what a direction did to the frames sent into it.
type Counters struct {
	Sent, Delivered, Lost, Duplicated, Reordered, Corrupted, Full uint64
	// With Config.Offload: transport checksums the link completed on
	// transmit, and received ones it found right or wrong.
	CsumInserted, CsumGood, CsumBad uint64
	// With Config.TSO: CSUM_TSO frames cut, the segments they made, and
	// requests refused as malformed (dropped).
	TSOFrames, TSOSegments, TSOBad uint64
	TSOLargest                     uint64 // most segments one TSO frame made
}

// Link is a pair of interfaces wired back to back.
type Link struct {
	A, B   *netif.Interface
	ab, ba *pipe
}

var linkNum atomic.Uint32

// New creates the link and attaches both interfaces (down; the stack
// brings them up). Their link state is up.
func New(cfg Config) (*Link, error) {
	if cfg.Name == "" {
		cfg.Name = "ml"
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = 512
	}
	n := linkNum.Add(1)
	mac := func(end byte) netif.HWAddr {
		return netif.HWAddr{0x02, 0x00, byte(n >> 16), byte(n >> 8), byte(n), end}
	}
	l := &Link{}
	fb := cfg.Faults
	fb.Seed++
	l.ab = newPipe(cfg.QueueLen, cfg.Faults)
	l.ba = newPipe(cfg.QueueLen, fb)
	var err error
	flags := netif.IFF_BROADCAST | netif.IFF_MULTICAST | cfg.Flags
	var caps netif.Caps
	if cfg.Offload {
		caps = netif.IFCAP_TXCSUM | netif.IFCAP_RXCSUM
		if cfg.TSO {
			caps |= netif.IFCAP_TSO4
		}
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = 1500
	}
	if l.A, err = netif.Attach(netif.Config{Name: cfg.Name, MAC: mac(1), MTU: cfg.MTU, Flags: flags, Caps: caps, Pseudo: true}, l.ab); err != nil {
		return nil, err
	}
	if l.B, err = netif.Attach(netif.Config{Name: cfg.Name, MAC: mac(2), MTU: cfg.MTU, Flags: flags, Caps: caps, Pseudo: true}, l.ba); err != nil {
		l.A.Detach()
		return nil, err
	}
	l.ab.peer, l.ba.peer = l.B, l.A
	l.ab.self, l.ba.self = l.A, l.B
	go l.ab.run()
	go l.ba.run()
	l.A.SetLinkState(netif.LINK_STATE_UP)
	l.B.SetLinkState(netif.LINK_STATE_UP)
	return l, nil
}

// SetFaults changes the damage model of both directions from now on
// (B→A uses f.Seed+1).
func (l *Link) SetFaults(f Faults) {
	l.ab.setFaults(f)
	f.Seed++
	l.ba.setFaults(f)
}

// Counters returns what each direction did so far.
func (l *Link) Counters() (ab, ba Counters) { return l.ab.counters(), l.ba.counters() }

// Close detaches both interfaces and stops delivery; queued frames are
// discarded.
func (l *Link) Close() {
	l.A.SetLinkState(netif.LINK_STATE_DOWN)
	l.B.SetLinkState(netif.LINK_STATE_DOWN)
	l.A.Detach()
	l.B.Detach()
	l.ab.close()
	l.ba.close()
}

// pipe is one direction: the sending interface's driver.
type pipe struct {
	peer   *netif.Interface // (c) after New
	self   *netif.Interface // (c) the sending interface
	ch     chan []byte
	done   chan struct{}
	closed atomic.Bool

	mu  nlock.Mutex // the driver lock, last in the stack's lock order
	f   Faults      // (mu)
	rng *rand.Rand  // (mu)
	c   Counters    // (mu)
}

func newPipe(qlen int, f Faults) *pipe {
	p := &pipe{ch: make(chan []byte, qlen), done: make(chan struct{}), f: f, rng: rand.New(rand.NewSource(f.Seed))}
	p.mu.Init("memlink", nlock.DupOK)
	return p
}

func (p *pipe) setFaults(f Faults) {
	p.mu.Lock()
	p.f = f
	p.rng = rand.New(rand.NewSource(f.Seed))
	p.mu.Unlock()
}

func (p *pipe) counters() Counters {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c
}

func (p *pipe) close() {
	if !p.closed.Swap(true) {
		close(p.done)
	}
}

// Transmit implements netif.Driver: the frame is copied onto the wire and
// the mbuf freed at once, as a NIC frees it on transmit completion.
func (p *pipe) Transmit(_ int, m *mbuf.Mbuf) error {
	if p.closed.Load() {
		return netif.ErrDetached
	}
	if m.Pkt.Csum&mbuf.CSUM_TSO != 0 {
		return p.transmitTSO(m)
	}
	frame := m.Linearize()
	inserted := m.Pkt.Csum&(mbuf.CSUM_TCP|mbuf.CSUM_UDP) != 0
	if inserted {
		insertCsum(frame, int(m.Pkt.CsumData))
	}
	p.mu.Lock() // senders queue under p.mu: transmitTSO counts the room first
	select {
	case p.ch <- frame:
	default:
		p.c.Full++
		p.mu.Unlock()
		return netif.ErrQueueFull
	}
	p.c.Sent++
	if inserted {
		p.c.CsumInserted++
	}
	p.mu.Unlock()
	m.FreeChain()
	return nil
}

// fate decides what happens to one frame.
func (p *pipe) fate(frame []byte) (lose, dup, hold bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := &p.f
	if f.Loss > 0 && p.rng.Float64() < f.Loss {
		p.c.Lost++
		return true, false, false
	}
	if f.Corrupt > 0 && p.rng.Float64() < f.Corrupt && len(frame) > 0 {
		i := p.rng.Intn(len(frame))
		frame[i] ^= 1 << uint(p.rng.Intn(8))
		p.c.Corrupted++
	}
	if f.Dup > 0 && p.rng.Float64() < f.Dup {
		p.c.Duplicated++
		dup = true
	}
	if f.Reorder > 0 && p.rng.Float64() < f.Reorder {
		p.c.Reordered++
		hold = true
	}
	return false, dup, hold
}

// run delivers frames to the peer until close.
func (p *pipe) run() {
	var held []byte
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-timer.C:
			// Nothing followed the held frame: deliver it late.
			if held != nil {
				p.deliver(held)
				held = nil
			}
		case frame := <-p.ch:
			lose, dup, hold := p.fate(frame)
			if lose {
				continue
			}
			if hold && held == nil {
				held = frame
				if dup {
					p.deliver(append([]byte(nil), frame...))
				}
				timer.Reset(2 * time.Millisecond)
				continue
			}
			p.deliver(frame)
			if dup {
				p.deliver(frame)
			}
			if held != nil {
				timer.Stop()
				p.deliver(held)
				held = nil
			}
		}
	}
}

// deliver copies frame into a fresh packet for the peer. Delivered counts
// it once the peer's input has returned: a stack that answers in its
// input path (direct dispatch) has then sent its answer, so Sent ==
// Delivered+Lost in both directions means the link is really quiet
// (counted before, a test saw "quiet" between a keepalive probe's
// delivery and the answer, and fired the next probes unanswered).
func (p *pipe) deliver(frame []byte) {
	m := mbuf.FromBytes(frame, 0)
	if m == nil {
		p.peer.CountRx(0, netif.RxDrop, 1)
		return
	}
	var f mbuf.CsumFlags
	if p.peer.CapEnable()&netif.IFCAP_RXCSUM != 0 {
		f = verifyCsum(frame)
		m.Pkt.Csum |= f
	}
	p.peer.Input(0, m)
	p.mu.Lock()
	if f&mbuf.CSUM_L4_CALC != 0 {
		if f&mbuf.CSUM_L4_VALID != 0 {
			p.c.CsumGood++
		} else {
			p.c.CsumBad++
		}
	}
	p.c.Delivered++
	p.mu.Unlock()
}

// transmitTSO cuts a CSUM_TSO frame into wire frames (segmentTSO), all
// queued or none.
func (p *pipe) transmitTSO(m *mbuf.Mbuf) error {
	segs, err := segmentTSO(m.Linearize(), int(m.Pkt.TSOSegSz), p.self.MTU())
	p.mu.Lock()
	if err != nil || p.self.CapEnable()&netif.IFCAP_TSO4 == 0 {
		p.c.TSOBad++
		p.mu.Unlock()
		return errTSO
	}
	if cap(p.ch)-len(p.ch) < len(segs) {
		p.c.Full++
		p.mu.Unlock()
		return netif.ErrQueueFull
	}
	for _, s := range segs {
		p.ch <- s // room checked under p.mu, which every sender holds
	}
	p.c.Sent += uint64(len(segs))
	p.c.TSOFrames++
	p.c.TSOSegments += uint64(len(segs))
	p.c.TSOLargest = max(p.c.TSOLargest, uint64(len(segs)))
	p.mu.Unlock()
	m.FreeChain()
	return nil
}
