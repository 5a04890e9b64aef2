package lock

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/kern"
)

// Priority lending self-tests (kern/prio.go): the classic priority
// inversion, with lending and without it, and lending down a chain of
// owners with un-lending on release.
//
// The threads are goroutines locked to their kernel threads with a
// priority (kern.SetPriority). Two levels of scheduling meet here: the
// kernel picks threads by priority, but a thread runs Go code only with a
// P from the Go scheduler, whose hand-offs go through Ms of the default
// priority. So the tests give the runtime spare Ps (GOMAXPROCS above the
// CPU count), and the threads that must run while a CPU-bound
// higher-priority thread starves every default-priority thread on their
// CPU keep their P and stay out of Go's preemption (kern.PinGoroutine):
// they wait with raw nanosleeps and never block in Go then.
func init() {
	kern.RegisterTest(kern.Test{Name: "Prio/InversionLending", Fn: func(t *kern.T) { testInversion(t, true) }})
	kern.RegisterTest(kern.Test{Name: "Prio/InversionWithoutLendingStarves", Fn: func(t *kern.T) { testInversion(t, false) }})
	kern.RegisterTest(kern.Test{Name: "Prio/LendingChain", Fn: testLendChain})
	kern.RegisterTest(kern.Test{Name: "Prio/RWInversionLending", Fn: testRWInversion})
	kern.RegisterTest(kern.Test{Name: "Prio/RWReadersAndSXDoNotLend", Fn: testNoLendRWReadSX})
}

// inversionLock is the lock of an inversion run: low holds it with hold,
// high waits for it with wait.
type inversionLock struct {
	name                       string
	hold, unhold, wait, unwait func()
}

func mutexInversion() inversionLock {
	m := NewMutex("prio inversion")
	return inversionLock{"mutex", m.Lock, m.Unlock, m.Lock, m.Unlock}
}

// Priorities of the tests' threads (lower is better).
const (
	priLow    = 200 // timeshare, below the default
	priMedium = 100 // kernel class: above every default thread
	priHigh   = 50  // realtime
	priCoord  = 40  // the test's coordinator

	prioReps      = 5
	lowWorkChunks = 200 // the low thread's critical section
	starveChunks  = 40  // medium's chunks that show low starving
)

// rawSleep blocks the thread in the kernel without giving up its P.
func rawSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// spinChunk is a chunk of CPU-bound work.
func spinChunk(x uint64) uint64 {
	for k := 0; k < 2000; k++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

var prioSink atomic.Uint64

// bindThread locks the goroutine to its thread for good (the thread exits
// with it), pins it to cpu (cpu < 0: any) and sets its priority.
func bindThread(cpu, pri int) error {
	runtime.LockOSThread()
	if cpu >= 0 {
		if err := kern.PinToCPU(cpu); err != nil {
			return err
		}
	}
	return kern.SetPriority(pri)
}

// withSpareProcs runs f with n spare Ps and lending set to lending, and
// with the garbage collector off: a pinned thread waiting in raw
// nanosleeps keeps its P out of a stop-the-world, so a GC cycle starting
// meanwhile (any goroutine's allocation can start one) stops every other
// goroutine until the pinned thread's deadline, 20 s later. That was
// "high did not block on the mutex" in busy smoke boots; GOGC=1 made it
// fail every time.
func withSpareProcs(n int, lending bool, f func()) {
	runtime.GC() // finish any cycle in progress
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	was := kern.SetLending(lending)
	defer kern.SetLending(was)
	procs := runtime.GOMAXPROCS(kern.NumCPU() + n)
	defer runtime.GOMAXPROCS(procs)
	f()
}

// waitGroupOrFail waits for wg for up to d.
func waitGroupOrFail(t *kern.T, wg *sync.WaitGroup, d time.Duration, what string) bool {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
		return true
	case <-time.After(d):
		t.Errorf("%s: threads did not finish in %v", what, d)
		return false
	}
}

// testInversion: low (200) holds a mutex, high (50) blocks on it, and a
// CPU-bound medium (100) thread runs on the same CPU. With lending, low
// runs at high's priority and finishes its critical section while medium
// is still running, then (with another CPU to run the Go scheduler's
// hand-off) high gets the lock while medium still runs. Without lending,
// low makes no progress at all while medium runs, and high gets the lock
// only after medium stops.
func testInversion(t *kern.T, lending bool) {
	withSpareProcs(4, lending, func() {
		l0, _, _ := kern.PrioCounts()
		for rep := 0; rep < prioReps && !t.Failed(); rep++ {
			inversionOnce(t, lending, rep, mutexInversion())
		}
		if l1, _, _ := kern.PrioCounts(); lending && l1 == l0 {
			t.Errorf("the kernel's lend counter did not move (%d)", l1)
		}
	})
}

func inversionOnce(t *kern.T, lending bool, rep int, m inversionLock) {
	cpu := kern.NumCPU() - 1
	deadline := kern.Nanotime() + int64(20*time.Second)
	var (
		lowHeld, lowFinished, lowFinishedWhileMed  atomic.Bool
		medRunning, medStop, highGot, highWhileMed atomic.Bool
		lowFrozen                                  atomic.Bool
		lowProgress, medIters                      atomic.Int64
		lowTid, highTid                            atomic.Int64
		lowLent, lowBaseAfter, lowEffAfter         atomic.Int64
		highLentToLow                              atomic.Int64
		wg                                         sync.WaitGroup
	)
	errs := make(chan error, 8)
	highGo := make(chan struct{})
	timeLeft := func() bool { return kern.Nanotime() < deadline }

	wg.Add(4)
	go func() { // high
		defer wg.Done()
		if err := bindThread(cpu, priHigh); err != nil {
			errs <- err
			return
		}
		highTid.Store(int64(kern.Gettid()))
		<-highGo
		m.wait()
		highWhileMed.Store(medRunning.Load() && !medStop.Load())
		highGot.Store(true)
		m.unwait()
	}()
	go func() { // low
		defer wg.Done()
		if err := bindThread(cpu, priLow); err != nil {
			errs <- err
			return
		}
		lowTid.Store(int64(kern.Gettid()))
		m.hold()
		lowHeld.Store(true)
		kern.PinGoroutine()
		for !medRunning.Load() && timeLeft() {
			rawSleep(time.Millisecond)
		}
		x := uint64(rep + 1)
		for i := 0; i < lowWorkChunks; i++ {
			x = spinChunk(x)
			lowProgress.Add(1)
		}
		_, eff := kern.Priority()
		lowLent.Store(int64(eff))
		lowFinishedWhileMed.Store(!medStop.Load())
		lowFinished.Store(true)
		m.unhold()
		kern.UnpinGoroutine()
		b, e := kern.Priority()
		lowBaseAfter.Store(int64(b))
		lowEffAfter.Store(int64(e))
		prioSink.Add(x)
	}()
	medium := func() {
		defer wg.Done()
		if err := bindThread(cpu, priMedium); err != nil {
			errs <- err
			medRunning.Store(true)
			return
		}
		kern.PinGoroutine()
		medRunning.Store(true)
		x := uint64(7)
		for !medStop.Load() && timeLeft() {
			x = spinChunk(x)
			medIters.Add(1)
		}
		kern.UnpinGoroutine()
		prioSink.Add(x)
	}
	go func() { // the coordinator
		defer wg.Done()
		defer medStop.Store(true)
		if err := bindThread(cpu, priCoord); err != nil {
			errs <- err
			wg.Done() // medium never started
			return
		}
		if !kern.WaitFor(10*time.Second, func() bool { return lowHeld.Load() && highTid.Load() != 0 }) {
			errs <- fmt.Errorf("low or high did not start")
			wg.Done()
			return
		}
		close(highGo)
		if !kern.WaitFor(10*time.Second, func() bool { return kern.ThreadOnTurnstile(int(highTid.Load())) }) {
			errs <- fmt.Errorf("high did not block on the %s", m.name)
			wg.Done()
			return
		}
		_, eff := kern.ThreadPriority(int(lowTid.Load()))
		highLentToLow.Store(int64(eff))
		// From here on no Go-level waits: medium may starve every
		// default-priority thread on this CPU.
		go medium()
		kern.PinGoroutine()
		defer kern.UnpinGoroutine()
		for !medRunning.Load() && timeLeft() {
			rawSleep(time.Millisecond)
		}
		if lending {
			for !(lowFinished.Load() && (kern.NumCPU() == 1 || highGot.Load())) && timeLeft() {
				rawSleep(time.Millisecond)
			}
			return
		}
		p0, m0 := lowProgress.Load(), medIters.Load()
		for medIters.Load() < m0+starveChunks && timeLeft() {
			rawSleep(time.Millisecond)
		}
		lowFrozen.Store(lowProgress.Load() == p0 && !lowFinished.Load())
	}()
	if !waitGroupOrFail(t, &wg, 60*time.Second, fmt.Sprintf("%s rep %d", m.name, rep)) {
		return
	}
	close(errs)
	for err := range errs {
		t.Errorf("%s rep %d: %v", m.name, rep, err)
	}
	if t.Failed() {
		return
	}
	if kern.Nanotime() >= deadline {
		t.Errorf("%s rep %d: ran into the 20 s deadline", m.name, rep)
	}
	if !lowFinished.Load() || !highGot.Load() {
		t.Errorf("%s rep %d: low finished %v, high got the lock %v", m.name, rep, lowFinished.Load(), highGot.Load())
	}
	if b, e := lowBaseAfter.Load(), lowEffAfter.Load(); b != priLow || e != priLow {
		t.Errorf("%s rep %d: low's priority after unlocking: base %d effective %d, want %d (un-lent)", m.name, rep, b, e, priLow)
	}
	if lending {
		if got := highLentToLow.Load(); got != priHigh {
			t.Errorf("%s rep %d: low's effective priority with high blocked: %d, want %d", m.name, rep, got, priHigh)
		}
		if got := lowLent.Load(); got != priHigh {
			t.Errorf("%s rep %d: low's effective priority at the end of its section: %d, want %d", m.name, rep, got, priHigh)
		}
		if !lowFinishedWhileMed.Load() {
			t.Errorf("%s rep %d: low finished its section only after medium stopped (no lending seen)", m.name, rep)
		}
		if kern.NumCPU() > 1 && !highWhileMed.Load() {
			t.Errorf("%s rep %d: high got the lock only after medium stopped", m.name, rep)
		}
		return
	}
	if got := highLentToLow.Load(); got != priLow {
		t.Errorf("%s rep %d: lending off, yet low's effective priority is %d", m.name, rep, got)
	}
	if !lowFrozen.Load() {
		t.Errorf("%s rep %d: low progressed while medium ran (%d chunks): not starved", m.name, rep, lowProgress.Load())
	}
	if lowFinishedWhileMed.Load() || highWhileMed.Load() {
		t.Errorf("rep %d: without lending, low finished (%v) or high got the lock (%v) while medium ran",
			rep, lowFinishedWhileMed.Load(), highWhileMed.Load())
	}
}

// testRWInversion: the inversion with an rw lock that low holds for
// writing: high blocks as a reader in odd repetitions and as a writer in
// even ones, and lends to low either way (a write owner is known; FreeBSD
// propagates to it from both turnstile queues).
func testRWInversion(t *kern.T) {
	withSpareProcs(4, true, func() {
		l0, _, _ := kern.PrioCounts()
		for rep := 0; rep < 2*prioReps && !t.Failed(); rep++ {
			r := NewRW("prio inversion rw")
			m := inversionLock{"rw, high writing", r.WLock, r.WUnlock, r.WLock, r.WUnlock}
			if rep%2 == 1 {
				m = inversionLock{"rw, high reading", r.WLock, r.WUnlock, r.RLock, r.RUnlock}
			}
			inversionOnce(t, true, rep, m)
			if r.l.word.Load() != rwUnlocked {
				t.Errorf("%s rep %d: lock left %s", m.name, rep, rwWordString(r.l.word.Load()))
			}
		}
		if l1, _, _ := kern.PrioCounts(); l1 == l0 {
			t.Errorf("the kernel's lend counter did not move (%d)", l1)
		}
	})
}

// testNoLendRWReadSX: nobody is lent to when low holds an rw lock for
// reading (readers are not tracked) or an sx lock exclusively (sleep
// queues do not propagate), while high waits for it as a writer; after a
// downgrade of a write hold, the writer that waits lends no longer.
func testNoLendRWReadSX(t *kern.T) {
	withSpareProcs(2, true, func() {
		for rep := 0; rep < prioReps && !t.Failed(); rep++ {
			r, x, d := NewRW("prio no lend rw"), NewSX("prio no lend sx"), NewRW("prio no lend downgrade")
			noLendOnce(t, rep, "rw held shared", &r.l, r.RLock, r.RUnlock, nil, r.WLock, r.WUnlock, false)
			noLendOnce(t, rep, "sx held exclusive", &x.l, x.XLock, x.XUnlock, nil, x.XLock, x.XUnlock, false)
			noLendOnce(t, rep, "rw downgraded", &d.l, d.WLock, d.RUnlock, d.Downgrade, d.WLock, d.WUnlock, true)
		}
	})
}

// noLendOnce: low (200) takes l with hold, high (50) blocks on it with
// wait, and low's effective priority is checked once high is queued (and,
// with lentFirst, that it was lent before low's downgrade, then given
// back by it).
func noLendOnce(t *kern.T, rep int, what string, l *rwcore, hold, unhold, downgrade, wait, unwait func(), lentFirst bool) {
	var (
		lowTid, highTid atomic.Int64
		wg              sync.WaitGroup
	)
	errs := make(chan error, 2)
	held, release, checked := make(chan struct{}), make(chan struct{}), make(chan struct{})
	wg.Add(2)
	go func() { // low
		defer wg.Done()
		if err := bindThread(-1, priLow); err != nil {
			errs <- err
			close(held)
			return
		}
		lowTid.Store(int64(kern.Gettid()))
		hold()
		close(held)
		if downgrade != nil {
			<-checked
			downgrade()
		}
		<-release
		unhold()
	}()
	go func() { // high
		defer wg.Done()
		if err := bindThread(-1, priHigh); err != nil {
			errs <- err
			return
		}
		highTid.Store(int64(kern.Gettid()))
		<-held
		wait()
		unwait()
	}()
	<-held
	// Until high has queued as a writer: it sets the bit under the queue's
	// chain lock and lends, if it does, before unlocking the chain; so
	// taking the chain lock once after seeing the bit orders us after it.
	queued := kern.WaitFor(20*time.Second, func() bool { return l.word.Load()&rwExclWait != 0 })
	ch := l.table.Lock(l.key())
	ch.Unlock()
	lowPri := func() int { _, e := kern.ThreadPriority(int(lowTid.Load())); return e }
	if !queued {
		t.Errorf("%s rep %d: high did not queue as a writer (%s)", what, rep, rwWordString(l.word.Load()))
	} else if lentFirst {
		if p := lowPri(); p != priHigh {
			t.Errorf("%s rep %d: the write owner was not lent high's priority: %d, want %d", what, rep, p, priHigh)
		}
	} else if p := lowPri(); p != priLow {
		t.Errorf("%s rep %d: low's effective priority %d with high waiting, want %d (not lent)", what, rep, p, priLow)
	}
	close(checked)
	if downgrade != nil && queued {
		// The downgrade gives back what was lent before it returns.
		if !kern.WaitFor(20*time.Second, func() bool { return lowPri() == priLow && rwSharers(l.word.Load()) == 1 }) {
			t.Errorf("%s rep %d: after the downgrade low is at %d (%s), want %d", what, rep, lowPri(), rwWordString(l.word.Load()), priLow)
		}
	}
	close(release)
	if !waitGroupOrFail(t, &wg, 30*time.Second, fmt.Sprintf("%s rep %d", what, rep)) {
		return
	}
	close(errs)
	for err := range errs {
		t.Errorf("%s rep %d: %v", what, rep, err)
	}
	if b, e := kern.ThreadPriority(int(lowTid.Load())); b != -1 && e != b {
		t.Errorf("%s rep %d: low still lent %d after releasing", what, rep, e)
	}
}

// testLendChain: A (50) waits for L1 held by B (200), B waits for L2
// held by C (200): C runs at 50 until it releases L2, then at 200 again;
// B keeps 50 while A waits, and 200 once it releases L1. Both orders of
// blocking (B first, then A; A first, then B) are run.
func testLendChain(t *kern.T) {
	withSpareProcs(4, true, func() {
		for rep := 0; rep < 2*prioReps && !t.Failed(); rep++ {
			chainOnce(t, rep)
		}
	})
}

func chainOnce(t *kern.T, rep int) {
	l1, l2 := NewMutex("prio chain 1"), NewMutex("prio chain 2")
	aFirst := rep%2 == 1
	var (
		aTid, bTid, cTid                  atomic.Int64
		cBase, cEff, bWithL2, bBase, bEff atomic.Int64
		aEff                              atomic.Int64
		wg                                sync.WaitGroup
	)
	errs := make(chan error, 4)
	cHeld, bHeld, cRelease := make(chan struct{}), make(chan struct{}), make(chan struct{})
	onTurnstile := func(tid *atomic.Int64) bool { return tid.Load() != 0 && kern.ThreadOnTurnstile(int(tid.Load())) }
	wg.Add(3)
	go func() { // C
		defer wg.Done()
		if err := bindThread(-1, priLow); err != nil {
			errs <- err
			close(cHeld)
			return
		}
		cTid.Store(int64(kern.Gettid()))
		l2.Lock()
		close(cHeld)
		<-cRelease
		l2.Unlock()
		b, e := kern.Priority()
		cBase.Store(int64(b))
		cEff.Store(int64(e))
	}()
	go func() { // B
		defer wg.Done()
		if err := bindThread(-1, priLow); err != nil {
			errs <- err
			close(bHeld)
			return
		}
		bTid.Store(int64(kern.Gettid()))
		l1.Lock()
		close(bHeld)
		<-cHeld
		if aFirst && !kern.WaitFor(10*time.Second, func() bool { return onTurnstile(&aTid) }) {
			errs <- fmt.Errorf("thread A did not block on L1")
		}
		l2.Lock()
		_, e := kern.Priority()
		bWithL2.Store(int64(e))
		l2.Unlock()
		l1.Unlock()
		b, e := kern.Priority()
		bBase.Store(int64(b))
		bEff.Store(int64(e))
	}()
	go func() { // A
		defer wg.Done()
		if err := bindThread(-1, priHigh); err != nil {
			errs <- err
			return
		}
		aTid.Store(int64(kern.Gettid()))
		<-bHeld
		if !aFirst && !kern.WaitFor(10*time.Second, func() bool { return onTurnstile(&bTid) }) {
			errs <- fmt.Errorf("thread B did not block on L2")
		}
		l1.Lock()
		_, e := kern.Priority()
		aEff.Store(int64(e))
		l1.Unlock()
	}()
	chained := kern.WaitFor(10*time.Second, func() bool {
		_, b := kern.ThreadPriority(int(bTid.Load()))
		_, c := kern.ThreadPriority(int(cTid.Load()))
		return onTurnstile(&aTid) && onTurnstile(&bTid) && b == priHigh && c == priHigh
	})
	if !chained {
		_, b := kern.ThreadPriority(int(bTid.Load()))
		_, c := kern.ThreadPriority(int(cTid.Load()))
		t.Errorf("rep %d: chain not lent: A waits %v, B waits %v, B at %d, C at %d (want %d)",
			rep, onTurnstile(&aTid), onTurnstile(&bTid), b, c, priHigh)
	}
	if chained && rep == 0 {
		checkThreadsView(t, int(cTid.Load()), priHigh, priLow)
	}
	close(cRelease)
	if !waitGroupOrFail(t, &wg, 30*time.Second, fmt.Sprintf("chain rep %d", rep)) {
		return
	}
	close(errs)
	for err := range errs {
		t.Errorf("rep %d: %v", rep, err)
	}
	if cBase.Load() != priLow || cEff.Load() != priLow {
		t.Errorf("rep %d: C after releasing L2: base %d effective %d, want %d", rep, cBase.Load(), cEff.Load(), priLow)
	}
	if bWithL2.Load() != priHigh {
		t.Errorf("rep %d: B holding L1 (A waiting) and L2: effective %d, want %d", rep, bWithL2.Load(), priHigh)
	}
	if bBase.Load() != priLow || bEff.Load() != priLow {
		t.Errorf("rep %d: B after releasing L1: base %d effective %d, want %d", rep, bBase.Load(), bEff.Load(), priLow)
	}
	if aEff.Load() != priHigh {
		t.Errorf("rep %d: A holding L1: effective %d, want %d", rep, aEff.Load(), priHigh)
	}
}

// checkThreadsView checks the shell's threads line of thread tid: the
// effective priority eff marked lent, the base priority, the class and
// the bound mark.
func checkThreadsView(t *kern.T, tid, eff, base int) {
	var b strings.Builder
	kern.RunCommand(&b, "threads")
	for _, line := range strings.Split(b.String(), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != fmt.Sprint(tid) {
			continue
		}
		if f[3] != fmt.Sprintf("%d*", eff) || f[4] != fmt.Sprint(base) || f[5] != kern.PriClass(base)+"+" {
			t.Errorf("threads: thread %d shows %q, want priority %d* base %d class %s+", tid, line, eff, base, kern.PriClass(base))
		}
		return
	}
	t.Errorf("threads: no line for thread %d:\n%s", tid, b.String())
}
