// Package lock is the kernel's public lock types, built on kern's
// primitives (critical sections, interrupt control, raw spin locks, sleep
// queues and turnstiles) and checked by witness, following FreeBSD's SMPng
// locking (mutex(9), sx(9), rwlock(9), condvar(9), sleep(9), refcount(9),
// mtx_pool(9), lock_profiling(9)):
//
//   - SpinMutex: disables interrupts, enters a critical section, then
//     CAS on an owner word, spinning with PAUSE and bounded back-off.
//   - Mutex: a sleep mutex; one CAS on the fast path; adaptive spin while
//     the owner runs on a CPU; otherwise it blocks on a turnstile.
//     Recursion only for mutexes created Recursive. Giant is one.
//   - SX: shared/exclusive, may be held across sleeps (sleep queue).
//   - RW: reader/writer, may not be held across sleeps (turnstile).
//   - Cond and wait channels (Sleep/Wakeup), with DropGiant/PickupGiant
//     around every sleep.
//   - Refcount, PoolMutex, assertions (AssertOwned, AssertNotOwned, ...).
//
// # Ownership
//
// A lock belongs to a goroutine (kern.Owner(), its g address), never to
// the M or CPU it runs on: DESIGN.md §5. A goroutine may block or migrate
// while it holds a Mutex, SX or RW; it may not while it holds a SpinMutex,
// which pins it (critical section) and disables interrupts.
//
// # Lock words
//
// Owner ids are g addresses, so their low three bits are zero and carry
// flags (word.go has the layouts and the pure encode/decode functions the
// host tests check).
//
// # Where the waiting happens
//
// kern owns the queues (kern.Turnstiles, kern.SleepQueues: parked
// goroutines on per-waiter channels; kern never imports lock). A turnstile
// here is a queue on kern.Turnstiles keyed by the lock's address; a sleep
// queue one on kern.SleepQueues. Waiters are queued in priority order
// (FIFO among equals); goroutines have no priority of their own, so all
// wait at priority 0 until kernel-thread priorities exist.
//
// # WITNESS and profiling
//
// Every operation calls witness (CheckOrder before it can block, Lock or
// TryLock after acquiring, Unlock before releasing) unless witness is off
// (boot option witness=off, a runtime switch costing one atomic load) or
// compiled out (-tags nowitness: the calls vanish). Blocking points
// (Cond waits, Sleep, sx/rw/mutex blocking) ask witness whether
// non-sleepable locks are held. Lock profiling (SetProfiling, shell
// "show lockstat") counts per class acquisitions, contentions, spin and
// wait time and hold time; off, it costs one atomic load per operation.
package lock
