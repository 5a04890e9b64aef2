package kern

import (
	"fmt"
	"syscall"
	"unsafe"
)

// The Go runtime's g and m as the inlined critical section
// (CriticalEnterCPU) reads them: byte offsets of Go 1.26's linux/amd64
// layout (runtime/runtime2.go). runtime.procPin is
//
//	MOVQ 0x30(R14), CX   // g.m
//	INCL 0x108(CX)       // m.locks++
//
// and m.procid is the thread id the runtime took from gettid in minit.
// checkRuntimeLayout verifies them against the running runtime in every
// process (package init, host tests included; TestRuntimeLayout checks
// them on the host too), so a toolchain whose layout differs stops at
// boot with a message instead of corrupting its Ms.
const (
	gStackLo = 0x0   // g.stack.lo
	gStackHi = 0x8   // g.stack.hi
	gM       = 0x30  // g.m
	mProcid  = 0x40  // m.procid
	mLocks   = 0x108 // m.locks
)

// curM returns the running goroutine's M (g.m), g from R14 (Owner's image
// rewrite: kernel images only).
func curM() uintptr { return *(*uintptr)(rtPtr(uintptr(Owner()) + gM)) }

// StackBounds returns the running goroutine's stack, [lo, hi) (g.stack):
// for code that walks it (witness's frame-pointer stacks, lock/class.go).
// In trap context it is the CPU's kernel-stack g's.
//
//go:nosplit
func StackBounds() (lo, hi uintptr) {
	g := uintptr(ownerTLS())
	return *(*uintptr)(rtPtr(g + gStackLo)), *(*uintptr)(rtPtr(g + gStackHi))
}

// stackProbe returns StackBounds and the address of a variable on the
// caller's stack.
//
//go:noinline
func stackProbe(local *byte) (lo, hi, sp uintptr) {
	lo, hi = StackBounds()
	return lo, hi, uintptr(unsafe.Pointer(local))
}

// rtPtr converts the address of runtime memory (a g or an m: never freed
// while the goroutine or thread runs, never moved) to a pointer. Reading
// the uintptr's storage keeps vet's unsafeptr check meaningful elsewhere.
func rtPtr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

func init() {
	if err := checkRuntimeLayout(); err != nil {
		panic(err)
	}
}

// checkRuntimeLayout checks the offsets on the calling goroutine: g.m
// leads to an M whose procid is the thread's id and whose locks word is
// the one procPin and procUnpin change. In a kernel image it also checks
// that the thread id leads to the running thread's slot, and that
// CriticalEnterCPU agrees with the assembly paths.
func checkRuntimeLayout() error {
	procPin() // stay on this M (and, in the kernel, this thread) meanwhile
	defer procUnpin()
	g := uintptr(ownerTLS())
	if g == 0 {
		return fmt.Errorf("kern: no g in TLS")
	}
	m := *(*uintptr)(rtPtr(g + gM))
	if m == 0 {
		return fmt.Errorf("kern: g.m at offset %#x is nil: the Go runtime's g layout is not the one this kernel was written for (Go 1.26)", gM)
	}
	if tid := uint64(syscall.Gettid()); *(*uint64)(rtPtr(m + mProcid)) != tid {
		return fmt.Errorf("kern: m.procid at offset %#x is %d, gettid %d: the Go runtime's m layout is not the one this kernel was written for (Go 1.26)",
			mProcid, *(*uint64)(rtPtr(m + mProcid)), tid)
	}
	var local byte // on the stack: its address does not escape
	if lo, hi, sp := stackProbe(&local); sp < lo || sp >= hi {
		return fmt.Errorf("kern: g.stack at offset %#x is [%#x, %#x), which does not hold this goroutine's stack (%#x): the Go runtime's g layout is not the one this kernel was written for (Go 1.26)",
			gStackLo, lo, hi, sp)
	}
	locks := (*int32)(rtPtr(m + mLocks))
	before := *locks
	procPin()
	pinned := *locks
	procUnpin()
	if pinned != before+1 || *locks != before {
		return fmt.Errorf("kern: m.locks at offset %#x went %d → %d → %d over procPin/procUnpin: the Go runtime's m layout is not the one this kernel was written for (Go 1.26)",
			mLocks, before, pinned, *locks)
	}
	if ownerSites == ownerSitesUnset {
		return nil // a host process: no kernel threads
	}
	if uintptr(Owner()) != g {
		return fmt.Errorf("kern: Owner() %#x is not the TLS g %#x", Owner(), g)
	}
	me := curThread()
	if got := &threads[tidSlot(*(*uint64)(rtPtr(m + mProcid)))]; got != me {
		return fmt.Errorf("kern: thread id %d leads to slot %d, but the running thread is slot %d",
			me.tid, threadIndex(got), threadIndex(me))
	}
	nest := me.critNest
	cpu, tok := CriticalEnterCPU()
	inside, lk := me.critNest, *locks
	id := curCPU().id
	CriticalExitCPU(tok)
	if inside != nest+1 || lk != before+1 || me.critNest != nest || *locks != before || cpu != int(id) || tok != me.addr() {
		return fmt.Errorf("kern: CriticalEnterCPU: nesting %d → %d → %d, m.locks %d → %d → %d, cpu %d (GS: %d), token %#x (thread %#x)",
			nest, inside, me.critNest, before, lk, *locks, cpu, id, tok, me.addr())
	}
	return nil
}
