// Package netisr dispatches received packets to protocol handlers, after
// FreeBSD's sys/net/netisr.c (Watson, "netisr2"): protocols register a
// handler, a dispatch mode and a CPU-affinity policy; packets are either
// processed at once in the caller's context (direct dispatch, the
// default: the driver's interrupt thread runs the stack) or queued to one
// of a set of per-CPU worker threads.
//
// Work placement (policy) decides which worker a queued packet goes to:
//
//   - PolicyFlow: by the packet's flow id (mbuf PktHdr.FlowID, set by the
//     NIC's RSS hash or the driver); packets without one fall back to
//     PolicySource.
//   - PolicySource: by the source, the receiving interface and queue.
//   - PolicyCPU: the worker of the CPU that dispatches.
//
// Every policy maps one flow to one worker and each worker's queues are
// FIFO, so packets of a flow are handled in arrival order whatever the
// mode. Queues are bounded per worker and protocol; a full queue drops
// the packet and counts it.
//
// Workers are goroutines; the kernel binds each to its CPU through the
// Config.Bind hook (LockOSThread and kern.PinToCPU), host tests leave them
// free.
package netisr

import (
	"errors"
	"github.com/smpgo/smpgo/net/nlock"
	"sync"
	"sync/atomic"

	"github.com/smpgo/smpgo/net/mbuf"
)

// Policy is a work-placement policy (NETISR_POLICY_*).
type Policy int

const (
	PolicyFlow Policy = iota
	PolicySource
	PolicyCPU
)

// Mode is a dispatch mode (NETISR_DISPATCH_*).
type Mode int

const (
	// Direct processes the packet in the dispatching context.
	Direct Mode = iota
	// Queued hands it to a worker.
	Queued
)

// Handler processes one packet; it owns m.
type Handler func(m *mbuf.Mbuf)

// Proto describes a protocol to register.
type Proto struct {
	Name       string
	Handler    Handler
	Policy     Policy
	Mode       Mode
	QueueLimit int // per worker (default 256)
}

// Config describes the worker set.
type Config struct {
	Workers int // number of workers (default 1), normally one per CPU
	// CPU returns the dispatching CPU (PolicyCPU); nil means worker 0.
	CPU func() int
	// Bind, when set, runs first in worker i's goroutine (the kernel pins
	// it to CPU i there).
	Bind func(i int)
}

// ErrFull reports a dropped packet.
var ErrFull = errors.New("netisr: queue full")

// Stats counts one protocol's packets.
type Stats struct {
	Direct, Queued, Handled, Drops uint64
}

type proto struct {
	Proto
	direct, queued, handled, drops atomic.Uint64
}

type worker struct {
	mu     nlock.Mutex
	queues []mbuf.Queue // (mu) one per protocol
	closed bool         // (mu) the worker drained its queues and exited
	wake   chan struct{}
}

// Netisr is a set of workers and registered protocols.
type Netisr struct {
	cfg     Config
	mu      nlock.Mutex
	protos  atomic.Pointer[[]*proto] // copy on write under mu
	workers []*worker
	stop    chan struct{}
	wg      sync.WaitGroup
}

// New starts the workers.
func New(cfg Config) *Netisr {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	n := &Netisr{cfg: cfg, stop: make(chan struct{})}
	n.mu.Init("netisr")
	empty := []*proto{}
	n.protos.Store(&empty)
	for i := 0; i < cfg.Workers; i++ {
		w := &worker{wake: make(chan struct{}, 1)}
		w.mu.Init("netisr queue")
		n.workers = append(n.workers, w)
		n.wg.Add(1)
		go n.run(i, w)
	}
	return n
}

// Register adds a protocol and returns its id for Dispatch.
func (n *Netisr) Register(p Proto) int {
	if p.QueueLimit <= 0 {
		p.QueueLimit = 256
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	old := *n.protos.Load()
	id := len(old)
	np := append(append([]*proto(nil), old...), &proto{Proto: p})
	for _, w := range n.workers {
		w.mu.Lock()
		w.queues = append(w.queues, mbuf.Queue{Limit: p.QueueLimit})
		w.mu.Unlock()
	}
	n.protos.Store(&np)
	return id
}

// SetMode changes a protocol's dispatch mode (a boot or sysctl setting).
func (n *Netisr) SetMode(id int, m Mode) {
	n.mu.Lock()
	defer n.mu.Unlock()
	(*n.protos.Load())[id].Mode = m
}

// Workers returns the number of workers.
func (n *Netisr) Workers() int { return len(n.workers) }

// WorkerFor returns the worker a packet would be queued to.
func (n *Netisr) WorkerFor(id int, m *mbuf.Mbuf) int {
	p := (*n.protos.Load())[id]
	nw := uint32(len(n.workers))
	switch p.Policy {
	case PolicyCPU:
		if n.cfg.CPU != nil {
			return n.cfg.CPU() % int(nw)
		}
		return 0
	case PolicyFlow:
		if m.Pkt.HashType != mbuf.M_HASHTYPE_NONE {
			return int(m.Pkt.FlowID % nw)
		}
	}
	return int(uint32(m.Pkt.RcvIf*31+m.Pkt.RxQueue) % nw)
}

// Dispatch processes or queues m for protocol id. It always consumes m;
// it returns ErrFull when a full queue dropped it.
func (n *Netisr) Dispatch(id int, m *mbuf.Mbuf) error {
	p := (*n.protos.Load())[id]
	if p.Mode == Direct {
		p.direct.Add(1)
		p.handled.Add(1)
		p.Handler(m)
		return nil
	}
	w := n.workers[n.WorkerFor(id, m)]
	w.mu.Lock()
	// After Close nobody drains the queue: a late packet (a driver or
	// link still delivering) is dropped, not left there forever.
	ok := !w.closed && w.queues[id].Enqueue(m)
	w.mu.Unlock()
	if !ok {
		p.drops.Add(1)
		m.FreeChain()
		return ErrFull
	}
	p.queued.Add(1)
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// run is worker i: drain every protocol's queue, round robin, in FIFO
// order within each.
func (n *Netisr) run(i int, w *worker) {
	defer n.wg.Done()
	if n.cfg.Bind != nil {
		n.cfg.Bind(i)
	}
	for {
		select {
		case <-n.stop:
			w.mu.Lock()
			w.closed = true
			for q := range w.queues {
				w.queues[q].Drain()
			}
			w.mu.Unlock()
			return
		case <-w.wake:
		}
		for {
			protos := *n.protos.Load()
			did := false
			for id, p := range protos {
				w.mu.Lock()
				var m *mbuf.Mbuf
				if id < len(w.queues) {
					m = w.queues[id].Dequeue()
				}
				w.mu.Unlock()
				if m != nil {
					did = true
					p.handled.Add(1)
					p.Handler(m)
				}
			}
			if !did {
				break
			}
		}
	}
}

// Stats returns a protocol's counters.
func (n *Netisr) Stats(id int) Stats {
	p := (*n.protos.Load())[id]
	return Stats{Direct: p.direct.Load(), Queued: p.queued.Load(), Handled: p.handled.Load(), Drops: p.drops.Load()}
}

// QueueLens returns each worker's queue length for protocol id.
func (n *Netisr) QueueLens(id int) []int {
	out := make([]int, len(n.workers))
	for i, w := range n.workers {
		w.mu.Lock()
		out[i] = w.queues[id].Len()
		w.mu.Unlock()
	}
	return out
}

// Close stops the workers and frees queued packets.
func (n *Netisr) Close() {
	close(n.stop)
	n.wg.Wait()
}
