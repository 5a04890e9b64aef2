// Package witness is the kernel's lock-order verifier, modelled on FreeBSD's
// WITNESS (sys/kern/subr_witness.c): it learns the order in which lock
// classes are acquired, reports lock order reversals (directly or through
// transitive chains) with the stacks that established the existing order and
// the offending one, and checks the rules around it: recursion on
// non-recursable locks, shared/exclusive mixing on sx and rw locks, unlocking
// locks that are not held or held by someone else, acquiring sleep locks with
// a spin lock held, inside a critical section or in interrupt context,
// blocking with non-sleepable locks held, threads exiting with locks held,
// re-initialising held locks, and interrupt-safe/interrupt-unsafe use of spin
// locks (the one check taken from Linux lockdep rather than FreeBSD).
//
// # Model
//
// Checks are per lock class, as in FreeBSD: a [Class] is created once per
// name ("vm page", "sched lock") with a [Kind] (spin mutex, sleep mutex, sx,
// rw) and [ClassFlags]; each lock embeds an [Object] that names its class.
// Ownership belongs to an owner id, an opaque uint64 that the caller chooses
// (the kernel passes its goroutine/thread identity). Stacks are []uintptr
// program counters captured by the caller with runtime.Callers; witness
// copies them and symbolises them only when it prints, through an injectable
// [Symbolizer] (runtime.CallersFrames by default).
//
// The order graph has an edge A→B when B was acquired while A was the most
// recently acquired lock of the same type still held (spin locks and
// blocking locks are ordered separately; sleep locks always come before spin
// locks, enforced by the critical-section check instead). The graph is
// seeded from [Order], the lock order written once as data like
// subr_witness.c's order_lists, so a declared order is enforced the first
// time it is violated. [Blessed] lists pairs whose reversal is accepted.
//
// # Protocol for the lock package
//
//	CheckOrder(owner, o, flags)        before blocking for the lock
//	Lock(owner, o, flags, stack)       after acquiring it
//	TryLock(owner, o, flags, stack)    after a successful try-acquire
//	Unlock(owner, o, flags)            before releasing it
//	Upgrade/Downgrade(owner, o)        after a successful sx/rw upgrade or downgrade
//	CriticalEnter/CriticalExit(owner)  around critical sections (or the Critical flag)
//	WarnSleep(owner, why)              at every point where the thread may block
//	ThreadExit(owner)                  when the thread or goroutine ends
//
// # Contexts
//
// Witness runs in goroutine context only (kernel threads and ordinary
// goroutines, pinned or not, with or without spin mutexes held). It must never
// be called from primary interrupt, trap or syscall-dispatch context: it
// allocates and takes locks. It never parks the calling goroutine: its
// internal locks are sync.Mutexes taken only with TryLock in a spin loop, so
// it may be called with the goroutine pinned (runtime.procPin) and interrupts
// disabled, which a contended sync.Mutex.Lock would turn into "schedule:
// holding locks". In the kernel, install [Hooks] so that witness's own short
// sections run inside a critical section and spin without calling the Go
// scheduler. Reports are printed and the panic hook is called after witness
// has dropped its internal locks, so the printer may itself take witnessed
// locks.
//
// Building with -tags nowitness replaces the whole API with empty functions
// the compiler inlines away (witness_off.go), as the Go runtime does with
// lockrank_on.go and lockrank_off.go.
package witness
