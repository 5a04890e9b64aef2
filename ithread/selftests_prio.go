package ithread

import (
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
)

func init() {
	kern.RegisterTest(kern.Test{Name: "Intr/IthreadPreemptsLoad", Fn: testPreemptsLoad})
	kern.RegisterTest(kern.Test{Name: "Intr/SWIPreemptsLoad", Fn: testSWIPreemptsLoad})
}

// testPreemptsLoad: three CPU-bound threads of the default priority,
// pinned to the event's CPU, keep it busy; every software interrupt wakes
// the interrupt thread (PriIthread), which must preempt the running load
// thread at once (counted by the kernel) rather than queue behind the
// load's round robin, and run its handler on that CPU while the load is
// still there. The runtime gets spare Ps so that the woken thread finds
// one (docs/execution-model.md §7).
func testPreemptsLoad(t *kern.T) {
	preemptsLoad(t, kern.PriIthread, func(cpu int, h func()) (func(), func() []int64, func(), error) {
		ev, src, err := NewSoftEvent("prio-preempt", cpu)
		if err != nil {
			return nil, nil, nil, err
		}
		ev.StormThreshold.Store(0)
		ev.AddHandler(&Handler{Name: "prio", Flags: MPSAFE, Func: h})
		ev.LatencySamples()
		return func() { src.Trigger() }, ev.LatencySamples, ev.Remove, nil
	})
}

// testSWIPreemptsLoad: the same for a software interrupt thread (the
// softclock threads are SWIs): it runs at PriSWI and a Schedule preempts
// the CPU-bound load on its CPU.
func testSWIPreemptsLoad(t *kern.T) {
	preemptsLoad(t, kern.PriSWI, func(cpu int, h func()) (func(), func() []int64, func(), error) {
		s, err := NewSWI("prio-swi", cpu, MPSAFE, h)
		if err != nil {
			return nil, nil, nil, err
		}
		return s.Schedule, nil, s.Remove, nil
	})
}

// preemptsLoad runs the preemption check on the thread start makes: start
// pins it to cpu with handler h and returns how to trigger it, its
// latency samples (nil if none) and how to remove it. The handler must
// run at base priority pri.
func preemptsLoad(t *kern.T, pri int, start func(cpu int, h func()) (trigger func(), latency func() []int64, remove func(), err error)) {
	const triggers, nload = 40, 3
	cpu := kern.NumCPU() - 1
	procs := runtime.GOMAXPROCS(kern.NumCPU() + nload + 1)
	defer runtime.GOMAXPROCS(procs)
	var ran, wrongCPU, wrongPri, whileLoad atomic.Uint64
	var loadUp, ithreadTid atomic.Int64
	var stop atomic.Bool
	trigger, latency, remove, err := start(cpu, func() {
		if kern.CPUID() != cpu {
			wrongCPU.Add(1)
		}
		if base, _ := kern.Priority(); base != pri {
			wrongPri.Add(1)
		}
		ithreadTid.Store(int64(kern.Gettid()))
		if loadUp.Load() == nload && !stop.Load() {
			whileLoad.Add(1)
		}
		ran.Add(1)
	})
	if err != nil {
		t.Fatalf("start the thread: %v", err)
	}
	defer remove()
	var wg sync.WaitGroup
	deadline := kern.Nanotime() + int64(60*time.Second)
	for i := 0; i < nload; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // exits with the goroutine
			if err := kern.PinToCPU(cpu); err != nil {
				t.Errorf("PinToCPU: %v", err)
				return
			}
			kern.SetPriority(kern.PriDefault)
			loadUp.Add(1)
			x := uint64(i + 1)
			for !stop.Load() && kern.Nanotime() < deadline {
				for k := 0; k < 5000; k++ {
					x ^= x << 13
					x ^= x >> 7
				}
			}
			benchSink.Add(x)
		}()
	}
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()
	for end := time.Now().Add(10 * time.Second); loadUp.Load() < nload; {
		if time.Now().After(end) {
			t.Fatalf("load threads did not start")
		}
		time.Sleep(time.Millisecond)
	}
	_, p0, _ := kern.PrioCounts()
	for i := 0; i < triggers; i++ {
		want := ran.Load() + 1
		trigger()
		end := time.Now().Add(10 * time.Second)
		for ran.Load() < want {
			if time.Now().After(end) {
				t.Fatalf("trigger %d: handler did not run in 10 s", i)
			}
			runtime.Gosched()
		}
		// The next trigger must find the thread asleep again, or it
		// is not a wake-up.
		for !threadBlocked(int32(ithreadTid.Load())) {
			if time.Now().After(end) {
				t.Fatalf("trigger %d: the thread did not go back to sleep in 10 s", i)
			}
			runtime.Gosched()
		}
	}
	_, p1, _ := kern.PrioCounts()
	if wrongCPU.Load() != 0 {
		t.Errorf("handler ran %d times off CPU %d", wrongCPU.Load(), cpu)
	}
	if wrongPri.Load() != 0 {
		t.Errorf("handler ran %d times at a base priority other than %d", wrongPri.Load(), pri)
	}
	if whileLoad.Load() != triggers {
		t.Errorf("handler ran %d of %d times while the load ran", whileLoad.Load(), triggers)
	}
	// Nearly every wake-up must preempt a load thread. Not every one:
	// the Go runtime's own preemption parks a locked load thread for a
	// moment now and then (its goroutine requeued, the thread asleep
	// until handed it back), and a wake-up in that gap needs none.
	if p1-p0 < triggers*3/4 {
		t.Errorf("priority preemptions: %d for %d wake-ups, want nearly one each", p1-p0, triggers)
	}
	if latency == nil {
		t.Logf("%d preemptions", p1-p0)
		return
	}
	lat := latency()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		t.Logf("%d preemptions; interrupt-to-thread latency median %v, max %v", p1-p0,
			time.Duration(lat[len(lat)/2]), time.Duration(lat[len(lat)-1]))
	}
}

var benchSink atomic.Uint64

// threadBlocked reports whether kernel thread tid is blocked.
func threadBlocked(tid int32) bool {
	for _, th := range kern.Threads() {
		if th.Tid == tid {
			return th.State == "blocked"
		}
	}
	return false
}
