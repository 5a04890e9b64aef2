package callout

import (
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/lock"
	"github.com/smpgo/smpgo/witness"
)

// In-kernel self-tests: callouts fire once, on their CPU, not before
// their tick; Stop, Drain and Reset race with handlers firing on other
// CPUs with exact accounting; a callout's lock cancels a waiting handler;
// witness sees the callout locks and reports nothing about them.
func init() {
	kern.RegisterTest(kern.Test{Name: "Callout/FiresOnceOnItsCPU", Fn: testFiresOnce})
	kern.RegisterTest(kern.Test{Name: "Callout/StopRace", Fn: testStopRace})
	kern.RegisterTest(kern.Test{Name: "Callout/DrainRace", Fn: testDrainRace})
	kern.RegisterTest(kern.Test{Name: "Callout/ResetRace", Fn: testResetRace})
	kern.RegisterTest(kern.Test{Name: "Callout/LockCancels", Fn: testLockCancels})
	kern.RegisterTest(kern.Test{Name: "Callout/Rebind", Fn: testRebind})
	kern.RegisterTest(kern.Test{Name: "Callout/ShellAndWitness", Fn: testShellAndWitness})
}

// pinned runs fn on a goroutine locked to its thread and pinned to cpu,
// for each cpu in parallel, and waits.
func pinned(n int, fn func(cpu int)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(cpu int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			kern.PinToCPU(cpu % kern.NumCPU())
			defer kern.Unpin()
			fn(cpu)
		}(i)
	}
	wg.Wait()
}

// spinUntilTick busy-waits until the tick clock reaches t (bounded). It
// reads the TSC-based clock and yields nothing: a Gosched on a locked
// thread is a thread switch through the kernel, far slower than a tick.
func spinUntilTick(t int64) {
	end := kern.Nanotime() + int64(2*time.Second)
	for kern.Ticks() < t && kern.Nanotime() < end {
	}
}

// spinFor busy-waits for d.
func spinFor(d time.Duration) {
	end := kern.Nanotime() + int64(d)
	for kern.Nanotime() < end {
	}
}

// guard detects a handler running twice at once.
type guard struct{ in, overlap atomic.Int64 }

func (g *guard) enter() {
	if g.in.Add(1) != 1 {
		g.overlap.Add(1)
	}
}
func (g *guard) exit() { g.in.Add(-1) }

func testFiresOnce(t *kern.T) {
	const per = 40
	n := kern.NumCPU()
	type rec struct {
		c                Callout
		due              int64
		cpu              int
		fires, firedTick atomic.Int64
		firedCPU         atomic.Int64
	}
	recs := make([]*rec, 0, n*per)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < n*per; i++ {
		r := &rec{cpu: i % n}
		r.c.Init(nil)
		recs = append(recs, r)
	}
	for _, r := range recs {
		ticks := 1 + rng.Intn(12)
		r.due = kern.Ticks() + int64(ticks)
		r.c.ResetOn(r.cpu, ticks, func() {
			r.firedTick.Store(kern.Ticks())
			r.firedCPU.Store(int64(kern.CPUID()))
			r.fires.Add(1)
		})
	}
	if !kern.WaitFor(30*time.Second, func() bool {
		for _, r := range recs {
			if r.fires.Load() == 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("not every callout fired within 30 s")
	}
	time.Sleep(20 * kern.TickNs) // a second firing would show now
	var worst int64
	for i, r := range recs {
		if f := r.fires.Load(); f != 1 {
			t.Errorf("callout %d fired %d times", i, f)
		}
		if ft := r.firedTick.Load(); ft < r.due {
			t.Errorf("callout %d fired at tick %d, before its tick %d", i, ft, r.due)
		} else {
			worst = max(worst, ft-r.due)
		}
		if c := r.firedCPU.Load(); int(c) != r.cpu {
			t.Errorf("callout %d bound to CPU %d ran on CPU %d", i, r.cpu, c)
		}
		if r.c.Pending() || !r.c.Active() {
			t.Errorf("callout %d: pending %v active %v after firing", i, r.c.Pending(), r.c.Active())
		}
	}
	t.Logf("%d callouts on %d CPUs, worst lateness %d ticks", len(recs), n, worst)
}

// testStopRace: each CPU resets callouts bound to the next CPU for one
// tick and stops them around the moment they fire. Every reset ends in
// exactly one of: Stop returned true, or the handler ran once.
func testStopRace(t *kern.T) {
	const iters, batch = 60, 8
	n := kern.NumCPU()
	var resets, stopped, fired, overlaps atomic.Int64
	pinned(n, func(me int) {
		rng := rand.New(rand.NewSource(int64(me)))
		var cs [batch]Callout
		var gs [batch]guard
		for i := range cs {
			cs[i].Init(nil)
		}
		for it := 0; it < iters; it++ {
			for i := range cs {
				g := &gs[i]
				cs[i].ResetOn((me+1+i)%n, 1, func() { g.enter(); fired.Add(1); g.exit() })
				resets.Add(1)
			}
			// Stop somewhere from well before to just after the tick.
			spinUntilTick(kern.Ticks() + int64(rng.Intn(2)))
			spinFor(time.Duration(rng.Intn(1500)) * time.Microsecond)
			for i := range cs {
				if cs[i].Stop() {
					stopped.Add(1)
				}
			}
		}
		for i := range cs {
			cs[i].Drain()
			overlaps.Add(gs[i].overlap.Load())
		}
	})
	if r, s, f := resets.Load(), stopped.Load(), fired.Load(); s+f != r {
		t.Errorf("resets %d != stopped %d + fired %d", r, s, f)
	} else if s == 0 || f == 0 {
		t.Errorf("no race exercised: stopped %d, fired %d of %d", s, f, r)
	} else {
		t.Logf("%d resets: %d stopped, %d fired", r, s, f)
	}
	if o := overlaps.Load(); o != 0 {
		t.Errorf("a handler overlapped itself %d times", o)
	}
}

// testDrainRace: a self-rearming handler on one CPU, drained from
// another at random moments; after Drain returns the handler must not
// run. Sometimes the handler is slow, so Drain has to wait for it.
func testDrainRace(t *kern.T) {
	const iters = 40
	n := kern.NumCPU()
	var after, runs, waited atomic.Int64
	pinned(n, func(me int) {
		rng := rand.New(rand.NewSource(int64(me) + 100))
		hrng := rand.New(rand.NewSource(int64(me) + 150)) // the handler's own
		var c Callout
		c.Init(nil)
		var drained atomic.Bool
		var g guard
		var h func()
		h = func() {
			g.enter()
			if drained.Load() {
				after.Add(1)
			}
			runs.Add(1)
			if hrng.Intn(4) == 0 {
				spinFor(time.Duration(hrng.Intn(2000)) * time.Microsecond)
			}
			c.Reset(1, h)
			g.exit()
		}
		target := (me + 1) % n
		for it := 0; it < iters; it++ {
			drained.Store(false)
			c.ResetOn(target, 1, h)
			spinUntilTick(kern.Ticks() + 1 + int64(rng.Intn(3)))
			spinFor(time.Duration(rng.Intn(1500)) * time.Microsecond)
			before := cpus[target].drainWaits.Load()
			c.Drain()
			drained.Store(true)
			if cpus[target].drainWaits.Load() != before {
				waited.Add(1)
			}
			if c.Pending() {
				t.Errorf("pending after Drain")
			}
		}
		time.Sleep(3 * kern.TickNs)
		if g.overlap.Load() != 0 {
			t.Errorf("handler overlapped itself %d times", g.overlap.Load())
		}
	})
	if a := after.Load(); a != 0 {
		t.Errorf("a handler ran %d times after Drain returned", a)
	}
	if runs.Load() == 0 {
		t.Errorf("the handlers never ran")
	}
	t.Logf("%d drains, %d handler runs, Drain waited for a running handler at least %d times",
		iters*n, runs.Load(), waited.Load())
}

// testResetRace: several CPUs Reset (and rebind) the same callouts while
// they fire; a handler never overlaps itself, each run was requested by a
// Reset, and a final Drain leaves nothing pending.
func testResetRace(t *kern.T) {
	const shared, iters = 4, 250
	n := kern.NumCPU()
	var cs [shared]Callout
	var gs [shared]guard
	var resets, cancelled, fired atomic.Int64
	for i := range cs {
		cs[i].Init(nil)
	}
	pinned(n, func(me int) {
		rng := rand.New(rand.NewSource(int64(me) + 200))
		for it := 0; it < iters; it++ {
			i := rng.Intn(shared)
			g := &gs[i]
			h := func() { g.enter(); fired.Add(1); g.exit() }
			var was bool
			if rng.Intn(2) == 0 {
				was = cs[i].ResetOn(rng.Intn(n), 1+rng.Intn(2), h)
			} else {
				was = cs[i].Reset(1, h)
			}
			resets.Add(1)
			if was {
				cancelled.Add(1)
			}
			if rng.Intn(8) == 0 {
				spinUntilTick(kern.Ticks() + 1)
			}
		}
	})
	// Let the last ones fire, then drain.
	kern.WaitFor(5*time.Second, func() bool {
		for i := range cs {
			if cs[i].Pending() {
				return false
			}
		}
		return true
	})
	var stopped int64
	for i := range cs {
		if cs[i].Drain() {
			stopped++
		}
		if gs[i].overlap.Load() != 0 {
			t.Errorf("callout %d overlapped itself %d times", i, gs[i].overlap.Load())
		}
	}
	// Each Reset either replaced a pending run (cancelled) or added one,
	// which fired or was drained.
	if r, c, f := resets.Load(), cancelled.Load(), fired.Load(); r != c+f+stopped {
		t.Errorf("resets %d != replaced %d + fired %d + drained %d", r, c, f, stopped)
	} else {
		t.Logf("%d resets: %d replaced a pending run, %d fired, %d drained", r, c, f, stopped)
	}
}

// testLockCancels: a callout with a mutex. Stopped with the mutex held
// after its tick has passed, the handler (due, waiting for the mutex) is
// cancelled: Stop always reports true and the handler never runs. Left
// alone, the handler runs with the mutex held.
func testLockCancels(t *kern.T) {
	const iters = 50
	n := kern.NumCPU()
	var mu lock.Mutex
	mu.Init("callout-test")
	var c Callout
	c.Init(&mu)
	var fired, unowned atomic.Int64
	h := func() {
		if !mu.Owned() {
			unowned.Add(1)
		}
		fired.Add(1)
	}
	falseStops, waiting := 0, 0
	pinned(1, func(int) {
		for it := 0; it < iters; it++ {
			mu.Lock()
			c.ResetOn((it+1)%n, 1, h)
			// Until the softclock has taken it and waits for mu (bounded:
			// it may not get there).
			end := kern.Nanotime() + int64(time.Second)
			for c.Pending() && kern.Nanotime() < end {
				spinFor(100 * time.Microsecond)
			}
			if !c.Pending() {
				waiting++
			}
			if !c.Stop() {
				falseStops++
			}
			mu.Unlock()
			// Let a softclock waiting for mu see the cancellation before
			// mu is taken again (else it starves behind this loop). Drain
			// need not wait for it: a cancelled handler will not run.
			kern.WaitFor(5*time.Second, func() bool { return !c.inSoftclock() })
		}
	})
	c.Drain()
	if fired.Load() != 0 || falseStops != 0 {
		t.Errorf("with the lock held: %d handler runs, %d Stops returned false", fired.Load(), falseStops)
	}
	for it := 0; it < 20; it++ {
		c.ResetOn(it%n, 1, h)
	}
	if !kern.WaitFor(10*time.Second, func() bool { return fired.Load() == 1 }) {
		t.Errorf("handler did not run once unlocked: %d", fired.Load())
	}
	c.Drain()
	if unowned.Load() != 0 {
		t.Errorf("handler ran without its lock %d times", unowned.Load())
	}
	t.Logf("%d stops under the lock, %d of them cancelled a handler waiting for it", iters, waiting)
}

// testRebind: ResetOn moves a callout to each CPU in turn and it runs
// there, while another callout rearming itself is rebound from every CPU
// as it fires (deferred migration: never on two CPUs at once).
func testRebind(t *kern.T) {
	n := kern.NumCPU()
	var c Callout
	c.Init(nil)
	var ran atomic.Int64
	ran.Store(-1)
	for k := 0; k < n; k++ {
		ran.Store(-1)
		c.ResetOn(k, 1, func() { ran.Store(int64(kern.CPUID())) })
		if !kern.WaitFor(10*time.Second, func() bool { return ran.Load() >= 0 }) {
			t.Fatalf("callout bound to CPU %d did not run", k)
		}
		if r := ran.Load(); r != int64(k) {
			t.Errorf("callout bound to CPU %d ran on CPU %d", k, r)
		}
		if c.CPU() != k {
			t.Errorf("CPU() = %d, want %d", c.CPU(), k)
		}
	}
	var self Callout
	self.Init(nil)
	var g guard
	var runs atomic.Int64
	var h func()
	h = func() { g.enter(); runs.Add(1); self.Reset(1, h); g.exit() }
	self.ResetOn(0, 1, h)
	pinned(n, func(me int) {
		rng := rand.New(rand.NewSource(int64(me) + 300))
		for i := 0; i < 100; i++ {
			self.ResetOn(rng.Intn(n), 1, h)
			spinUntilTick(kern.Ticks() + int64(rng.Intn(2)))
		}
	})
	// The resets keep pushing the deadline one tick ahead, so on few CPUs
	// the handler may not have run yet (smp2 saw 0 runs): once they stop,
	// the self-rearming callout runs on its own.
	if !kern.WaitFor(10*time.Second, func() bool { return runs.Load() > 0 }) {
		t.Errorf("self-rearming callout did not run within 10 s after the rebinding stopped")
	}
	self.Drain()
	if g.overlap.Load() != 0 {
		t.Errorf("rebound handler overlapped itself %d times", g.overlap.Load())
	}
	if runs.Load() == 0 {
		t.Errorf("rebound handler never ran")
	}
	var migr int64
	for _, s := range CPUStats() {
		migr += s.Migrations
	}
	t.Logf("self-rearming callout: %d runs; %d migrations in all", runs.Load(), migr)
}

func testShellAndWitness(t *kern.T) {
	var b strings.Builder
	kern.RunCommand(&b, "show callout")
	out := b.String()
	for i := 0; i < kern.NumCPU(); i++ {
		if !strings.Contains(out, fmt.Sprintf("softclock%d", i)) {
			t.Errorf("show callout lacks softclock%d:\n%s", i, out)
		}
	}
	for _, want := range []string{"pending", "fired", "stops", "late"} {
		if !strings.Contains(out, want) {
			t.Errorf("show callout lacks %q:\n%s", want, out)
		}
	}
	for _, r := range witness.Reports() {
		if !strings.HasPrefix(r.Class, "callout") && !strings.HasPrefix(r.Lock, "callout") {
			continue
		}
		if r.RuntimeBlockInCritical() {
			t.Logf("not ours: %s", r.Why)
			continue
		}
		t.Errorf("witness report on a callout lock: %+v", r)
	}
}
