package ithread

import (
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/lock"
)

// In-kernel self-tests: what only (emulated) hardware can show. Software
// interrupts (SoftSource: a fixed IPI with the event's vector, as an MSI
// arrives) drive the handler and storm tests; the RTC's periodic
// interrupt (ISA IRQ 8) drives the I/O APIC routing test.
func init() {
	kern.RegisterTest(kern.Test{Name: "Intr/Handlers", Fn: testHandlers})
	kern.RegisterTest(kern.Test{Name: "Intr/Storm", Fn: testStorm})
	kern.RegisterTest(kern.Test{Name: "Intr/EachCPU", Fn: testEachCPU})
	kern.RegisterTest(kern.Test{Name: "Intr/IOAPICRTC", Fn: testRTC})
	kern.RegisterTest(kern.Test{Name: "Intr/Shell", Fn: testShell})
}

// softDevice models a device with a cause register per handler: raise
// adds to every register, then interrupts; each handler takes its
// register's whole value (read-to-clear) and adds it to its tally. Every
// raise is accounted for exactly once however interrupts coalesce.
type softDevice struct {
	src            *SoftSource
	causes, tally  [3]atomic.Uint64
	giantViolation atomic.Bool
	threadCPU      atomic.Int64
}

func (d *softDevice) raise() {
	for i := range d.causes {
		d.causes[i].Add(1)
	}
	d.src.Trigger()
}

func (d *softDevice) take(i int) { d.tally[i].Add(d.causes[i].Swap(0)) }

// handlers returns a filter-only handler, a threaded MPSAFE one and a
// threaded Giant one.
func (d *softDevice) handlers() []*Handler {
	return []*Handler{
		{Name: "filter", Flags: MPSAFE, Filter: func() int { d.take(0); return FilterHandled }},
		{Name: "mpsafe", Flags: MPSAFE, Func: func() { d.take(1); d.threadCPU.Store(int64(kern.CPUID())) }},
		{Name: "giant", Func: func() {
			if !lock.Giant.Owned() {
				d.giantViolation.Store(true)
			}
			d.take(2)
		}},
	}
}

// settle re-triggers until every tally reaches n (an interrupt dropped
// while throttled leaves causes behind, as a real device would).
func (d *softDevice) settle(t *kern.T, n uint64) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		done := true
		for i := range d.tally {
			if d.tally[i].Load() < n {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tallies %d/%d/%d, want %d each", d.tally[0].Load(), d.tally[1].Load(), d.tally[2].Load(), n)
		}
		d.src.Trigger()
		time.Sleep(2 * time.Millisecond)
	}
}

func newSoftDevice(t *kern.T, name string, cpu int, threshold int64) (*Event, *softDevice) {
	ev, src, err := NewSoftEvent(name, cpu)
	if err != nil {
		t.Fatalf("NewSoftEvent: %v", err)
	}
	ev.StormThreshold.Store(threshold)
	d := &softDevice{src: src}
	d.threadCPU.Store(-1)
	for _, h := range d.handlers() {
		if err := ev.AddHandler(h); err != nil {
			t.Fatalf("AddHandler: %v", err)
		}
	}
	return ev, d
}

// A filter-only, a threaded MPSAFE and a threaded Giant handler on one
// event under a burst of interrupts: each accounts for every raise, the
// filter ran once per interrupt taken, the threaded handlers once per
// thread wake-up, the Giant one with Giant held, all on the bound CPU.
func testHandlers(t *kern.T) {
	cpu := kern.NumCPU() - 1
	ev, d := newSoftDevice(t, "test-handlers", cpu, 0)
	defer ev.Remove()
	const n = 500
	for i := 0; i < n; i++ {
		d.raise()
		if i%50 == 0 {
			runtime.Gosched()
		}
	}
	d.settle(t, n)
	time.Sleep(5 * time.Millisecond) // let the last wake-up finish counting
	s := ev.Stats()
	if s.Count == 0 || s.Count > d.src.Sent() {
		t.Errorf("interrupts taken %d, sent %d", s.Count, d.src.Sent())
	}
	if s.PerCPU[cpu] != s.Count {
		t.Errorf("per-CPU counts %v: want all %d on CPU %d", s.PerCPU, s.Count, cpu)
	}
	h := s.Handlers
	if h[0].Filter != s.Count {
		t.Errorf("filter ran %d times for %d interrupts", h[0].Filter, s.Count)
	}
	if h[1].Runs != h[2].Runs || h[1].Runs == 0 || h[1].Runs > s.Wakeups {
		t.Errorf("threaded runs mpsafe=%d giant=%d, wake-ups %d", h[1].Runs, h[2].Runs, s.Wakeups)
	}
	if s.Stray != 0 || s.Storms != 0 {
		t.Errorf("stray %d storms %d, want none", s.Stray, s.Storms)
	}
	if d.giantViolation.Load() {
		t.Errorf("the non-MPSAFE handler ran without Giant")
	}
	if c := d.threadCPU.Load(); c != int64(cpu) {
		t.Errorf("interrupt thread ran on CPU %d, want %d", c, cpu)
	}
	t.Logf("%d raises, %d sent, %d taken, %d thread wake-ups, latency avg %v max %v",
		n, d.src.Sent(), s.Count, s.Wakeups, time.Duration(s.Latency), time.Duration(s.LatencyHi))
}

// A storm (threshold 20 per 10 ms) throttles the source; afterwards the
// event still works and every raise is accounted for. The sender runs on
// the event's CPU, so each self-IPI is taken as soon as it is sent (IPIs
// sent from elsewhere while the target is not running coalesce in its
// IRR, and TCG often does not run it).
func testStorm(t *kern.T) {
	ev, d := newSoftDevice(t, "test-storm", 0, 20)
	defer ev.Remove()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := kern.PinToCPU(0); err != nil {
		t.Fatalf("PinToCPU: %v", err)
	}
	defer kern.Unpin()
	const n = 3000
	for i := 0; i < n; i++ {
		d.raise()
	}
	d.settle(t, n)
	s := ev.Stats()
	if s.Storms == 0 {
		t.Errorf("no storm detected: %d interrupts taken from %d sent", s.Count, d.src.Sent())
	}
	if ev.throttled.Load() {
		time.Sleep(50 * time.Millisecond)
	}
	if ev.throttled.Load() {
		t.Errorf("still throttled after the pause")
	}
	before := d.tally[0].Load()
	d.raise()
	d.settle(t, before+1)
	t.Logf("%d raises: %d sent, %d taken, %d storms, %d dropped while throttled", n, d.src.Sent(), s.Count, s.Storms, s.Dropped)
}

// The event bound to each CPU in turn: interrupts arrive there, and the
// interrupt thread follows.
func testEachCPU(t *kern.T) {
	ev, d := newSoftDevice(t, "test-each-cpu", 0, 0)
	defer ev.Remove()
	total := uint64(0)
	for cpu := 0; cpu < kern.NumCPU(); cpu++ {
		if err := ev.Bind(cpu); err != nil {
			t.Fatalf("Bind(%d): %v", cpu, err)
		}
		if c, _ := ev.CPU(); c != cpu {
			t.Fatalf("bound to %d, want %d", c, cpu)
		}
		before := ev.Stats().PerCPU[cpu]
		for i := 0; i < 20; i++ {
			d.raise()
		}
		total += 20
		d.settle(t, total)
		deadline := time.Now().Add(5 * time.Second)
		for d.threadCPU.Load() != int64(cpu) && time.Now().Before(deadline) {
			d.raise()
			total++
			time.Sleep(time.Millisecond)
		}
		d.settle(t, total)
		if got := ev.Stats().PerCPU[cpu] - before; got == 0 {
			t.Errorf("CPU %d: no interrupt arrived there", cpu)
		}
		if c := d.threadCPU.Load(); c != int64(cpu) {
			t.Errorf("CPU %d: interrupt thread on CPU %d", cpu, c)
		}
	}
	t.Logf("per CPU: %v", ev.Stats().PerCPU)
}

func testShell(t *kern.T) {
	ev, d := newSoftDevice(t, "test-shell", 0, 0)
	defer ev.Remove()
	d.raise()
	d.settle(t, 1)
	var b strings.Builder
	kern.RunCommand(&b, "intr")
	out := b.String()
	for _, want := range []string{"test-shell", "soft vec", "handler giant", "Giant", "MPSAFE", "spurious"} {
		if !strings.Contains(out, want) {
			t.Errorf("intr output lacks %q:\n%s", want, out)
		}
	}
}
