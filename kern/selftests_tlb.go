package kern

import (
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
)

// TLB shootdown self-tests beyond SMP/TLBShootdown (one other CPU): every
// other CPU at once, and shootdowns initiated from all CPUs concurrently.
func init() {
	RegisterTest(Test{Name: "VM/ShootdownSeenByEveryCPU", Fn: testShootdownAll})
	RegisterTest(Test{Name: "VM/ConcurrentShootdowns", Fn: testConcurrentShootdowns})
}

// testShootdownAll: CPUs 1..n-1 keep reading a page (its translation hot
// in their TLBs) while CPU 0 discards it (MADV_DONTNEED, which frees the
// frame); the moment madvise returns CPU 0 raises a flag, and each reader's
// next read must see the zero page. A reader that still saw 0x5a read
// through a stale TLB entry into the freed frame.
func testShootdownAll(t *T) {
	n := NumCPU()
	if n < 2 {
		t.Logf("one CPU: nothing to shoot down")
		return
	}
	const rounds = 20
	stale := 0
	for round := 0; round < rounds; round++ {
		b, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			t.Fatalf("mmap: %v", err)
		}
		addr := uintptr(unsafe.Pointer(&b[0]))
		b[0] = 0x5a
		var ready sync.WaitGroup
		var done atomic.Bool
		var staleHere atomic.Int32
		var wg sync.WaitGroup
		for c := 1; c < n; c++ {
			ready.Add(1)
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				onCPU(t, c, func() {
					if amd64.Load8(addr) != 0x5a {
						t.Errorf("cpu %d: page not written", c)
					}
					ready.Done()
					for !done.Load() {
						amd64.Load8(addr) // keep the translation in use
					}
					if amd64.Load8(addr) != 0 {
						staleHere.Add(1)
					}
				})
			}(c)
		}
		ready.Wait()
		onCPU(t, 0, func() {
			if err := syscall.Madvise(b, 4 /* MADV_DONTNEED */); err != nil {
				t.Errorf("madvise: %v", err)
			}
			done.Store(true)
		})
		wg.Wait()
		stale += int(staleHere.Load())
		syscall.Munmap(b)
	}
	if stale != 0 {
		t.Errorf("%d stale reads over %d rounds on %d CPUs", stale, rounds, n-1)
	}
}

// testConcurrentShootdowns: every CPU maps, fills and unmaps pages in a
// loop, so shootdowns are initiated from all CPUs at once (each waits for
// the others' acknowledgements while answering theirs). Every fresh
// mapping must read zero and keep its own data until unmapped.
func testConcurrentShootdowns(t *T) {
	const iters = 80 // each round trip waits for every vCPU: seconds at -smp 4 on a loaded host
	gen0 := tlbGen.Load()
	var wg sync.WaitGroup
	for c := 0; c < NumCPU(); c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			onCPU(t, c, func() {
				for i := 0; i < iters; i++ {
					b, err := syscall.Mmap(-1, 0, 2*4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
					if err != nil {
						t.Errorf("cpu %d: mmap: %v", c, err)
						return
					}
					if b[0] != 0 || b[4096] != 0 {
						t.Errorf("cpu %d: fresh mapping not zero", c)
					}
					tag := byte(c*31 + i)
					b[0], b[4096] = tag, tag+1
					if b[0] != tag || b[4096] != tag+1 {
						t.Errorf("cpu %d: mapping lost its data", c)
					}
					if err := syscall.Munmap(b); err != nil {
						t.Errorf("cpu %d: munmap: %v", c, err)
						return
					}
				}
			})
		}(c)
	}
	wg.Wait()
	got := tlbGen.Load() - gen0
	if NumCPU() > 1 && got < uint64(NumCPU()*iters) {
		t.Errorf("%d shootdowns for %d unmaps of touched pages", got, NumCPU()*iters)
	}
	t.Logf("%d shootdowns from %d CPUs", got, NumCPU())
}
