package vm

import (
	"sync/atomic"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/kern/spin"
)

// The runtime's address space: reservations made through mmap, backed on
// demand. lock serialises Space and page-table changes across CPUs.
var (
	lock  spin.Lock
	space Space // guarded by lock

	// Faults counts demand-zero pages mapped.
	Faults uint64 // guarded by lock

	// OrderReversals counts acquisitions of the space lock by a CPU
	// holding a domain lock (each one is fatal) (a).
	OrderReversals atomic.Uint64
)

// lockSpace takes the address-space lock, first checking the lock order
// (space before domain, phys.go): a CPU that already holds it, or holds a
// page allocator's domain lock, would spin forever, so it gets a kernel
// panic naming the reversal instead. Callers run with interrupts off.
//
//go:nosplit
func lockSpace() {
	me := cpuID()
	if lock.Owner() == me {
		fatal("vm: address-space lock recursed on this CPU (a page fault inside its section)")
	}
	if DomainLocked() {
		OrderReversals.Add(1)
		fatal("vm: lock order reversal: address-space lock wanted while this CPU holds a page allocator domain lock (a fault or stack growth inside the domain's section)")
	}
	lock.Acquire(me)
}

// Reserve implements mmap's address choice (see Space.Reserve).
func Reserve(hint, length uintptr, fixed bool) (uintptr, error) {
	lockSpace()
	defer lock.Release()
	a, err := space.Reserve(hint, length, fixed)
	if err == nil && fixed {
		// MAP_FIXED over existing pages: they must read back as zero.
		unmapRange(a, a+pageUp(length))
	}
	return a, err
}

// Release implements munmap: the pages are freed and the range is no longer
// reserved, so a later touch faults.
func Release(a, length uintptr) error {
	if a%PageSize != 0 || !inSpace(a, pageUp(length)) {
		return ErrBadRange
	}
	lockSpace()
	defer lock.Release()
	unmapRange(a, a+pageUp(length))
	return space.Release(a, length)
}

// Discard implements madvise(MADV_DONTNEED/MADV_FREE): the pages are freed
// but stay reserved, so they read back as zero (the Go runtime relies on it).
func Discard(a, length uintptr) int {
	if a%PageSize != 0 || !inSpace(a, pageUp(length)) {
		return 0
	}
	lockSpace()
	defer lock.Release()
	return unmapRange(a, a+pageUp(length))
}

// Fault handles a page fault at va: a reserved, not yet backed page gets a
// zeroed frame. It reports false if va is not reserved (a real fault) or
// memory is exhausted.
func Fault(va uintptr) bool {
	lockSpace()
	defer lock.Release()
	return faultLocked(va)
}

func faultLocked(va uintptr) bool {
	if !space.Contains(va) {
		return false
	}
	va &^= PageSize - 1
	if _, ok := Lookup(va); ok {
		return true // another CPU mapped it first
	}
	pa, ok := allocPage(UseRuntime)
	if !ok {
		return false
	}
	amd64.ZeroPage(pa)
	if !Map4K(va, pa, PTE_RW|PTE_NX) {
		freePage(pa, UseRuntime)
		return false
	}
	Faults++
	return true
}

// Ensure backs every page of [a, a+n) that is reserved, so kernel code can
// touch user buffers without faulting. It reports false if a page is
// neither mapped nor reserved.
func Ensure(a, n uintptr) bool {
	if n == 0 {
		return true
	}
	lockSpace()
	defer lock.Release()
	for va := a &^ (PageSize - 1); va < a+n; va += PageSize {
		if _, ok := Lookup(va); ok {
			continue
		}
		if !faultLocked(va) {
			return false
		}
	}
	return true
}

// Reserved returns the bytes reserved and the number of ranges. It is
// called from goroutine context (the shell), so it takes the lock with
// interrupts off, as every holder of this raw spin lock must: a tick taken
// while holding it could switch to a thread whose system call or page
// fault then spins on it forever (it did, on one CPU, in Kern/ShellCommands).
func Reserved() (uintptr, int) {
	gEnter() // glock.go
	defer gExit()
	return reservedLocked()
}

// reservedLocked is Reserved's locked section: nosplit (phys.go).
//
//go:nosplit
func reservedLocked() (uintptr, int) {
	f := lockPmap()
	b, n := space.Bytes(), space.Len()
	unlockPmap(f)
	return b, n
}
