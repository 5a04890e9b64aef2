package taskqueue

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// In-kernel self-tests: coalescing with exact counts from every CPU,
// re-enqueue while running, Drain and DrainAll, a pool's threads running
// at once, timeout tasks and their cancellation.
func init() {
	kern.RegisterTest(kern.Test{Name: "Taskq/Coalesce", Fn: testCoalesce})
	kern.RegisterTest(kern.Test{Name: "Taskq/Drain", Fn: testDrain})
	kern.RegisterTest(kern.Test{Name: "Taskq/Pool", Fn: testPool})
	kern.RegisterTest(kern.Test{Name: "Taskq/Timeout", Fn: testTimeout})
	kern.RegisterTest(kern.Test{Name: "Taskq/ShellAndWitness", Fn: testShell})
}

// gate is a task that blocks its thread until opened.
type gate struct {
	t       Task
	started atomic.Bool
	open    chan struct{}
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	g.t.Init(func(int) { g.started.Store(true); <-g.open })
	return g
}

func testCoalesce(t *kern.T) {
	q, err := New("test-coalesce", 1, -1)
	if err != nil {
		t.Fatalf("%v", err)
	}
	g := newGate()
	q.Enqueue(&g.t)
	if !kern.WaitFor(10*time.Second, g.started.Load) {
		t.Fatalf("gate task did not start")
	}
	// The only thread is busy: enqueues from every CPU coalesce.
	var runs, total atomic.Int64
	var second chan struct{}
	var x Task
	x.Init(func(p int) {
		runs.Add(1)
		total.Add(int64(p))
		if second != nil {
			<-second
		}
	})
	const per = 500
	n := kern.NumCPU()
	var coalesced atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < n; c++ {
		wg.Add(1)
		go func(cpu int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if q.Enqueue(&x) {
					coalesced.Add(1)
				}
			}
		}(c)
	}
	wg.Wait()
	if c := coalesced.Load(); c != int64(n*per-1) {
		t.Errorf("coalesced %d of %d enqueues, want all but the first", c, n*per)
	}
	second = make(chan struct{})
	close(g.open)
	if !kern.WaitFor(10*time.Second, func() bool { return runs.Load() == 1 }) {
		t.Fatalf("task did not run")
	}
	if p := total.Load(); p != int64(n*per) {
		t.Errorf("one run saw pending %d, want %d", p, n*per)
	}
	// Enqueued again while it runs (blocked on second): runs once more.
	for i := 0; i < 10; i++ {
		q.Enqueue(&x)
	}
	close(second)
	q.Drain(&x)
	if r, p := runs.Load(), total.Load(); r != 2 || p != int64(n*per+10) {
		t.Errorf("after re-enqueue while running: %d runs, pending sum %d; want 2, %d", r, p, n*per+10)
	}
	s := q.Stats()
	if s.Enqueues != int64(n*per+11) || s.Runs != 3 || s.Coalesced != int64(n*per-1+9) {
		t.Errorf("stats %+v", s)
	}
	t.Logf("%d enqueues from %d CPUs coalesced into 1 run", n*per, n)
}

func testDrain(t *kern.T) {
	q, err := New("test-drain", 2, -1)
	if err != nil {
		t.Fatalf("%v", err)
	}
	const tasks = 16
	var ts [tasks]Task
	var finished [tasks]atomic.Int64
	var early atomic.Int64
	for round := 0; round < 20; round++ {
		for i := range ts {
			i := i
			ts[i].Init(func(int) {
				time.Sleep(time.Duration(i%4) * time.Millisecond)
				finished[i].Add(1)
			})
			q.Enqueue(&ts[i])
		}
		// Drain each: when it returns, that task has finished this round.
		for i := tasks - 1; i >= 0; i-- {
			q.Drain(&ts[i])
			if finished[i].Load() != int64(round+1) {
				early.Add(1)
			}
		}
	}
	if e := early.Load(); e != 0 {
		t.Errorf("Drain returned %d times before its task finished", e)
	}
	// DrainAll with tasks that enqueue others.
	var chain [8]Task
	var done atomic.Int64
	for i := range chain {
		i := i
		chain[i].Init(func(int) {
			done.Add(1)
			if i+1 < len(chain) {
				q.Enqueue(&chain[i+1])
			}
		})
	}
	q.Enqueue(&chain[0])
	q.DrainAll()
	if d := done.Load(); d != int64(len(chain)) {
		t.Errorf("DrainAll returned after %d of %d chained tasks", d, len(chain))
	}
	// Cancel a queued task behind a gate.
	g := newGate()
	q2, _ := New("test-cancel", 1, 0)
	q2.Enqueue(&g.t)
	kern.WaitFor(10*time.Second, g.started.Load)
	var c Task
	var cran atomic.Bool
	c.Init(func(int) { cran.Store(true) })
	q2.Enqueue(&c)
	q2.Enqueue(&c)
	if p, running := q2.Cancel(&c); p != 2 || running {
		t.Errorf("Cancel = %d, %v; want 2, false", p, running)
	}
	if _, running := q2.Cancel(&g.t); !running {
		t.Errorf("Cancel of the running gate does not say running")
	}
	close(g.open)
	q2.DrainAll()
	if cran.Load() {
		t.Errorf("cancelled task ran")
	}
}

// testPool: a queue of N threads runs N blocking tasks at once.
func testPool(t *kern.T) {
	n := max(kern.NumCPU(), 2)
	q, err := New("test-pool", n, -1)
	if err != nil {
		t.Fatalf("%v", err)
	}
	var inside, peak atomic.Int64
	all := make(chan struct{})
	var arrived atomic.Int64
	ts := make([]Task, 2*n)
	for i := range ts {
		ts[i].Init(func(int) {
			v := inside.Add(1)
			for {
				p := peak.Load()
				if v <= p || peak.CompareAndSwap(p, v) {
					break
				}
			}
			if arrived.Add(1) == int64(n) {
				close(all) // the first n are all running at once
			}
			select {
			case <-all:
			case <-time.After(20 * time.Second):
			}
			inside.Add(-1)
		})
	}
	for i := range ts {
		q.Enqueue(&ts[i])
	}
	q.DrainAll()
	if p := peak.Load(); p != int64(n) {
		t.Errorf("peak concurrency %d, want %d threads", p, n)
	}
	if s := q.Stats(); s.Runs != int64(2*n) {
		t.Errorf("runs %d, want %d", s.Runs, 2*n)
	}
}

func testTimeout(t *kern.T) {
	q, err := New("test-timeout", 1, -1)
	if err != nil {
		t.Fatalf("%v", err)
	}
	var tt TimeoutTask
	var runs atomic.Int64
	var ranAt atomic.Int64
	q.InitTimeout(&tt, func(int) { ranAt.Store(kern.Ticks()); runs.Add(1) })
	due := kern.Ticks() + 5
	if q.EnqueueTimeout(&tt, 5) {
		t.Errorf("fresh timeout reported armed")
	}
	if !kern.WaitFor(10*time.Second, func() bool { return runs.Load() == 1 }) {
		t.Fatalf("timeout task did not run")
	}
	if at := ranAt.Load(); at < due {
		t.Errorf("ran at tick %d, before %d", at, due)
	}
	// Re-arming an armed timeout: one run.
	q.EnqueueTimeout(&tt, 50)
	if !q.EnqueueTimeout(&tt, 3) {
		t.Errorf("re-arm did not report armed")
	}
	if !kern.WaitFor(10*time.Second, func() bool { return runs.Load() == 2 }) {
		t.Fatalf("re-armed timeout did not run")
	}
	time.Sleep(60 * kern.TickNs) // the replaced 50-tick arm must not run
	if r := runs.Load(); r != 2 {
		t.Errorf("after re-arm: %d runs, want 2", r)
	}
	// Cancel before it fires, many times, across the firing moment:
	// each arm ends in exactly one of cancelled or run.
	before := runs.Load()
	cancelled := int64(0)
	const arms = 120
	for i := 0; i < arms; i++ {
		q.EnqueueTimeout(&tt, 1)
		end := kern.Nanotime() + int64(i%9)*int64(time.Millisecond)
		for kern.Nanotime() < end {
		}
		if p, _ := q.CancelTimeout(&tt); p > 0 {
			cancelled += int64(p)
		}
		q.DrainTimeout(&tt)
	}
	ran := runs.Load() - before
	if ran+cancelled != arms {
		t.Errorf("%d arms: %d ran + %d cancelled", arms, ran, cancelled)
	}
	t.Logf("%d timeouts armed: %d cancelled, %d ran", arms, cancelled, ran)
}

func testShell(t *kern.T) {
	var b strings.Builder
	kern.RunCommand(&b, "show taskq")
	out := b.String()
	for _, want := range []string{"test-coalesce", "test-pool", "coalesced", "threads"} {
		if !strings.Contains(out, want) {
			t.Errorf("show taskq lacks %q:\n%s", want, out)
		}
	}
	for _, r := range witness.Reports() {
		if !strings.HasPrefix(r.Class, "taskqueue") && !strings.HasPrefix(r.Lock, "taskqueue") {
			continue
		}
		if r.RuntimeBlockInCritical() {
			t.Logf("not ours: %s", r.Why)
			continue
		}
		t.Errorf("witness report on a taskqueue lock: %+v", r)
	}
}
