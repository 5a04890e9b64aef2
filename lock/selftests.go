package lock

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// In-kernel self-tests of the lock types ("Lock/..."), meant for -smp 4
// with witness on (the default, warn). Tests that break the rules on
// purpose use classes named "lock selftest ..." and record their owners,
// so Witness/NoFalsePositives can tell their reports from real ones.
func init() {
	for _, t := range []kern.Test{
		{Name: "Lock/CountersExact", Fn: testCounters},
		{Name: "Lock/MutexHeldAcrossMigration", Fn: testMigration},
		{Name: "Lock/ReadersOverlapWritersExclude", Fn: testReaders},
		{Name: "Lock/CondAndWaitChannels", Fn: testCond},
		{Name: "Lock/GiantDroppedAcrossSleep", Fn: testGiant},
		{Name: "Lock/Refcount", Fn: testRefcount},
		{Name: "Lock/Assertions", Fn: testAssertions},
		{Name: "Lock/UpgradeDowngrade", Fn: testUpgrade},
		{Name: "Lock/WitnessReversalReportedOnce", Fn: testReversal},
		{Name: "Lock/WitnessRecursionCaught", Fn: testRecursion},
		{Name: "Lock/WitnessSleepWithSpinHeld", Fn: testSleepWithSpin},
		{Name: "Lock/WitnessUnlockNotOwned", Fn: testUnlockNotOwned},
		{Name: "Lock/SelftestMatrix", Fn: testMatrix},
		{Name: "Lock/ShellViewsAndProfile", Fn: testShell},
		{Name: "Lock/KTRTracesContention", Fn: testKTR},
		{Name: "Witness/NoFalsePositives", Fn: testNoFalsePositives},
	} {
		kern.RegisterTest(t)
	}
}

// badOwners are goroutines that broke the rules on purpose.
var badOwners sync.Map

const badPrefix = "lock selftest "

// deliberate prepares a test that breaks a rule on purpose: it needs
// witness in warn mode (it says so and reports false otherwise) and marks
// the calling goroutine.
func deliberate(t *kern.T) bool {
	if !witness.Enabled || witness.CurrentMode() != witness.Warn {
		t.Logf("skipped: needs witness=warn (mode %s, compiled in %v)", witness.CurrentMode(), witness.Enabled)
		return false
	}
	badOwners.Store(kern.Owner(), true)
	return true
}

// reportsOf returns Default's reports of kind k naming class name.
func reportsOf(k witness.ReportKind, name string) []witness.Report {
	var out []witness.Report
	for _, r := range witness.Reports() {
		if r.Kind == k && (r.Class == name || r.OtherClass == name) {
			out = append(out, r)
		}
	}
	return out
}

func workers() int { return max(4, 2*kern.NumCPU()) }

// testCounters: N goroutines × M increments of a plain counter under each
// lock type give exact totals. Sleep locks yield inside the section now
// and then, so waiters really block on turnstiles and sleep queues.
func testCounters(t *kern.T) {
	const iters = 1000
	n := workers()
	type locker struct {
		name        string
		lock, unlck func()
		sleeps      bool
	}
	sm := NewSpinMutex("lock test spin")
	m := NewMutex("lock test mutex")
	sx := NewSX("lock test sx")
	rw := NewRW("lock test rw")
	pm := PoolMutex(unsafe.Pointer(t))
	rm := NewMutex("lock test recursive", Recursive)
	lockers := []locker{
		{"spin", sm.Lock, sm.Unlock, false},
		{"mutex", m.Lock, m.Unlock, true},
		{"sx", sx.XLock, sx.XUnlock, true},
		{"rw", rw.WLock, rw.WUnlock, true},
		{"giant", Giant.Lock, Giant.Unlock, true},
		{"pool", pm.Lock, pm.Unlock, true},
		{"recursive", func() { rm.Lock(); rm.Lock() }, func() { rm.Unlock(); rm.Unlock() }, true},
	}
	for _, l := range lockers {
		blocks0 := kern.Turnstiles.Blocks.Load() + kern.SleepQueues.Blocks.Load()
		var counter int
		var wg sync.WaitGroup
		start := time.Now()
		for g := 0; g < n; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < iters; i++ {
					l.lock()
					c := counter
					if l.sleeps && i%97 == 0 {
						runtime.Gosched() // let others find it held
					}
					counter = c + 1
					l.unlck()
				}
			}()
		}
		wg.Wait()
		if counter != n*iters {
			t.Errorf("%s: counter %d, want %d", l.name, counter, n*iters)
		}
		blocks := kern.Turnstiles.Blocks.Load() + kern.SleepQueues.Blocks.Load() - blocks0
		t.Logf("%-9s %d goroutines x %d: total %d, %d blocks, %v", l.name, n, iters, counter, blocks, time.Since(start).Round(time.Millisecond))
	}
	// Readers under sx/rw count too: shared holders add to an atomic.
	for _, kind := range []string{"sx", "rw"} {
		var total atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < n; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < iters/3; i++ {
					if kind == "sx" {
						sx.SLock()
						total.Add(1)
						sx.SUnlock()
					} else {
						rw.RLock()
						total.Add(1)
						rw.RUnlock()
					}
				}
			}(g)
		}
		wg.Wait()
		if total.Load() != int64(n*(iters/3)) {
			t.Errorf("%s readers: %d, want %d", kind, total.Load(), n*(iters/3))
		}
	}
	for _, s := range []fmt.Stringer{sm, m, sx, rw} {
		if str := s.String(); !strings.HasSuffix(str, "unowned") && !strings.HasSuffix(str, "unlocked") {
			t.Errorf("left held: %s", str)
		}
	}
}

// testMigration: a goroutine holding a sleep mutex is moved to another
// CPU (PinToCPU while it holds it); the owner word and witness's record
// stay, the mutex stays unavailable to others, and unlocking works there.
func testMigration(t *kern.T) {
	if kern.NumCPU() < 2 {
		t.Logf("skipped: needs 2 CPUs")
		return
	}
	m := NewMutex("lock test migrating")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer kern.Unpin()
	for hop := 0; hop < 2*kern.NumCPU(); hop++ {
		from, to := hop%kern.NumCPU(), (hop+1)%kern.NumCPU()
		if err := kern.PinToCPU(from); err != nil {
			t.Fatalf("pin to %d: %v", from, err)
		}
		m.Lock()
		me := kern.Owner()
		before := m.word.Load()
		if err := kern.PinToCPU(to); err != nil {
			t.Fatalf("pin to %d: %v", to, err)
		}
		if got := kern.CPUID(); got != to {
			t.Errorf("hop %d: on cpu %d, want %d", hop, got, to)
		}
		if kern.Owner() != me || m.word.Load() != before || !m.Owned() {
			t.Errorf("hop %d: owner changed across migration: %s (me %#x)", hop, m, me)
		}
		if witness.Enabled && witness.CurrentMode() != witness.Off {
			if s := witness.ShowLocks(me); !strings.Contains(s, "lock test migrating") {
				t.Errorf("hop %d: witness lost the held mutex after migration: %q", hop, s)
			}
		}
		got := make(chan bool)
		go func() { got <- m.TryLock() }()
		if <-got {
			t.Errorf("hop %d: another goroutine acquired the held mutex", hop)
		}
		m.Unlock()
		if witness.Enabled && witness.CurrentMode() != witness.Off {
			if s := witness.ShowLocks(me); strings.Contains(s, "lock test migrating") {
				t.Errorf("hop %d: witness still lists the mutex after unlock: %q", hop, s)
			}
		}
	}
	t.Logf("held across %d forced migrations: owner and witness state kept", 2*kern.NumCPU())
}

// testReaders: sx and rw admit concurrent readers (the overlap is
// measured) and exclude writers from readers and from each other.
func testReaders(t *kern.T) {
	sx := NewSX("lock test sx overlap")
	rw := NewRW("lock test rw overlap")
	type rwl struct {
		name           string
		rl, ru, wl, wu func()
		sleepOK        bool
	}
	for _, l := range []rwl{
		{"sx", sx.SLock, sx.SUnlock, sx.XLock, sx.XUnlock, true},
		{"rw", rw.RLock, rw.RUnlock, rw.WLock, rw.WUnlock, false},
	} {
		var readers, writers, maxReaders atomic.Int32
		var bad atomic.Int32
		var wg sync.WaitGroup
		n := workers()
		for g := 0; g < n; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 40; i++ {
					if g%4 == 3 && i%4 == 0 {
						l.wl()
						if writers.Add(1) != 1 || readers.Load() != 0 {
							bad.Add(1)
						}
						runtime.Gosched()
						writers.Add(-1)
						l.wu()
						continue
					}
					l.rl()
					r := readers.Add(1)
					for {
						o := maxReaders.Load()
						if r <= o || maxReaders.CompareAndSwap(o, r) {
							break
						}
					}
					if writers.Load() != 0 {
						bad.Add(1)
					}
					if l.sleepOK {
						time.Sleep(200 * time.Microsecond) // sx may be held across a sleep
					} else {
						runtime.Gosched()
					}
					readers.Add(-1)
					l.ru()
				}
			}(g)
		}
		wg.Wait()
		if bad.Load() != 0 {
			t.Errorf("%s: %d exclusion violations", l.name, bad.Load())
		}
		if maxReaders.Load() < 2 {
			t.Errorf("%s: readers never overlapped (max %d at once)", l.name, maxReaders.Load())
		}
		t.Logf("%s: up to %d readers at once, writers excluded", l.name, maxReaders.Load())
	}
}

// testCond: a bounded queue with two condition variables; TimedWait times
// out; Broadcast wakes every waiter; wait channels work with and without
// an interlock.
func testCond(t *kern.T) {
	m := NewMutex("lock test cond")
	notEmpty, notFull := NewCond("notempty"), NewCond("notfull")
	var q []int
	const items, cap_ = 2000, 4
	var wg sync.WaitGroup
	var sum atomic.Int64
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m.Lock()
				for len(q) == 0 {
					notEmpty.Wait(m)
				}
				v := q[0]
				q = q[1:]
				notFull.Signal()
				m.Unlock()
				if v < 0 {
					return
				}
				sum.Add(int64(v))
			}
		}()
	}
	for i := 1; i <= items+3; i++ {
		v := i
		if i > items {
			v = -1
		}
		m.Lock()
		for len(q) >= cap_ {
			notFull.Wait(m)
		}
		q = append(q, v)
		notEmpty.Signal()
		m.Unlock()
	}
	wg.Wait()
	if want := int64(items * (items + 1) / 2); sum.Load() != want {
		t.Errorf("consumers summed %d, want %d", sum.Load(), want)
	}

	m.Lock()
	t0 := time.Now()
	if notEmpty.TimedWait(m, 5*time.Millisecond) {
		t.Errorf("TimedWait with nobody signalling reported a wake-up")
	}
	if !m.Owned() {
		t.Errorf("TimedWait returned without the interlock")
	}
	m.Unlock()
	if d := time.Since(t0); d < 5*time.Millisecond {
		t.Errorf("TimedWait returned after %v, before its timeout", d)
	}

	var woke atomic.Int32
	cv := NewCond("broadcast")
	const nw = 5
	for i := 0; i < nw; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Lock()
			cv.Wait(m)
			woke.Add(1)
			m.Unlock()
		}()
	}
	for cv.Waiters() < nw {
		time.Sleep(time.Millisecond)
	}
	m.Lock()
	cv.Broadcast()
	m.Unlock()
	wg.Wait()
	if woke.Load() != nw {
		t.Errorf("broadcast woke %d of %d", woke.Load(), nw)
	}

	var flag atomic.Bool
	var x int
	done := make(chan bool)
	go func() {
		ok := true
		for !flag.Load() && ok {
			ok = Sleep(unsafe.Pointer(&x), nil, "selftest", time.Second)
		}
		done <- flag.Load()
	}()
	time.Sleep(2 * time.Millisecond)
	flag.Store(true)
	Wakeup(unsafe.Pointer(&x))
	if !<-done {
		t.Errorf("Sleep on a wait channel did not see the wake-up")
	}
	t.Logf("%d items through a %d-slot queue, timed wait, broadcast to %d, wait channel", items, cap_, nw)
}

// testGiant: Giant held twice is dropped completely across a sleep (so
// another goroutine takes it meanwhile) and held twice again after.
func testGiant(t *kern.T) {
	Giant.Lock()
	Giant.Lock()
	var x int
	took := make(chan bool)
	go func() {
		Giant.Lock() // possible only while the sleeper dropped it
		x = 1
		WakeupOne(unsafe.Pointer(&x))
		Giant.Unlock()
		took <- true
	}()
	// Sleep until the helper has run, checking under Giant: its wake-up
	// finds nobody asleep if our 20 ms timed out and we were waiting to
	// take Giant back meanwhile (seen on a loaded host: the old loop on
	// Sleep's result then slept again forever).
	for x == 0 {
		Sleep(unsafe.Pointer(&x), nil, "giant", 20*time.Millisecond)
	}
	<-took
	if !Giant.Owned() || Giant.recurse != 1 {
		t.Errorf("after the sleep Giant is %s, recursion %d, want owned twice", Giant, Giant.recurse)
	}
	Giant.Unlock()
	Giant.Unlock()
	if Giant.Owned() {
		t.Errorf("Giant still owned after releasing both holds")
	}
	if DropGiant() != 0 {
		t.Errorf("DropGiant without Giant held dropped something")
	}
}

// testRefcount: concurrent acquire/release keep the count exact; exactly
// one release is the last; a released object cannot be acquired.
func testRefcount(t *kern.T) {
	var r Refcount
	r.Init(1)
	var last atomic.Int32
	var wg sync.WaitGroup
	n := workers()
	for g := 0; g < n; g++ {
		wg.Add(1)
		r.Acquire() // on behalf of the goroutine, by the holder of a reference
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				r.Acquire()
				if r.Release() {
					last.Add(1)
				}
			}
			if r.Release() {
				last.Add(1)
			}
		}()
	}
	wg.Wait()
	if r.Load() != 1 || last.Load() != 0 {
		t.Errorf("after balanced use: count %d, last-release %d times", r.Load(), last.Load())
	}
	if !r.Release() || r.Load() != 0 {
		t.Errorf("dropping the initial reference was not the last release")
	}
	if r.AcquireIfNotZero() {
		t.Errorf("AcquireIfNotZero succeeded on a released object")
	}
	if !panics(func() { r.Acquire() }) {
		t.Errorf("Acquire from zero did not panic")
	}
}

// testAssertions: each assertion passes when it holds and panics when not.
func testAssertions(t *kern.T) {
	m := NewMutex("lock test assert")
	s := NewSpinMutex("lock test assert spin")
	sx := NewSX("lock test assert sx")
	rw := NewRW("lock test assert rw")
	check := func(name string, f func(), wantPanic bool) {
		if got := panics(f); got != wantPanic {
			t.Errorf("%s: panicked %v, want %v", name, got, wantPanic)
		}
	}
	check("mutex owned, unheld", m.AssertOwned, true)
	check("mutex not owned, unheld", m.AssertNotOwned, false)
	m.Lock()
	check("mutex owned, held", m.AssertOwned, false)
	check("mutex not owned, held", m.AssertNotOwned, true)
	done := make(chan bool)
	go func() { done <- panics(m.AssertOwned) }()
	if !<-done {
		t.Errorf("AssertOwned passed on another goroutine")
	}
	m.Unlock()
	s.Lock()
	check("spin owned, held", s.AssertOwned, false)
	s.Unlock()
	check("spin owned, unheld", s.AssertOwned, true)
	sx.XLock()
	check("sx xlocked", sx.AssertXLocked, false)
	check("sx slocked while x", sx.AssertSLocked, true)
	check("sx unlocked while x", sx.AssertUnlocked, true)
	sx.XUnlock()
	sx.SLock()
	check("sx slocked", sx.AssertSLocked, false)
	check("sx locked", sx.AssertLocked, false)
	check("sx xlocked while s", sx.AssertXLocked, true)
	sx.SUnlock()
	check("sx locked, unheld", sx.AssertLocked, true)
	rw.WLock()
	check("rw wlocked", rw.AssertWLocked, false)
	rw.WUnlock()
	rw.RLock()
	check("rw rlocked", rw.AssertRLocked, false)
	check("rw wlocked while r", rw.AssertWLocked, true)
	rw.RUnlock()
	check("rw unlocked", rw.AssertUnlocked, false)
}

// testUpgrade: sx and rw upgrade when alone and downgrade, letting a
// waiting reader in.
func testUpgrade(t *kern.T) {
	sx := NewSX("lock test upgrade")
	sx.SLock()
	if !sx.TryUpgrade() || !sx.XLocked() {
		t.Errorf("sole reader could not upgrade: %s", sx)
	}
	// The helper readers signal when they are in, and again once they
	// have let go: the final "unlocked" check must not race their
	// SUnlock (it did, under load: "shared by 1").
	in, out := make(chan bool), make(chan bool)
	go func() { sx.SLock(); in <- true; sx.SUnlock(); out <- true }()
	entered := false
	select {
	case <-in:
		t.Errorf("a reader got in while exclusively held")
		entered = true
	case <-time.After(5 * time.Millisecond):
	}
	sx.Downgrade()
	if !entered {
		<-in // the reader joins after the downgrade
	}
	<-out
	sx.SUnlock()
	sx.SLock()
	got, gone := make(chan bool), make(chan bool)
	go func() { sx.SLock(); got <- true; sx.SUnlock(); gone <- true }()
	<-got
	if sx.TryUpgrade() && sx.XLocked() {
		// upgraded only if the other reader had already gone
		sx.XUnlock()
	} else {
		sx.SUnlock()
	}
	<-gone
	rw := NewRW("lock test upgrade rw")
	rw.RLock()
	if !rw.TryUpgrade() {
		t.Errorf("sole rw reader could not upgrade: %s", rw)
	}
	rw.Downgrade()
	rw.RUnlock()
	if !strings.HasSuffix(rw.String(), "unlocked") || !strings.HasSuffix(sx.String(), "unlocked") {
		t.Errorf("left held: %s, %s", rw, sx)
	}
}

// testReversal: A then B, later B then A: exactly one reversal report,
// naming both locks and carrying both stacks.
func testReversal(t *kern.T) {
	if !deliberate(t) {
		return
	}
	a := NewMutex(badPrefix + "A")
	b := NewMutex(badPrefix + "B")
	var n int
	lockAB := func() { a.Lock(); b.Lock(); n++; b.Unlock(); a.Unlock() }
	lockBA := func() { b.Lock(); a.Lock(); n++; a.Unlock(); b.Unlock() }
	lockAB()
	if n := len(reportsOf(witness.ReportReversal, badPrefix+"A")); n != 0 {
		t.Errorf("A then B alone produced %d reversal reports", n)
	}
	lockBA()
	lockBA() // again: counted, not printed twice
	rs := reportsOf(witness.ReportReversal, badPrefix+"A")
	if len(rs) != 1 {
		t.Fatalf("want exactly one reversal report naming A, got %d", len(rs))
	}
	r := rs[0]
	for _, want := range []string{"lock order reversal", "1st \"" + badPrefix + "B\"", "2nd \"" + badPrefix + "A\"",
		"1st acquired at:", "2nd acquired at:", "lock.testReversal"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("report lacks %q:\n%s", want, r.Text)
		}
	}
	if len(r.Stack) == 0 || len(r.OtherStack) == 0 || r.Count != 2 {
		t.Errorf("report: %d+%d stack frames, count %d; want both stacks and count 2", len(r.Stack), len(r.OtherStack), r.Count)
	}
	t.Logf("one report (seen %d times):\n%s", r.Count, r.Text)
}

// testRecursion: locking a non-recursive lock twice is reported by
// witness and counted by the lock, which (in warn mode) takes it as a
// recursion instead of deadlocking, so the boot goes on.
func testRecursion(t *kern.T) {
	if !deliberate(t) {
		return
	}
	v0 := Violations()
	m := NewMutex(badPrefix + "recursion")
	m.Lock()
	m.Lock()
	if !m.Recursed() {
		t.Errorf("second Lock did not recurse: %s", m)
	}
	m.Unlock()
	m.Unlock()
	if n := len(reportsOf(witness.ReportRecursion, badPrefix+"recursion")); n != 1 {
		t.Errorf("want 1 recursion report, got %d", n)
	}
	s := NewSpinMutex(badPrefix + "spin recursion")
	s.Lock()
	s.Lock()
	if !s.Owned() {
		t.Errorf("spin recursion lost the lock: %s", s)
	}
	s.Unlock()
	s.Unlock()
	if kern.CriticalNest() != 0 || !kern.IntrEnabled() {
		t.Errorf("after the spin recursion: critical nest %d, interrupts on %v", kern.CriticalNest(), kern.IntrEnabled())
	}
	if n := len(reportsOf(witness.ReportRecursion, badPrefix+"spin recursion")); n != 1 {
		t.Errorf("want 1 spin recursion report, got %d", n)
	}
	if d := Violations() - v0; d != 2 {
		t.Errorf("lock counted %d violations, want 2", d)
	}
}

// testSleepWithSpin: blocking in the kernel (a futex wait, a nanosleep)
// while holding a spin mutex, or inside a bare critical section, is seen
// by the kernel in trap context and reported by witness.
func testSleepWithSpin(t *kern.T) {
	if !deliberate(t) {
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	blocks0 := kern.CriticalBlocks()
	s := NewSpinMutex(badPrefix + "held across futex")
	var word uint32
	ts := syscall.Timespec{Nsec: int64(time.Millisecond)}
	s.Lock()
	// FUTEX_WAIT_PRIVATE on a word that matches: blocks until the timeout.
	syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&word)), 128, 0, uintptr(unsafe.Pointer(&ts)), 0, 0)
	s.Unlock()
	rs := reportsOf(witness.ReportBlocking, badPrefix+"held across futex")
	if len(rs) != 1 || !strings.Contains(rs[0].Text, "futex wait") {
		t.Errorf("want 1 blocking report for the futex wait naming the spin mutex, got %d: %v", len(rs), rs)
	}
	kern.CriticalEnter()
	syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
	kern.CriticalExit()
	found := false
	for _, r := range witness.Reports() {
		if r.Kind == witness.ReportBlocking && r.Owner == kern.Owner() && strings.Contains(r.Why, "nanosleep") {
			found = true
		}
	}
	if !found {
		t.Errorf("nanosleep in a bare critical section was not reported")
	}
	// Witness's bookkeeping runs in quiet sections: a block there (the
	// runtime waiting for its heap lock while witness allocates; here a
	// nanosleep) is counted apart and not reported. A block recorded
	// before, in an enclosing section, is still reported at its end.
	q0, c0 := kern.QuietCriticalBlocks(), nanosleepReports()
	kern.CriticalEnterQuiet()
	syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
	kern.CriticalExitQuiet()
	if d := nanosleepReports() - c0; d != 0 {
		t.Errorf("a nanosleep in a quiet section was reported (%d times)", d)
	}
	if kern.QuietCriticalBlocks() == q0 {
		t.Errorf("a nanosleep in a quiet section was not counted")
	}
	kern.CriticalEnter()
	syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
	kern.CriticalEnterQuiet()
	syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
	kern.CriticalExitQuiet()
	kern.CriticalExit()
	if d := nanosleepReports() - c0; d != 1 {
		t.Errorf("a nanosleep in a critical section enclosing a quiet one: %d reports, want 1", d)
	}
	// The counter is global: other goroutines' blocks (e.g. a runtime lock
	// contended under procPin) may add to it, so 2 is a lower bound; the
	// reports above identify this goroutine's two exactly.
	if d := kern.CriticalBlocks() - blocks0; d < 2 {
		t.Errorf("kernel counted %d blocks in critical sections, want at least 2", d)
	} else if d > 2 {
		t.Logf("%d blocks in critical sections counted, %d by other goroutines meanwhile", d, d-2)
	}
}

// nanosleepReports counts the reports of a nanosleep in a bare critical
// section (one deduplicated report; Count says how often it fired).
func nanosleepReports() uint64 {
	for _, r := range witness.Reports() {
		if r.Kind == witness.ReportBlocking && r.Why == "nanosleep in a critical section" {
			return r.Count
		}
	}
	return 0
}

// testUnlockNotOwned: unlocking a mutex nobody holds, or one another
// goroutine holds, is reported and skipped, not obeyed.
func testUnlockNotOwned(t *kern.T) {
	if !deliberate(t) {
		return
	}
	v0 := Violations()
	m := NewMutex(badPrefix + "unlock not owned")
	m.Unlock()
	held := make(chan bool)
	release := make(chan bool)
	go func() {
		m.Lock()
		held <- true
		<-release
		m.Unlock()
		held <- true
	}()
	<-held
	m.Unlock() // held by the other goroutine
	if m.word.Load() == 0 {
		t.Errorf("a non-owner's unlock released the mutex")
	}
	release <- true
	<-held
	if d := Violations() - v0; d != 2 {
		t.Errorf("lock counted %d violations, want 2", d)
	}
	if n := len(reportsOf(witness.ReportUnlockNotHeld, badPrefix+"unlock not owned")); n != 1 {
		t.Errorf("want 1 unlock-of-unheld report, got %d", n)
	}
	if n := len(reportsOf(witness.ReportUnlockNotOwner, badPrefix+"unlock not owned")); n != 1 {
		t.Errorf("want 1 unlock-by-non-owner report, got %d", n)
	}
}

// testNoFalsePositives runs last among the lock and witness tests: every
// report witness made in this boot must come from a deliberate test.
func testNoFalsePositives(t *kern.T) {
	if !witness.Enabled || witness.CurrentMode() == witness.Off {
		t.Logf("skipped: witness is off")
		return
	}
	n := 0
	for _, r := range witness.Reports() {
		_, bad := badOwners.Load(r.Owner)
		if bad || strings.HasPrefix(r.Class, badPrefix) || strings.HasPrefix(r.OtherClass, badPrefix) {
			n++
			continue
		}
		t.Errorf("unexpected witness report:\n%s", r.Text)
	}
	t.Logf("%d reports, all from deliberate tests", n)
}

func panics(f func()) (p bool) {
	defer func() {
		if recover() != nil {
			p = true
		}
	}()
	f()
	return false
}

// testShell: the shell views show a held lock, the graph, and a profile
// with the acquisitions, contentions and hold times made meanwhile.
func testShell(t *kern.T) {
	run := func(line string) string {
		var b strings.Builder
		kern.RunCommand(&b, line)
		return b.String()
	}
	m := NewMutex("lock test shell")
	n := NewMutex("lock test shell inner")
	run("show lockstat reset")
	run("show lockstat on")
	defer SetProfiling(false)
	m.Lock()
	n.Lock()
	if witness.Enabled && witness.CurrentMode() != witness.Off {
		if out := run("show locks"); !strings.Contains(out, "lock test shell") {
			t.Errorf("show locks does not list the held mutex:\n%s", out)
		}
		if out := run("show witness"); !strings.Contains(out, "lock test shell inner") {
			t.Errorf("show witness lacks the new edge:\n%s", out)
		}
	}
	done := make(chan bool)
	var got int
	go func() { m.Lock(); got++; m.Unlock(); done <- true }() // contends, blocks
	for i := 0; i < 1000 && m.word.Load()&mtxContested == 0; i++ {
		time.Sleep(time.Millisecond)
	}
	n.Unlock()
	m.Unlock()
	<-done
	if got != 1 {
		t.Errorf("the contending goroutine did not run its section")
	}
	out := run("show lockstat")
	var line string
	var f []string
	for _, l := range strings.Split(out, "\n") {
		// "lock test shell  sleep mutex  2  1 ..."
		if x := strings.Fields(l); len(x) >= 8 && strings.Join(x[:5], " ") == "lock test shell sleep mutex" {
			line, f = l, x
		}
	}
	if len(f) < 8 || f[5] != "2" || f[6] != "1" {
		t.Errorf("show lockstat: want 2 acquisitions, 1 contention of \"lock test shell\":\n%s", out)
	}
	if s := run("show badstacks"); s == "" {
		t.Errorf("show badstacks printed nothing")
	}
	t.Logf("%s", strings.TrimSpace(line))
}

// testKTR: the trace buffer records a goroutine's own event on its CPU,
// a contended mutex's block and wake-up, and the scheduler's switches;
// the shell prints them.
func testKTR(t *kern.T) {
	old := kern.KTRSetMask(kern.KTRAll)
	defer kern.KTRSetMask(old)
	id := kern.KTRFormat("selftest: marker %d")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	kern.CriticalEnter()
	cpu := kern.CPUID()
	kern.KTR(kern.KTRLock, id, 4242, 0, 0, 0)
	kern.CriticalExit()
	// Look for the marker at once: each CPU's ring keeps its last 512
	// events, and on a loaded host the wait for contention below may
	// record more than that on the marker's CPU (every 1 ms sleep is a
	// block, a wake-up and switches).
	marker := false
	for _, e := range kern.KTREvents(4096) {
		if e.Text == "selftest: marker 4242" {
			marker = e.CPU == cpu
		}
	}
	m := NewMutex("lock test ktr")
	m.Lock()
	done := make(chan bool)
	var got int
	go func() { m.Lock(); got++; m.Unlock(); done <- true }()
	// Until the waiter has queued on the turnstile (it must: we hold the
	// mutex and sleep, so it stops spinning), however long a loaded host
	// takes to run it.
	for m.word.Load()&mtxContested == 0 {
		time.Sleep(time.Millisecond)
	}
	m.Unlock()
	<-done
	if got != 1 {
		t.Errorf("the contending goroutine did not run its section")
	}
	var blocks, wakes, switches bool
	for _, e := range kern.KTREvents(4096) {
		switch {
		case strings.HasPrefix(e.Text, `lock: sleep mutex "lock test ktr"`) && strings.Contains(e.Text, "blocks"):
			blocks = true
		case strings.HasPrefix(e.Text, `lock: sleep mutex "lock test ktr"`) && strings.Contains(e.Text, "wakes"):
			wakes = true
		case strings.HasPrefix(e.Text, "sched: switch"):
			switches = true
		}
	}
	if !marker || !blocks || !wakes || !switches {
		t.Errorf("ktr: marker on cpu %d %v, mutex block %v, wake %v, switches %v", cpu, marker, blocks, wakes, switches)
	}
	var b strings.Builder
	kern.RunCommand(&b, "show ktr 5")
	if n := strings.Count(b.String(), "\n"); n != 6 {
		t.Errorf("show ktr 5 printed %d lines:\n%s", n, b.String())
	}
	t.Logf("%s", strings.TrimSpace(b.String()))
}
