package vm

import _ "unsafe" // for go:linkname

// Goroutine context and vm's raw spin locks.
//
// The address-space lock and the domains' page-allocator locks are raw
// spin locks taken with interrupts off, in trap context (page faults,
// mmap/munmap) and in goroutine context (drivers' DMA pages, UMA slabs,
// statistics). The order is address space → domain: unmapRange frees
// pages under the address-space lock. A goroutine holding a domain's lock
// must therefore never fault or make a system call — either takes the
// address-space lock and, with another CPU in unmapRange waiting for the
// domain, all CPUs spin (seen: VM/StressAccounting at -smp 4 on a loaded
// host, every CPU in vm.Ensure or vm.free). Two things in Go code can do
// that behind the caller's back:
//
//   - Go preemption at a function prologue: the runtime switches the
//     thread to another goroutine, which runs with the lock held and
//     interrupts off. procPin (m.locks) stops it, as for kern's critical
//     sections.
//   - Stack growth, or the first touch of a fresh stack page: morestack
//     allocates (mmap) and a new page faults. stackReserve grows and
//     touches stackReserveBytes of stack before the lock is taken; the
//     code under the lock uses far less, and a pinned goroutine's stack
//     is not shrunk (the GC shrinks only at a preemption).
//
// Code under the lock also writes only to locals and to vm's own
// (statically mapped) variables, never to fresh heap memory, and is
// nosplit (phys.go, checked by nosplit_test.go), so it cannot grow past
// the reserve; lockSpace turns a reversal that slips through anyway into
// a kernel panic.

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// stackReserveBytes bounds the stack vm's locked sections use (the
// buddy allocator's loops and checks: well under 1 KiB).
const stackReserveBytes = 4096

// stackReserve makes the goroutine's stack hold stackReserveBytes more
// below the caller's frame, backed by touched pages.
//
//go:noinline
func stackReserve() byte {
	var buf [stackReserveBytes]byte
	for i := 0; i < len(buf); i += 256 {
		buf[i] = byte(i)
	}
	return readBack(&buf)
}

//go:noinline
func readBack(b *[stackReserveBytes]byte) byte { return b[0] ^ b[len(b)-256] }

// gEnter prepares a goroutine to take vm's spin locks: pinned, with
// stack to spare. gExit undoes it.
func gEnter() {
	procPin()
	stackReserve()
}

func gExit() { procUnpin() }
