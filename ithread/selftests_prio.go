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
}

// testPreemptsLoad: three CPU-bound threads of the default priority,
// pinned to the event's CPU, keep it busy; every software interrupt wakes
// the interrupt thread (PriIthread), which must preempt the running load
// thread at once (counted by the kernel) rather than queue behind the
// load's round robin, and run its handler on that CPU while the load is
// still there. The runtime gets spare Ps so that the woken thread finds
// one (docs/execution-model.md §7).
func testPreemptsLoad(t *kern.T) {
	const triggers, nload = 40, 3
	cpu := kern.NumCPU() - 1
	procs := runtime.GOMAXPROCS(kern.NumCPU() + nload + 1)
	defer runtime.GOMAXPROCS(procs)
	ev, src, err := NewSoftEvent("prio-preempt", cpu)
	if err != nil {
		t.Fatalf("NewSoftEvent: %v", err)
	}
	defer ev.Remove()
	ev.StormThreshold.Store(0)
	var ran, wrongCPU, whileLoad atomic.Uint64
	var loadUp, ithreadTid atomic.Int64
	var stop atomic.Bool
	ev.AddHandler(&Handler{Name: "prio", Flags: MPSAFE, Func: func() {
		if kern.CPUID() != cpu {
			wrongCPU.Add(1)
		}
		ithreadTid.Store(int64(kern.Gettid()))
		if loadUp.Load() == nload && !stop.Load() {
			whileLoad.Add(1)
		}
		ran.Add(1)
	}})
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
	ev.LatencySamples()
	_, p0, _ := kern.PrioCounts()
	for i := 0; i < triggers; i++ {
		want := ran.Load() + 1
		src.Trigger()
		end := time.Now().Add(10 * time.Second)
		for ran.Load() < want {
			if time.Now().After(end) {
				t.Fatalf("trigger %d: handler did not run in 10 s", i)
			}
			runtime.Gosched()
		}
		// The next interrupt must find the thread asleep again, or it
		// is not a wake-up.
		for !threadBlocked(int32(ithreadTid.Load())) {
			if time.Now().After(end) {
				t.Fatalf("trigger %d: interrupt thread did not go back to sleep in 10 s", i)
			}
			runtime.Gosched()
		}
	}
	_, p1, _ := kern.PrioCounts()
	if wrongCPU.Load() != 0 {
		t.Errorf("handler ran %d times off CPU %d", wrongCPU.Load(), cpu)
	}
	if whileLoad.Load() != triggers {
		t.Errorf("handler ran %d of %d times while the load ran", whileLoad.Load(), triggers)
	}
	if p1-p0 < triggers {
		t.Errorf("priority preemptions: %d for %d wake-ups, want at least one each", p1-p0, triggers)
	}
	lat := ev.LatencySamples()
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
