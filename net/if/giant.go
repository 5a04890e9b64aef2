package netif

import (
	"sync"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/nlock"
)

// Giant is the lock that non-MPSAFE drivers run under (and the whole
// stack, in the stack's Giant mode): nlock.Giant, which in the kernel is
// lock.Giant. SetGiant replaces it (before any interface is attached).
var Giant = nlock.Giant()

// SetGiant installs the system's Giant lock.
func SetGiant(l sync.Locker) { Giant = l }

// giantTx defers an IFF_NEEDSGIANT driver's transmit to a worker that
// holds Giant, so the stack never takes Giant below its own locks.
type giantTx struct {
	ifp  *Interface // (c)
	wake chan struct{}

	mu      nlock.Mutex
	q       mbuf.Queue // (mu) packets waiting for the worker
	qs      []int      // (mu) each waiting packet's transmit queue, in q's order
	stopped bool       // (mu)
	sent    uint64     // (mu)
}

func newGiantTx(ifp *Interface, limit int) *giantTx {
	if limit <= 0 {
		limit = 512
	}
	g := &giantTx{ifp: ifp, wake: make(chan struct{}, 1)}
	g.mu.Init("ifnet giantq")
	g.q.Limit = limit
	go g.run()
	return g
}

func (g *giantTx) enqueue(q int, m *mbuf.Mbuf) error {
	g.mu.Lock()
	if g.stopped || !g.q.Enqueue(m) {
		g.mu.Unlock()
		g.ifp.tx[q].drops.Add(1)
		m.FreeChain()
		return ErrQueueFull
	}
	g.qs = append(g.qs, q)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return nil
}

// run is the worker: wait for packets, then hand them all to the driver
// under Giant.
func (g *giantTx) run() {
	for range g.wake {
		for {
			g.mu.Lock()
			if g.stopped {
				g.q.Drain()
				g.qs = nil
				g.mu.Unlock()
				return
			}
			m := g.q.Dequeue()
			var q int
			if m != nil {
				q, g.qs = g.qs[0], g.qs[1:]
			}
			g.mu.Unlock()
			if m == nil {
				break
			}
			Giant.Lock()
			err := g.ifp.transmit(q, m)
			Giant.Unlock()
			if err == nil {
				g.mu.Lock()
				g.sent++
				g.mu.Unlock()
			}
		}
	}
}

func (g *giantTx) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *giantTx) stats() (int, uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.q.Len(), g.sent
}
