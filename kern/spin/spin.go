// Package spin is the kernel's raw spin lock: a test-and-test-and-set word
// with bounded exponential back-off. It is the primitive beneath every other
// lock. It neither disables interrupts nor pins the goroutine: callers in trap
// context already run with interrupts off (IF=0, the kernel is entered
// through interrupt gates and SYSCALL with IA32_FMASK.IF), and goroutine
// context must use the lock package's spin mutex, which adds both.
//
// It is usable before the Go runtime starts and in trap context: no
// allocation, no write barriers, no calls into the runtime.
package spin

import "sync/atomic"

// Every function is nosplit: a holder that is goroutine code (vm's page
// allocators, with interrupts off) must not grow its stack or be
// preempted by a morestack prologue while it holds or releases the lock.
//
// Lock is a raw spin lock. The zero value is unlocked.
//
// Word layout: 0 = free; otherwise 1 + the owner's CPU id, so a panic report
// can name the holder.
type Lock struct {
	word atomic.Uint32
	// Spins counts contended acquisitions (a) for statistics.
	Spins atomic.Uint64
}

// Acquire takes l for CPU cpu, spinning with back-off while it is held.
//
//go:nosplit
func (l *Lock) Acquire(cpu int) {
	if l.word.CompareAndSwap(0, uint32(cpu)+1) {
		return
	}
	l.acquireSlow(cpu)
}

// OnSpin, if set, is called on every round of a contended spin: the kernel
// services TLB shootdown requests there, so a CPU spinning with interrupts
// off still acknowledges them (set once at boot, before any contention).
var OnSpin func()

// acquireSlow spins reading (not writing) the word, backing off up to 1024
// PAUSEs between probes: with 8 vCPUs on 2 host cores the holder is often
// descheduled by the host, and hammering the line only slows it down.
//
//go:nosplit
func (l *Lock) acquireSlow(cpu int) {
	l.Spins.Add(1)
	backoff := 1
	for {
		for i := 0; i < backoff; i++ {
			pause()
		}
		if OnSpin != nil {
			OnSpin()
		}
		if l.word.Load() == 0 && l.word.CompareAndSwap(0, uint32(cpu)+1) {
			return
		}
		if backoff < 1024 {
			backoff <<= 1
		}
	}
}

// TryAcquire takes l if it is free.
//
//go:nosplit
func (l *Lock) TryAcquire(cpu int) bool {
	return l.word.CompareAndSwap(0, uint32(cpu)+1)
}

// Release frees l.
//
//go:nosplit
func (l *Lock) Release() {
	l.word.Store(0)
}

// Owner returns the holder's CPU id, or -1 if free.
//
//go:nosplit
func (l *Lock) Owner() int {
	return int(l.word.Load()) - 1
}

// pause is the spin-loop hint (spin_amd64.s).
func pause()
