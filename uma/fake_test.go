package uma

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// fakeMachine is the host's stand-in for the kernel: CPUs are mutexes (a
// critical section holds its CPU's), and each critical section lands on
// the next CPU in turn, as if the goroutine had migrated between any two.
// Pages are Go byte slices, aligned by over-allocation.
type fakeMachine struct {
	cpus     []sync.Mutex
	ndom     int
	forced   atomic.Int32 // onCPU: every critical section lands here
	forceMu  sync.Mutex
	nest     atomic.Int32 // what criticalNest reports
	mu       sync.Mutex
	pages    map[uintptr][]byte
	budget   int // pages left; <0 unlimited
	allocs   int
	physBase uintptr
}

func newFake(ncpu, ndom int) *fakeMachine {
	f := &fakeMachine{cpus: make([]sync.Mutex, ncpu), ndom: ndom, pages: map[uintptr][]byte{}, budget: -1, physBase: 1 << 44}
	f.forced.Store(-1)
	return f
}

func (f *fakeMachine) ncpu() int             { return len(f.cpus) }
func (f *fakeMachine) ndomains() int         { return f.ndom }
func (f *fakeMachine) cpuDomain(cpu int) int { return cpu * f.ndom / len(f.cpus) }
func (f *fakeMachine) criticalNest() int     { return int(f.nest.Load()) }
func (f *fakeMachine) owner() uint64         { return 1 }

func (f *fakeMachine) enter() int {
	cpu := int(f.forced.Load())
	if cpu < 0 {
		cpu = rand.IntN(len(f.cpus)) // a migration between any two sections
	}
	f.cpus[cpu].Lock()
	return cpu
}

func (f *fakeMachine) exit(cpu int) { f.cpus[cpu].Unlock() }

func (f *fakeMachine) onCPU(cpu int, fn func()) {
	f.forceMu.Lock()
	defer f.forceMu.Unlock()
	f.forced.Store(int32(cpu))
	defer f.forced.Store(-1)
	fn()
}

func (f *fakeMachine) allocPages(d, order int) (uintptr, uintptr, int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 1 << order
	if f.budget >= 0 {
		if f.budget < n {
			return 0, 0, 0, false
		}
		f.budget -= n
	}
	size := uintptr(n) * pageSize
	b := make([]byte, 2*size)
	va := (uintptr(unsafe.Pointer(&b[0])) + size - 1) &^ (size - 1)
	f.pages[va] = b
	f.allocs++
	return va, f.physBase + va, d, true
}

func (f *fakeMachine) freePages(va uintptr, order int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pages[va]; !ok {
		panic("fake: free of pages not allocated")
	}
	delete(f.pages, va)
	if f.budget >= 0 {
		f.budget += 1 << order
	}
}

func (f *fakeMachine) slabsHeld() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pages)
}

// withFake installs a fake machine for one test.
func withFake(t *testing.T, ncpu, ndom int) *fakeMachine {
	f := newFake(ncpu, ndom)
	fake = f
	t.Cleanup(func() {
		fake = nil
		zonesMu.Lock()
		zones = nil
		zonesMu.Unlock()
	})
	return f
}

func uintptrOf[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }
