package uma

import (
	"errors"
	"io"
	"math/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/vm"
)

// In-kernel self-tests (UMA/...), benchmarks and the shell view. The
// host tests cover the same logic on a fake machine; these run it on the
// kernel's critical sections, CPUs and vm pages.
func init() {
	for _, t := range []kern.Test{
		{Name: "UMA/StormExactAccounting", Fn: testStorm},
		{Name: "UMA/StormOversubscribed", Fn: testStormOversubscribed},
		{Name: "UMA/LimitNowaitWaitok", Fn: testLimit},
		{Name: "UMA/DebugCatchesMisuse", Fn: testDebug},
		{Name: "UMA/TypedZonePhysAddrAndDomain", Fn: testTyped},
		{Name: "UMA/WaitokInCriticalSection", Fn: testCriticalWaitok},
	} {
		kern.RegisterTest(t)
	}
	kern.RegisterShow("uma", "UMA zones: items, caches, slabs, per-CPU and per-domain figures (show uma -v)", func(w io.Writer, args []string) {
		WriteStats(w, len(args) > 0 && args[0] == "-v")
	})
	LowMemory = func() bool { return vm.FreePageCount() < 2048 } // 8 MiB
}

// pinned runs fn on a goroutine bound to cpu and waits for it.
func pinned(t *kern.T, cpu int, fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := kern.PinToCPU(cpu); err != nil {
			t.Errorf("pin to cpu %d: %v", cpu, err)
			return
		}
		defer kern.Unpin()
		fn()
	}()
	<-done
}

func kernelPages() int64 {
	var n int64
	for _, s := range vm.Stats(false) {
		n += s.Kernel
	}
	return n
}

// checkQuiet is the kernel twin of the host tests' checkAccounting.
func checkQuiet(t *kern.T, z *RawZone) Stats {
	s := z.Stats()
	if s.Items != int64(s.InUse)+int64(s.Cached)+s.Quarantined {
		t.Errorf("zone %s: %d items out of the keg, but %d in use + %d cached + %d quarantined", s.Name, s.Items, s.InUse, s.Cached, s.Quarantined)
	}
	if s.Keg.Slabs*s.Keg.ItemsPerSlab != s.Keg.FreeItems+int(s.Items) {
		t.Errorf("zone %s: %d slabs of %d items, but %d free in the keg + %d out", s.Name, s.Keg.Slabs, s.Keg.ItemsPerSlab, s.Keg.FreeItems, s.Items)
	}
	if s.Imports-s.Releases != uint64(s.Items) {
		t.Errorf("zone %s: imports %d - releases %d != items %d", s.Name, s.Imports, s.Releases, s.Items)
	}
	return s
}

// testStorm: every CPU (pinned) and as many unpinned goroutines allocate
// and free at random; afterwards every count matches exactly, and a drain
// gives every page back to vm.
func testStorm(t *kern.T) { storm(t, "selftest-storm") }

// testStormOversubscribed is the storm with GOMAXPROCS at three per CPU:
// more threads run than CPUs, so the tick preempts them and moves the
// unpinned ones between CPUs in and around the fast path's critical
// sections (deferred to the section's exit inside them).
func testStormOversubscribed(t *kern.T) {
	old := runtime.GOMAXPROCS(3 * kern.NumCPU())
	defer runtime.GOMAXPROCS(old)
	storm(t, "selftest-storm-oversub")
}

// storm: pinned and unpinned workers on every CPU allocate and free at
// random from one zone with every item hook; no item is handed to two
// holders or changed under its holder, and every count is exact after.
func storm(t *kern.T, name string) {
	pagesBefore := kernelPages()
	var ctors, dtors, inits, finis atomic.Int64
	z, err := NewZone(name, Args{Size: 72,
		Ctor: func(p uintptr) { ctors.Add(1); store64(p, 0xc0ffee) },
		Dtor: func(p uintptr) { dtors.Add(1) },
		Init: func(p uintptr) { inits.Add(1) },
		Fini: func(p uintptr) { finis.Add(1) },
	})
	if err != nil {
		t.Fatalf("%v", err)
	}
	var owners sync.Map
	var total atomic.Int64
	worker := func(w int) {
		rng := rand.New(rand.NewSource(int64(w)))
		var live []uintptr
		for i := 0; i < 20000; i++ {
			if len(live) < 400 && (rng.Intn(2) == 0 || len(live) == 0) {
				p, err := z.Alloc(M_WAITOK)
				if err != nil {
					t.Errorf("alloc: %v", err)
					return
				}
				if load64(p) != 0xc0ffee {
					t.Errorf("constructor did not run on %#x", p)
				}
				if o, dup := owners.LoadOrStore(p, w); dup {
					t.Errorf("item %#x handed to worker %d while worker %v holds it", p, w, o)
				}
				store64(p+8, uint64(w))
				live = append(live, p)
				total.Add(1)
				continue
			}
			j := rng.Intn(len(live))
			p := live[j]
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
			if load64(p+8) != uint64(w) {
				t.Errorf("item %#x changed under its owner", p)
			}
			owners.Delete(p)
			z.Free(p)
		}
		for _, p := range live {
			owners.Delete(p)
			z.Free(p)
		}
	}
	var wg sync.WaitGroup
	for c := 0; c < kern.NumCPU(); c++ {
		wg.Add(2)
		go func(c int) { defer wg.Done(); pinned(t, c, func() { worker(c) }) }(c)
		go func(c int) { defer wg.Done(); worker(100 + c) }(c)
	}
	wg.Wait()
	s := checkQuiet(t, z)
	if s.Allocs != uint64(total.Load()) || s.Frees != s.Allocs || s.InUse != 0 {
		t.Errorf("allocs %d (made %d), frees %d, in use %d", s.Allocs, total.Load(), s.Frees, s.InUse)
	}
	if uint64(ctors.Load()) != s.Allocs || uint64(dtors.Load()) != s.Frees || s.Ctors != s.Allocs {
		t.Errorf("ctor %d dtor %d for %d allocs %d frees", ctors.Load(), dtors.Load(), s.Allocs, s.Frees)
	}
	if uint64(inits.Load()) != s.Imports {
		t.Errorf("init %d for %d items imported", inits.Load(), s.Imports)
	}
	var perCPU uint64
	for _, c := range s.CPUs {
		perCPU += c.Allocs
	}
	t.Logf("%d allocs on %d CPUs, %d slow, %d slabs, %d items imported", s.Allocs, kern.NumCPU(), s.SlowAllocs, s.Keg.Slabs, s.Imports)
	if err := z.Destroy(); err != nil {
		t.Errorf("%v", err)
	}
	s = checkQuiet(t, z)
	if s.Items != 0 || s.Keg.Slabs != 0 || uint64(finis.Load()) != s.Releases {
		t.Errorf("after drain: %d items out, %d slabs, fini %d for %d released", s.Items, s.Keg.Slabs, finis.Load(), s.Releases)
	}
	if after := kernelPages(); after != pagesBefore {
		t.Errorf("vm: kernel allocations hold %d pages, %d before", after, pagesBefore)
	}
}

// testLimit: on one CPU exactly the limit is handed out with M_NOWAIT;
// M_WAITOK sleeps until another CPU frees an item.
func testLimit(t *kern.T) {
	const limit = 64
	z, err := NewZone("selftest-limit", Args{Size: 256, Limit: limit})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer z.Destroy()
	var held []uintptr
	pinned(t, 0, func() {
		for {
			p, err := z.Alloc(M_NOWAIT)
			if err != nil {
				if !errors.Is(err, ErrLimit) {
					t.Errorf("want ErrLimit, got %v", err)
				}
				break
			}
			held = append(held, p)
		}
	})
	if len(held) != limit {
		t.Fatalf("%d items handed out under a limit of %d", len(held), limit)
	}
	got := make(chan uintptr)
	go pinned(t, kern.NumCPU()-1, func() {
		p, err := z.Alloc(M_WAITOK)
		if err != nil {
			t.Errorf("M_WAITOK: %v", err)
		}
		got <- p
	})
	select {
	case <-got:
		t.Fatalf("M_WAITOK beyond the limit did not sleep")
	case <-time.After(100 * time.Millisecond):
	}
	z.Free(held[0])
	select {
	case held[0] = <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("M_WAITOK not woken by a free")
	}
	for _, p := range held {
		z.Free(p)
	}
	s := checkQuiet(t, z)
	if s.Sleeps == 0 || s.LimitFails != 1 || s.InUse != 0 || s.Items > limit {
		t.Errorf("sleeps %d, limit failures %d, in use %d, items %d", s.Sleeps, s.LimitFails, s.InUse, s.Items)
	}
}

func catchDebug(fn func()) (de *DebugError) {
	defer func() {
		if r := recover(); r != nil {
			if err, ok := r.(error); ok {
				errors.As(err, &de)
			}
		}
	}()
	fn()
	return nil
}

// testDebug: a Debug zone reports a double free, a foreign free and a
// write to a freed item (when the item is next handed out).
func testDebug(t *kern.T) {
	// On one CPU: a debug zone takes items from the allocating CPU's
	// domain, so on a NUMA machine a goroutine that moved to the other
	// domain after the free would never be handed p again.
	pinned(t, 0, func() { testDebugPinned(t) })
}

func testDebugPinned(t *kern.T) {
	z, err := NewZone("selftest-debug", Args{Size: 96, Flags: Debug})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer z.Destroy()
	p, _ := z.Alloc(M_WAITOK)
	q, _ := z.Alloc(M_WAITOK)
	z.Free(p)
	if de := catchDebug(func() { z.Free(p) }); de == nil || de.Kind != "double free" || de.Addr != p {
		t.Errorf("double free of %#x: reported %+v", p, de)
	} else {
		t.Logf("%v", de)
	}
	if de := catchDebug(func() { z.Free(q + 4) }); de == nil || de.Kind != "bad free" {
		t.Errorf("free of an interior address: reported %+v", de)
	}
	store64(p+40, 0x5a5a) // through a dangling pointer
	var got []uintptr
	var de *DebugError
	for i := 0; i < 100 && de == nil; i++ {
		de = catchDebug(func() {
			r, _ := z.Alloc(M_WAITOK)
			got = append(got, r)
		})
	}
	if de == nil || de.Kind != "use after free" || de.Addr != p || de.Offset != 40 || de.Value != 0x5a5a {
		t.Errorf("use after free of %#x at +40: reported %+v", p, de)
	} else {
		t.Logf("%v", de)
	}
	for _, r := range got {
		z.Free(r)
	}
	z.Free(q)
	if s := checkQuiet(t, z); s.Quarantined != 1 || s.InUse != 0 {
		t.Errorf("quarantined %d, in use %d", s.Quarantined, s.InUse)
	}
}

type desc struct {
	Addr  uint64
	Len   uint32
	Flags uint32
}

// testTyped: a typed zone's items are where PhysAddr says (the page
// tables agree) and come from the allocating CPU's NUMA domain; pointer
// types are refused.
func testTyped(t *kern.T) {
	z, err := NewTyped[desc]("selftest-desc", TypedArgs[desc]{})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer z.Raw().Destroy()
	for c := 0; c < kern.NumCPU(); c++ {
		pinned(t, c, func() {
			d, err := z.Alloc(M_ZERO)
			if err != nil {
				t.Errorf("alloc: %v", err)
				return
			}
			va := addrOf(d)
			pa, ok := vm.Lookup(va)
			if !ok || pa != z.PhysAddr(d) {
				t.Errorf("item %#x: PhysAddr %#x, page tables %#x (%v)", va, z.PhysAddr(d), pa, ok)
			}
			if dom := vm.DomainOf(pa); dom != kern.CPUDomain(c) {
				t.Errorf("cpu %d (domain %d) got an item from domain %d", c, kern.CPUDomain(c), dom)
			}
			d.Len = 1514
			z.Free(d)
		})
	}
	if _, err := NewTyped[struct{ P *desc }]("bad", TypedArgs[struct{ P *desc }]{}); !errors.Is(err, ErrBadArgs) {
		t.Errorf("a type with a pointer was accepted: %v", err)
	}
}

// testCriticalWaitok: M_WAITOK inside a critical section is refused and
// counted (it could sleep with the goroutine pinned to its CPU).
func testCriticalWaitok(t *kern.T) {
	z, err := NewZone("selftest-crit", Args{Size: 32})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer z.Destroy()
	kern.CriticalEnter()
	_, err = z.Alloc(M_WAITOK)
	kern.CriticalExit()
	if !errors.Is(err, ErrCritical) || z.Stats().WaitokInCritical != 1 {
		t.Errorf("M_WAITOK in a critical section: %v, counted %d", err, z.Stats().WaitokInCritical)
	} else {
		t.Logf("%v", err)
	}
	p, err := z.Alloc(M_WAITOK)
	if err != nil {
		t.Errorf("M_WAITOK outside: %v", err)
	} else {
		z.Free(p)
	}
	if kern.CriticalNest() != 0 {
		t.Errorf("critical section left unbalanced: depth %d", kern.CriticalNest())
	}
}
