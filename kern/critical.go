package kern

import (
	"sync/atomic"

	"github.com/smpgo/smpgo/arch/amd64"
)

// Critical sections and interrupt control for goroutine context (the
// primitives beneath the lock package).
//
// CriticalEnter pins the goroutine to its P and thread (runtime.procPin:
// no Go preemption or migration), then raises the thread's critical
// nesting count, which makes the kernel tick defer preemption of the
// thread: the goroutine stays on its CPU, so per-CPU data is stable.
// Interrupts stay enabled; a deferred preemption happens at the outermost
// CriticalExit.

// Owner returns an identifier of the calling goroutine (its g address):
// lock ownership and WITNESS state belong to the goroutine, not to the
// thread or CPU it runs on. It inlines to one instruction: the image
// builder (boot/image, owner.go) rewrites each load of ownerG below into a
// move from R14, where Go code keeps the running g, so a lock's fast path
// makes no call for it. Only in a kernel image: in a host process (host
// tests) it returns 0; use OwnerAnywhere there.
func Owner() uint64 { return atomic.LoadUint64(&ownerG) }

// ownerG is never written: every load of it in the image reads R14
// instead (boot/image). An image built without the rewrite would read 0
// here; Boot refuses to run it (ownerSites).
var ownerG uint64

// ownerSites is how many loads of ownerG the image builder rewrote; it
// leaves the marker ownerSitesUnset if it did not run (boot/image's
// OwnerSitesUnset).
var ownerSites uint64 = ownerSitesUnset

const ownerSitesUnset = 0x4f574e4552554e53

// OwnerSites returns how many inlined Owner calls the image builder
// rewrote (for the self-test and the shell).
func OwnerSites() uint64 { return ownerSites }

// ownerTLS returns the calling goroutine's g from TLS (-8(FS)), the
// assembly reading Owner is checked against.
func ownerTLS() uint64

// OwnerAnywhere is Owner for code that also runs in host processes (host
// tests of packages that use kern's owner ids): there the image rewrite
// does not apply and Owner returns 0. It costs a call.
func OwnerAnywhere() uint64 { return ownerTLS() }

// CriticalEnter enters a critical section; sections nest.
func CriticalEnter() {
	procPin()
	curThread().critNest++
}

// CriticalExit leaves a critical section.
func CriticalExit() {
	t := curThread()
	if t.critNest == 1 && t.critBlockWhy != 0 && OnCriticalBlock != nil {
		OnCriticalBlock(TakeBlockedInCritical())
	}
	t.critNest--
	if t.critNest == 0 && t.preemptPending != 0 {
		t.preemptPending = 0
		procUnpin()
		// The tick wanted to switch threads while we were critical.
		rawSyscall(sysSmpgoDebug, opPreempt, 0)
		return
	}
	procUnpin()
}

// CriticalEnterQuiet enters a critical section for lock-checking
// bookkeeping (witness's internal locks): a block in a system call inside
// it (the Go runtime waiting for one of its own locks while the
// bookkeeping allocates) is counted (QuietCriticalBlocks) but not
// recorded as the goroutine blocking inside a critical section, since the
// code being checked did not block there. A block recorded before, in an
// enclosing section, stays recorded. Leave with CriticalExitQuiet.
func CriticalEnterQuiet() {
	procPin()
	t := curThread()
	t.critNest++
	t.critQuiet++
}

// CriticalExitQuiet leaves a section entered with CriticalEnterQuiet.
func CriticalExitQuiet() {
	curThread().critQuiet--
	CriticalExit()
}

// CriticalEnterCPU is CriticalEnter for per-CPU data fast paths (UMA
// buckets): it returns the index of the CPU the goroutine now stays on,
// and a token for CriticalExitCPU. It inlines into the caller and makes
// no call: under TCG every call and return is an indirect jump, and the
// plain pair (procPin, an assembly call for the thread) cost four. The
// goroutine's g is R14 (Owner), its M is g.m; runtime.procPin is the
// increment of m.locks written out, and the thread is found from the M's
// thread id (m.procid, which the runtime took from gettid) by the slot
// congruence of thread ids (nextTidLocked). The offsets are the Go
// runtime's (see rtlayout.go: checked by a host test and at boot).
//
// Between the load of g.m and the increment of its m.locks the goroutine
// must not be preempted asynchronously (SIGURG): it could resume on
// another M and raise the old M's count, which that M's new goroutine
// then races on, and lower its own at exit. The runtime is safe because
// it is never preempted asynchronously; other code is safe only where
// the compiler marks no safe points: a //go:nosplit function. So the
// inlined form may only be used from //go:nosplit functions (the uma
// fast paths; TestCriticalEnterCPUCallers enforces it), and everything
// else calls CriticalEnterCPUCall.
//
//go:nosplit
func CriticalEnterCPU() (cpu int, tok uintptr) {
	m := curM()
	*(*int32)(rtPtr(m + mLocks))++ // runtime.procPin: no Go preemption, no move to another M
	t := &threads[tidSlot(*(*uint64)(rtPtr(m + mProcid)))]
	// The nesting is raised first: the tick can no longer move the thread,
	// so the CPU it runs on, read after it, stays true.
	t.critNest++
	return int(t.cpu), t.addr() // the token: the thread's address
}

// CriticalEnterCPUCall is CriticalEnterCPU for callers that are not
// //go:nosplit: the same section, entered in a function of its own where
// no asynchronous preemption can split the load of g.m from the increment
// of its m.locks.
//
//go:nosplit
//go:noinline
func CriticalEnterCPUCall() (cpu int, tok uintptr) { return CriticalEnterCPU() }

// CriticalExitCPU leaves a section entered with CriticalEnterCPU.
func CriticalExitCPU(tok uintptr) {
	if !CriticalExitCPUFast(tok) {
		CriticalExitCPUPreempt(tok)
	}
}

// CriticalExitCPUFast is the inlinable part of CriticalExitCPU, for fast
// paths that must make no call: it leaves the section and returns true,
// unless this was the outermost section and the tick deferred a
// preemption during it. Then it returns false with the goroutine still
// pinned, and the caller must call CriticalExitCPUPreempt(tok).
func CriticalExitCPUFast(tok uintptr) bool {
	t := (*Thread)(rtPtr(tok))
	if t.critNest--; t.critNest != 0 || t.preemptPending == 0 {
		*(*int32)(rtPtr(curM() + mLocks))-- // runtime.procUnpin
		return true
	}
	return false
}

// CriticalExitCPUPreempt finishes a CriticalExitCPUFast that returned
// false: it unpins the goroutine and takes the deferred preemption.
func CriticalExitCPUPreempt(tok uintptr) {
	criticalExitPreempt((*Thread)(rtPtr(tok)))
}

// criticalExitPreempt takes the preemption the tick deferred.
func criticalExitPreempt(t *Thread) {
	t.preemptPending = 0
	procUnpin()
	rawSyscall(sysSmpgoDebug, opPreempt, 0)
}

// CriticalNest returns the calling thread's critical-section depth.
//
// nosplit: outside a critical section the goroutine may be preempted
// asynchronously (SIGURG) at any safe point and resume on another M; a
// safe point between finding the running thread and reading its depth
// would read the old thread's, which by then runs another goroutine,
// perhaps inside a section of its own (seen: "acquiring blockable sleep
// lock in a critical section" from goroutines that were in none, once in
// six -smp 4 boots of the lock self-tests). A //go:nosplit function has
// no asynchronous safe points, and curThread is one too; noinline, since
// inlined into an ordinary caller its body would have them again.
//
//go:nosplit
//go:noinline
func CriticalNest() int { return int(curThread().critNest) }

// curThread returns the running thread. CPU.cur is read in one GS-relative
// instruction, so a migration cannot make it another CPU's thread; a
// caller that is not pinned (in a critical section, or with the goroutine
// locked to its thread) must use the result before any safe point of its
// own, and so be //go:nosplit itself (CriticalNest).
//
//go:nosplit
func curThread() *Thread {
	return &threads[threadIndexOf(curThreadAddr())]
}

func curThreadAddr() uintptr

// IntrDisable disables interrupts on this CPU and returns the previous
// RFLAGS for IntrRestore.
func IntrDisable() uint64 {
	f := amd64.Flags()
	amd64.Cli()
	return f
}

// IntrRestore restores the interrupt flag saved by IntrDisable.
func IntrRestore(flags uint64) {
	if flags&amd64.IF != 0 {
		amd64.Sti()
	}
}

// IntrEnabled reports whether interrupts are enabled on this CPU.
func IntrEnabled() bool { return amd64.Flags()&amd64.IF != 0 }
