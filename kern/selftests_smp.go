package kern

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
)

// SMP self-tests: every CPU runs the kernel.
func init() {
	for _, t := range []Test{
		{Name: "SMP/AllCPUsOnlineAndPinned", Fn: testAllCPUs},
		{Name: "SMP/TimeMonotonicAcrossCPUs", Fn: testMonotonic},
		{Name: "SMP/PingPong10000Goroutines", Fn: testPingPong},
		// Each rendezvous needs every vCPU running at once: with 8 vCPUs
		// on 2 loaded host cores one took ~90 ms (1,400 of them overran
		// the default 2 minutes in the smp8 boot), 1–3 ms on 4 idle ones.
		{Name: "SMP/Rendezvous1000", Fn: testRendezvous, Timeout: 8 * time.Minute},
		{Name: "SMP/FutexWakeFromOtherCPU", Fn: testCrossWake},
		{Name: "SMP/InterruptsOffSpinDoesNotStopOthers", Fn: testCliSpin},
		{Name: "SMP/MigrationKeepsState", Fn: testMigration},
		{Name: "SMP/TLBShootdown", Fn: testShootdown},
	} {
		RegisterTest(t)
	}
}

// onCPU runs fn on a goroutine locked to a thread pinned to cpu.
func onCPU(t *T, cpu int, fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := PinToCPU(cpu); err != nil {
		t.Errorf("pin to cpu %d: %v", cpu, err)
		return
	}
	defer Unpin()
	if got := CPUID(); got != cpu {
		t.Errorf("pinned to cpu %d but running on %d", cpu, got)
	}
	fn()
}

func testAllCPUs(t *T) {
	if NumCPU() != madtCPUs {
		t.Errorf("%d CPUs online, MADT lists %d", NumCPU(), madtCPUs)
	}
	if runtime.NumCPU() != NumCPU() {
		t.Errorf("runtime.NumCPU() = %d, kernel has %d", runtime.NumCPU(), NumCPU())
	}
	ran := make([]atomic.Int32, NumCPU())
	var wg sync.WaitGroup
	for cpu := 0; cpu < NumCPU(); cpu++ {
		wg.Add(1)
		go func(cpu int) {
			defer wg.Done()
			onCPU(t, cpu, func() {
				for i := 0; i < 100; i++ {
					if CPUID() != cpu {
						t.Errorf("pinned thread left cpu %d for %d", cpu, CPUID())
						return
					}
					runtime.Gosched()
				}
				ran[cpu].Add(1)
			})
		}(cpu)
	}
	wg.Wait()
	for cpu := range ran {
		if ran[cpu].Load() != 1 {
			t.Errorf("cpu %d did not run its pinned thread", cpu)
		}
	}
	t.Logf("%d CPUs online", NumCPU())
}

func testMonotonic(t *T) {
	var mu sync.Mutex
	var last int64
	var back atomic.Int64
	var wg sync.WaitGroup
	for cpu := 0; cpu < NumCPU(); cpu++ {
		wg.Add(1)
		go func(cpu int) {
			defer wg.Done()
			onCPU(t, cpu, func() {
				prev := Nanotime()
				for i := 0; i < 20000; i++ {
					v := Nanotime()
					if v < prev {
						back.Add(1)
					}
					prev = v
					if i%100 == 0 {
						mu.Lock()
						if w := Nanotime(); w < last {
							back.Add(1)
						} else {
							last = w
						}
						mu.Unlock()
					}
				}
			})
		}(cpu)
	}
	wg.Wait()
	if back.Load() != 0 {
		t.Errorf("time went backwards %d times", back.Load())
	}
}

func testPingPong(t *T) {
	const pairs, rounds = 5000, 10
	var total atomic.Int64
	var seen atomic.Uint64
	var wg sync.WaitGroup
	for p := 0; p < pairs; p++ {
		wg.Add(2)
		a, b := make(chan int), make(chan int)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				a <- i
				<-b
				total.Add(1)
			}
			seen.Or(1 << uint(CPUID()))
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				v := <-a
				b <- v
				total.Add(1)
			}
			seen.Or(1 << uint(CPUID()))
		}()
	}
	wg.Wait()
	if total.Load() != 2*pairs*rounds {
		t.Errorf("total %d, want %d", total.Load(), 2*pairs*rounds)
	}
	if got, want := seen.Load(), onlineMask(); got != want {
		t.Errorf("goroutines ran on CPU mask %#x, want every CPU %#x", got, want)
	}
}

var rvHits [MaxCPU]atomic.Uint64

func testRendezvous(t *T) {
	var before [MaxCPU]uint64
	for i := range before {
		before[i] = rvHits[i].Load()
	}
	var seenAll atomic.Int64
	start := time.Now()
	for i := 0; i < 1000; i++ {
		Rendezvous(func(cpu int) {
			rvHits[cpu].Add(1)
		})
	}
	t.Logf("1000 rendezvous of %d CPUs in %v", NumCPU(), time.Since(start).Round(time.Millisecond))
	for cpu := 0; cpu < NumCPU(); cpu++ {
		if d := rvHits[cpu].Load() - before[cpu]; d != 1000 {
			t.Errorf("cpu %d ran the rendezvous function %d times, want 1000", cpu, d)
		}
	}
	// Concurrent initiators from every CPU.
	start = time.Now()
	var wg sync.WaitGroup
	for cpu := 0; cpu < NumCPU(); cpu++ {
		wg.Add(1)
		go func(cpu int) {
			defer wg.Done()
			onCPU(t, cpu, func() {
				for i := 0; i < 50; i++ {
					Rendezvous(func(int) { seenAll.Add(1) })
				}
			})
		}(cpu)
	}
	wg.Wait()
	t.Logf("%d concurrent from every CPU in %v", 50*NumCPU(), time.Since(start).Round(time.Millisecond))
	if want := int64(50 * NumCPU() * NumCPU()); seenAll.Load() != want {
		t.Errorf("concurrent rendezvous: %d calls, want %d", seenAll.Load(), want)
	}
}

func testCrossWake(t *T) {
	last := NumCPU() - 1
	for i := 0; i < 200; i++ {
		ch := make(chan int)
		done := make(chan int)
		go onCPU(t, 0, func() { done <- <-ch })
		go onCPU(t, last, func() {
			time.Sleep(time.Millisecond)
			ch <- i
		})
		if v := <-done; v != i {
			t.Fatalf("round %d got %d", i, v)
		}
	}
}

func testCliSpin(t *T) {
	if NumCPU() < 2 {
		t.Logf("one CPU: the interrupts-off CPU is the only one; checking it resumes")
	}
	var progress atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				progress.Add(1)
				runtime.Gosched()
			}
		}
	}()
	// The counter runs before the spin starts, so it runs somewhere else.
	for progress.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// Spin with interrupts off for at least 100 ms, and until the others
	// have made progress or 2 s have passed: under TCG on a loaded host the
	// other vCPUs may get little host time in any fixed window.
	var during int64
	var spun int64
	onCPU(t, NumCPU()-1, func() {
		start := progress.Load()
		fl := amd64.Flags()
		amd64.Cli()
		t0 := Nanotime()
		for {
			now := Nanotime()
			if now-t0 >= 2e9 || (now-t0 >= 100e6 && (NumCPU() < 2 || progress.Load()-start >= 1000)) {
				break
			}
			amd64.Pause()
		}
		during = progress.Load() - start
		spun = Nanotime() - t0
		if fl&amd64.IF != 0 {
			amd64.Sti()
		}
	})
	close(stop)
	if NumCPU() >= 2 && during == 0 {
		t.Errorf("no progress elsewhere while one CPU spun %v with interrupts off", time.Duration(spun))
	}
	t.Logf("%d increments elsewhere during a %v interrupts-off spin", during, time.Duration(spun))
}

func testMigration(t *T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer Unpin()
	var fs0 uint64
	syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, 0x1003, uintptr(unsafe.Pointer(&fs0)), 0)
	x, acc := 1.0, 0.0
	for i := 0; i < 3000; i++ {
		cpu := i % NumCPU()
		if err := PinToCPU(cpu); err != nil {
			t.Fatalf("pin: %v", err)
		}
		if got := CPUID(); got != cpu {
			t.Fatalf("move %d: on cpu %d, want %d", i, got, cpu)
		}
		acc += x * 0.5
		x += 1
		var fs uint64
		syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, 0x1003, uintptr(unsafe.Pointer(&fs)), 0)
		if fs != fs0 {
			t.Fatalf("move %d: FS base %#x, was %#x", i, fs, fs0)
		}
	}
	if want := 0.5 * 3000 * 3001 / 2; acc != want {
		t.Errorf("float sum %v after 3000 migrations, want %v", acc, want)
	}
}

// testShootdown: a page is cached in another CPU's TLB, then released with
// MADV_DONTNEED here; the other CPU must read zero at once. Without the
// shootdown it would read the old frame (still 0x5a) through its stale
// TLB entry.
func testShootdown(t *T) {
	other := NumCPU() - 1
	stale := 0
	for round := 0; round < 50; round++ {
		b, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			t.Fatalf("mmap: %v", err)
		}
		addr := uintptr(unsafe.Pointer(&b[0]))
		b[0] = 0x5a
		cached, proceed, check := make(chan struct{}), make(chan struct{}), make(chan uint8)
		go onCPU(t, other, func() {
			if amd64.Load8(addr) != 0x5a { // the TLB entry is now cached
				t.Errorf("round %d: page not written", round)
			}
			close(cached)
			<-proceed
			check <- amd64.Load8(addr)
		})
		<-cached
		if err := syscall.Madvise(b, 4 /* MADV_DONTNEED */); err != nil {
			t.Fatalf("madvise: %v", err)
		}
		close(proceed)
		if v := <-check; v != 0 {
			stale++
		}
		syscall.Munmap(b)
	}
	if stale != 0 {
		t.Errorf("%d of 50 rounds read stale data after MADV_DONTNEED", stale)
	}
}

func init() {
	RegisterTest(Test{Name: "Kern/CriticalSectionStaysOnCPU", Fn: testCritical})
}

// testCritical: inside a critical section a goroutine keeps its CPU across
// several ticks although other threads are runnable everywhere, and
// Owner identifies goroutines.
func testCritical(t *T) {
	stop := make(chan struct{})
	for i := 0; i < 2*NumCPU(); i++ {
		go func() {
			runtime.LockOSThread() // runnable threads on every CPU
			defer runtime.UnlockOSThread()
			for !isClosed(stop) {
			}
		}()
	}
	defer close(stop)
	me := Owner()
	other := make(chan uint64)
	go func() { other <- Owner() }()
	if o := <-other; o == me || o == 0 {
		t.Errorf("Owner() = %#x here and %#x in another goroutine", me, o)
	}
	for round := 0; round < 10; round++ {
		CriticalEnter()
		cpu := CPUID()
		moved := false
		end := Nanotime() + 3*int64(time.Second)/HZ
		for Nanotime() < end {
			if CPUID() != cpu {
				moved = true
			}
		}
		if CriticalNest() != 1 {
			t.Errorf("nesting %d inside one section", CriticalNest())
		}
		CriticalExit()
		if moved {
			t.Errorf("round %d: moved off cpu %d inside a critical section", round, cpu)
		}
		if Owner() != me {
			t.Errorf("Owner changed")
		}
	}
}

func init() {
	RegisterTest(Test{Name: "SMP/TopologyFromACPI", Fn: testTopology})
}

func testTopology(t *T) {
	tp := GetTopology()
	if tp.LoadError != nil {
		t.Fatalf("ACPI: %v", tp.LoadError)
	}
	if n := len(tp.Tables.CPUs()); n != NumCPU() {
		t.Errorf("ACPI lists %d CPUs, %d online", n, NumCPU())
	}
	seen := map[[3]int]bool{}
	for _, c := range tp.CPUs {
		if c.Domain < 0 || c.Domain >= tp.Domains {
			t.Errorf("cpu %d in domain %d of %d", c.CPU, c.Domain, tp.Domains)
		}
		k := [3]int{c.Package, c.Core, c.Thread}
		if seen[k] {
			t.Errorf("cpu %d: package/core/thread %v not unique", c.CPU, k)
		}
		seen[k] = true
	}
	for d := 0; d < tp.Domains; d++ {
		if tp.Distance(d, d) != 10 {
			t.Errorf("distance(%d,%d) = %d", d, d, tp.Distance(d, d))
		}
	}
	t.Logf("%d CPUs, %d domain(s)", len(tp.CPUs), tp.Domains)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func init() {
	RegisterTest(Test{Name: "Kern/OwnerRewritten", Fn: testOwnerRewritten})
}

// testOwnerRewritten: the inlined Owner (a move from R14 since the image
// builder rewrote it) agrees with the g that assembly reads from TLS, in
// many goroutines on every CPU, before and after they migrate, and two
// goroutines never share it.
func testOwnerRewritten(t *T) {
	if n := OwnerSites(); n == 0 || n == ownerSitesUnset {
		t.Errorf("kern.ownerSites = %#x: the image builder did not rewrite Owner", n)
	}
	const per = 4
	n := per * NumCPU()
	type res struct{ inl, tls, inl2, tls2 uint64 }
	out := make(chan res, n)
	release := make(chan struct{}) // all stay alive until compared: g's are reused
	defer close(release)
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			_ = PinToCPU(i % NumCPU())
			var r res
			r.inl, r.tls = Owner(), ownerTLS()
			_ = PinToCPU((i + 1) % NumCPU()) // a migration in between
			runtime.Gosched()
			r.inl2, r.tls2 = Owner(), ownerTLS()
			_ = Unpin()
			out <- r
			<-release
		}()
	}
	seen := map[uint64]bool{Owner(): true}
	if me := Owner(); me != ownerTLS() || me == 0 {
		t.Errorf("Owner() = %#x, TLS g %#x", me, ownerTLS())
	}
	for i := 0; i < n; i++ {
		r := <-out
		if r.inl != r.tls || r.inl2 != r.tls2 || r.inl != r.inl2 || r.inl == 0 {
			t.Errorf("Owner() %#x then %#x after migrating; TLS g %#x then %#x", r.inl, r.inl2, r.tls, r.tls2)
		}
		if seen[r.inl] {
			t.Errorf("two live goroutines share owner %#x", r.inl)
		}
		seen[r.inl] = true
	}
	t.Logf("%d rewritten Owner sites; %d goroutines on %d CPUs agree with TLS", OwnerSites(), n, NumCPU())
}

func init() {
	RegisterTest(Test{Name: "Kern/CriticalEnterCPUInline", Fn: testCriticalEnterCPUInline})
}

// testCriticalEnterCPUInline: the inlined critical section for per-CPU
// data (CriticalEnterCPU, CriticalExitCPUFast) against the assembly
// views of the CPU and thread. Two threads per CPU (GOMAXPROCS raised, so
// the tick round-robins them), half pinned to a CPU and half free to
// migrate between sections, enter and leave sections in a loop. Inside,
// the CPU index is the GS-relative one before and after a spin long
// enough for ticks to land in it, the token is the running thread's
// address, and the nesting and m.locks are raised; preemptions the tick
// deferred are taken through CriticalExitCPUFast's false return
// (counted: the test runs until some were); after, both are back.
func testCriticalEnterCPUInline(t *T) {
	ncpu := NumCPU()
	old := runtime.GOMAXPROCS(2 * ncpu)
	defer runtime.GOMAXPROCS(old)
	var sections, deferred, bad atomic.Int64
	var firstBad atomic.Value
	fail := func(format string, args ...any) {
		if bad.Add(1) == 1 {
			firstBad.Store(fmt.Sprintf(format, args...))
		}
	}
	deadline := time.Now().Add(120 * time.Second)
	var wg sync.WaitGroup
	for i := 0; i < 2*ncpu; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if i%2 == 0 {
				if err := PinToCPU(i / 2 % ncpu); err != nil {
					fail("pin: %v", err)
					return
				}
				defer Unpin()
			}
			sink := 0
			for n := 0; (sections.Load() < 4000 || deferred.Load() < 4) && bad.Load() == 0 && time.Now().Before(deadline); n++ {
				me := curThread()
				nest, locks := me.critNest, *(*int32)(rtPtr(curM() + mLocks))
				cpu, tok := CriticalEnterCPUCall()
				if cpu != thisCPU() || tok != me.addr() || curThread() != me ||
					me.critNest != nest+1 || *(*int32)(rtPtr(curM() + mLocks)) != locks+1 {
					fail("entered: cpu %d (GS %d), token %#x (thread %#x), nesting %d → %d, m.locks %d → %d",
						cpu, thisCPU(), tok, me.addr(), nest, me.critNest, locks, *(*int32)(rtPtr(curM() + mLocks)))
				}
				for j := 0; j < 20000; j++ {
					sink += j ^ n
				}
				if cpu != thisCPU() || curThread() != me {
					fail("moved inside the section: cpu %d, now %d", cpu, thisCPU())
				}
				if !CriticalExitCPUFast(tok) {
					deferred.Add(1)
					CriticalExitCPUPreempt(tok)
				}
				if me.critNest != nest || *(*int32)(rtPtr(curM() + mLocks)) != locks || me.preemptPending != 0 && nest == 0 {
					fail("left: nesting %d (was %d), m.locks %d (was %d), preemption pending %d",
						me.critNest, nest, *(*int32)(rtPtr(curM() + mLocks)), locks, me.preemptPending)
				}
				sections.Add(1)
				if n%16 == 0 {
					runtime.Gosched()
				}
			}
			_ = sink
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d bad sections; first: %v", bad.Load(), firstBad.Load())
	}
	if deferred.Load() == 0 {
		t.Errorf("no tick deferred a preemption in %d sections within the deadline", sections.Load())
	}
	t.Logf("%d sections on %d threads over %d CPUs, %d deferred preemptions taken at the exit", sections.Load(), 2*ncpu, ncpu, deferred.Load())
}

func init() {
	RegisterTest(Test{Name: "Kern/CriticalNestOwnThread", Fn: testCriticalNestOwnThread})
}

// testCriticalNestOwnThread: goroutines that are never in a critical
// section read CriticalNest in a loop (so that the runtime's asynchronous
// preemption lands inside it and moves them between Ms), while on every
// CPU other goroutines spend most of their time inside sections. A reader
// must always see 0: a non-zero depth is another thread's, read after a
// move (what blockFlags and the sleep checks then report as a sleep in a
// critical section). Runs until the readers were moved between threads
// 50 times (without the fix a wrong depth showed within 3 to 6 moves).
func testCriticalNestOwnThread(t *T) {
	n := NumCPU()
	if n < 2 {
		t.Logf("one CPU: a moved reader finds no other thread running")
		return
	}
	var stop atomic.Bool
	var wrong, reads, moves atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() { // inside sections most of the time
			defer wg.Done()
			for !stop.Load() {
				CriticalEnter()
				for j := 0; j < 2000; j++ {
					spinSink.Add(1)
				}
				CriticalExit()
			}
		}()
		go func() { // never inside one
			defer wg.Done()
			last := curThread()
			for !stop.Load() {
				for j := 0; j < 1000; j++ {
					if CriticalNest() != 0 {
						wrong.Add(1)
					}
				}
				reads.Add(1000)
				if th := curThread(); th != last {
					moves.Add(1)
					last = th
				}
			}
		}()
	}
	ok := WaitFor(60*time.Second, func() bool { return moves.Load() >= 50 || wrong.Load() > 0 })
	stop.Store(true)
	wg.Wait()
	t.Logf("%d reads, %d moves between threads seen, %d non-zero depths", reads.Load(), moves.Load(), wrong.Load())
	if wrong.Load() != 0 {
		t.Errorf("CriticalNest read another thread's depth %d times", wrong.Load())
	}
	if !ok && moves.Load() == 0 {
		t.Errorf("no reader was moved between threads in 60 s: the race this test is for never had a chance")
	}
}

var spinSink atomic.Int64
