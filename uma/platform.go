package uma

import (
	"runtime"
	"unsafe"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/vm"
)

// The machine under the allocator. In the kernel: critical sections and
// CPU ids from kern, pages from vm (identity-mapped, so an item's address
// is its physical address). Host tests install a fake (fake != nil) with
// Go-allocated "pages" and mutex-protected "CPUs" that a goroutine may
// land on at random, which exercises the re-check after every
// critical-section exit.
type platform interface {
	ncpu() int
	ndomains() int
	cpuDomain(cpu int) int
	enter() int // critical section on the current CPU; returns it
	exit(cpu int)
	// allocPages returns 2^order pages aligned to their size, preferably
	// from domain d: their address, physical address and actual domain.
	allocPages(d, order int) (va, pa uintptr, dom int, ok bool)
	freePages(va uintptr, order int)
	onCPU(cpu int, fn func())
	criticalNest() int
	owner() uint64
}

var fake platform // non-nil in host tests

// enter enters a critical section and returns the CPU and the token
// exit needs (inlined fast path).
func enter() (int, uintptr) {
	if fake != nil {
		return fake.enter(), 0
	}
	return kern.CriticalEnterCPUCall()
}

func exit(cpu int, tok uintptr) {
	if fake != nil {
		fake.exit(cpu)
		return
	}
	kern.CriticalExitCPU(tok)
}

func numCPU() int {
	if fake != nil {
		return fake.ncpu()
	}
	return kern.NumCPU()
}

func numDomains() int {
	if fake != nil {
		return fake.ndomains()
	}
	return vm.NumDomains()
}

func cpuDomain(cpu int) int {
	if fake != nil {
		return fake.cpuDomain(cpu)
	}
	return kern.CPUDomain(cpu)
}

func allocPages(d, order int) (va, pa uintptr, dom int, ok bool) {
	if fake != nil {
		return fake.allocPages(d, order)
	}
	pa, ok = vm.AllocPages(vm.Policy{Kind: vm.Preferred, Domain: d}, order)
	return pa, pa, vm.DomainOf(pa), ok
}

func freePages(va uintptr, order int) {
	if fake != nil {
		fake.freePages(va, order)
		return
	}
	if err := vm.FreePages(va, order); err != nil {
		panic("uma: returning slab pages: " + err.Error())
	}
}

// onCPU runs fn on CPU cpu (bound there), for draining per-CPU caches.
func onCPU(cpu int, fn func()) {
	if fake != nil {
		fake.onCPU(cpu, fn)
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := kern.PinToCPU(cpu); err != nil {
		panic("uma: " + err.Error())
	}
	defer kern.Unpin()
	fn()
}

func criticalNest() int {
	if fake != nil {
		return fake.criticalNest()
	}
	return kern.CriticalNest()
}

func owner() uint64 {
	if fake != nil {
		return fake.owner()
	}
	return kern.Owner()
}

// ptr converts an item address (memory outside the Go heap) to a pointer.
// Reinterpreting the uintptr's storage keeps go vet's unsafeptr check
// meaningful elsewhere; it is sound here because the memory is not
// managed by the garbage collector and never moves.
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

func load64(a uintptr) uint64     { return *(*uint64)(ptr(a)) }
func store64(a uintptr, v uint64) { *(*uint64)(ptr(a)) = v }

// memclr zeroes n bytes at a (n a multiple of 8).
func memclr(a uintptr, n int) {
	clear(unsafe.Slice((*byte)(ptr(a)), n))
}
