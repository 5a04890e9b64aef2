package kern

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/kern/spin"
)

// Sleep queues and turnstiles: the queues of parked goroutines beneath the
// lock package (DESIGN.md §4; FreeBSD's subr_sleepqueue.c and
// subr_turnstile.c).
//
// In goroutine context a waiter is a goroutine, not a kernel thread: it
// parks on its own one-slot channel (the Go scheduler then runs other
// goroutines on its M), and a waker hands it a token. A queue is the list of
// Waiters whose key (the address of a lock or of a wait channel) hashes to
// one chain; each chain is guarded by a raw spin lock held inside a
// critical section, so its holder is neither preempted nor migrated.
//
// Two tables with the same mechanics: Turnstiles, for locks with an owner
// (sleep mutexes and rw locks: FreeBSD's turnstiles, which carry the owner
// for priority lending), and SleepQueues, for waits without an owner
// (condition variables, wait channels, sx locks). Keeping them apart means
// a wait channel on a lock's address never meets the lock's waiters.
//
// Protocol: Lock the chain of key, re-check the condition the caller waits
// for, Add a waiter, Unlock, then Park. Because the waiter is queued before
// the chain lock is dropped and a wake-up is a token in a buffered channel,
// a wake-up between Unlock and Park is not lost. Wakers Lock the chain,
// Wake or Broadcast (which dequeue and mark waiters), and Unlock, which
// delivers the tokens after the spin lock and critical section are left: a
// channel send may take runtime locks, which a critical section must not
// wait for.

// Queue numbers within a key: exclusive (writers, mutex waiters, sleepers)
// and shared (readers).
const (
	QExclusive = 0
	QShared    = 1
)

// Waiter is one parked goroutine (FreeBSD's thread on a sleepqueue or
// turnstile). Get one with NewWaiter; it is recycled by Park/ParkTimeout.
type Waiter struct {
	key   uintptr // (chain) what it waits for
	queue int8    // (chain) QExclusive or QShared
	prio  int32   // (chain) higher is served first; FIFO among equals
	owner uint64  // (c) the waiting goroutine (Owner())
	next  *Waiter // (chain)
	woken bool    // (chain) dequeued by a waker; a token is or will be in ch
	bound bool    // (c) the waiter is a bound thread's goroutine (lends priority)
	ch    chan struct{}
}

var waiterPool = sync.Pool{New: func() any { return &Waiter{ch: make(chan struct{}, 1)} }}

// NewWaiter returns a waiter for the calling goroutine with priority prio.
// Call it before taking the chain lock: the pool's slow path (the first
// Get on a P after a collection) takes a sync.Mutex, which may park the
// goroutine, and parking inside the chain lock's critical section is a
// fatal "schedule: holding locks" in the runtime. Inside a critical section
// it allocates a fresh waiter instead (allocation does not park there).
// Give back a waiter that was never queued with FreeWaiter.
func NewWaiter(prio int32) *Waiter {
	var w *Waiter
	if CriticalNest() > 0 {
		w = &Waiter{ch: make(chan struct{}, 1)}
	} else {
		w = waiterPool.Get().(*Waiter)
	}
	w.prio, w.owner, w.woken, w.next = prio, Owner(), false, nil
	w.bound = BoundThread()
	return w
}

// FreeWaiter recycles a waiter that was not queued (the caller found the
// lock free after all). Outside critical sections.
func FreeWaiter(w *Waiter) { waiterPool.Put(w) }

// WaiterPriority is the queue priority (higher is served first) of a
// waiter from the calling goroutine: its thread's effective priority
// turned around for a bound goroutine, PriDefault's for any other.
func WaiterPriority() int32 {
	if t := curThread(); t.boundG != 0 && t.boundG == Owner() {
		return priIdleThread - t.pri()
	}
	return priIdleThread - PriDefault
}

// Owner returns the goroutine that waits.
func (w *Waiter) Owner() uint64 { return w.owner }

// Bound reports whether the waiter is a bound thread's goroutine, which
// lends its priority to the lock's owner (TurnstileBlock).
func (w *Waiter) Bound() bool { return w.bound }

const nChains = 128 // a power of two

// WaitTable is a hash table of wait-queue chains.
type WaitTable struct {
	name   string
	chains [nChains]WaitChain
	// Blocks counts Park calls (a), for statistics.
	Blocks atomic.Uint64
}

// WaitChain is one chain of a WaitTable: the waiters of every key that
// hashes to it, under one raw spin lock.
type WaitChain struct {
	lock spin.Lock
	head *Waiter    // (lock) waiters, each key's waiters in service order
	wake [4]*Waiter // (lock) dequeued by Wake/Broadcast, sent at Unlock
	more []*Waiter  // (lock) overflow of wake
	_    [16]byte
}

// Turnstiles and SleepQueues are the kernel's two wait tables.
var (
	Turnstiles  = &WaitTable{name: "turnstile chain"}
	SleepQueues = &WaitTable{name: "sleepq chain"}
)

// Name returns the table's name.
func (t *WaitTable) Name() string { return t.name }

func chainIndex(key uintptr) uintptr {
	return (key * 0x9E3779B97F4A7C15) >> (64 - 7)
}

// Lock enters a critical section and locks the chain of key. It spins
// with interrupts enabled, so IPIs are taken as interrupts; it must not
// use spin.Lock.Acquire, whose contended loop services rendezvous and
// shootdowns itself (spin.OnSpin): that is for trap context only, where
// no interrupt can run the same service in the middle of it.
func (t *WaitTable) Lock(key uintptr) *WaitChain {
	c := &t.chains[chainIndex(key)]
	CriticalEnter()
	cpu := thisCPU()
	for backoff := 1; !c.lock.TryAcquire(cpu); backoff = min(backoff<<1, 1024) {
		for i := 0; i < backoff; i++ {
			amd64.Pause()
		}
	}
	return c
}

// Add queues w on key's queue q, behind waiters of equal or higher
// priority. The chain is locked.
func (c *WaitChain) Add(key uintptr, q int8, w *Waiter) {
	w.key, w.queue, w.next = key, q, nil
	p := &c.head
	for *p != nil && !((*p).key == key && (*p).queue == q && (*p).prio < w.prio) {
		p = &(*p).next
	}
	w.next = *p
	*p = w
}

// Count returns the number of waiters on key's queue q. The chain is locked.
func (c *WaitChain) Count(key uintptr, q int8) int {
	n := 0
	for w := c.head; w != nil; w = w.next {
		if w.key == key && w.queue == q {
			n++
		}
	}
	return n
}

// Lending reports whether a bound waiter waits on key's queue q (or was
// dequeued by a Wake under this lock, whose release must then give the
// lent priority back: TurnstileDisown). The chain is locked.
func (c *WaitChain) Lending(key uintptr, q int8) bool {
	for w := c.head; w != nil; w = w.next {
		if w.key == key && w.queue == q && w.bound {
			return true
		}
	}
	return false
}

// First returns the waiter Wake would dequeue, or nil. The chain is locked.
func (c *WaitChain) First(key uintptr, q int8) *Waiter {
	for w := c.head; w != nil; w = w.next {
		if w.key == key && w.queue == q {
			return w
		}
	}
	return nil
}

// Wake dequeues the first waiter of key's queue q (highest priority,
// longest waiting) and reports whether there was one. The chain is locked;
// the waiter runs after Unlock.
func (c *WaitChain) Wake(key uintptr, q int8) bool {
	for p := &c.head; *p != nil; p = &(*p).next {
		if w := *p; w.key == key && w.queue == q {
			*p = w.next
			c.dequeued(w)
			return true
		}
	}
	return false
}

// Broadcast dequeues every waiter of key's queue q and returns how many.
func (c *WaitChain) Broadcast(key uintptr, q int8) int {
	n := 0
	for p := &c.head; *p != nil; {
		if w := *p; w.key == key && w.queue == q {
			*p = w.next
			c.dequeued(w)
			n++
			continue
		}
		p = &(*p).next
	}
	return n
}

func (c *WaitChain) dequeued(w *Waiter) {
	w.woken, w.next = true, nil
	for i := range c.wake {
		if c.wake[i] == nil {
			c.wake[i] = w
			return
		}
	}
	c.more = append(c.more, w)
}

// remove takes w off the chain if it is still queued; it reports false if
// a waker dequeued it first.
func (c *WaitChain) remove(w *Waiter) bool {
	if w.woken {
		return false
	}
	for p := &c.head; *p != nil; p = &(*p).next {
		if *p == w {
			*p = w.next
			w.next = nil
			return true
		}
	}
	return false
}

// Unlock unlocks the chain, leaves the critical section and delivers the
// wake-up tokens of the waiters dequeued meanwhile.
func (c *WaitChain) Unlock() {
	var wake [4]*Waiter
	var more []*Waiter
	if c.wake[0] != nil {
		wake, c.wake = c.wake, [4]*Waiter{}
		more, c.more = c.more, nil
	}
	c.lock.Release()
	CriticalExit()
	for _, w := range wake {
		if w == nil {
			break
		}
		w.ch <- struct{}{}
	}
	for _, w := range more {
		w.ch <- struct{}{}
	}
}

// Park waits, outside any critical section and with the chain unlocked,
// until w is woken, then recycles w.
func (t *WaitTable) Park(w *Waiter) {
	t.Blocks.Add(1)
	<-w.ch
	waiterPool.Put(w)
}

// ParkTimeout is Park with a timeout: it reports false if d passed before
// a wake-up (w is then off the queue). key must be the key w was added on.
func (t *WaitTable) ParkTimeout(w *Waiter, d time.Duration) bool {
	t.Blocks.Add(1)
	tm := time.NewTimer(d)
	select {
	case <-w.ch:
		tm.Stop()
		waiterPool.Put(w)
		return true
	case <-tm.C:
	}
	c := t.Lock(w.key)
	removed := c.remove(w)
	c.Unlock()
	if !removed {
		<-w.ch // woken meanwhile: take the token, count it as a wake-up
		waiterPool.Put(w)
		return true
	}
	waiterPool.Put(w)
	return false
}

// Key returns the wait key of a pointer.
func Key(p unsafe.Pointer) uintptr { return uintptr(p) }
