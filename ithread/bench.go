package ithread

import (
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/lock"
)

// Benchmarks: interrupt-to-handler latency (the interrupt sent to the
// threaded handler's first instruction, Giant taken if it needs it),
// with an MPSAFE handler
// and with a Giant one, while every other CPU runs CPU-bound goroutines
// that also take Giant now and then (other Giant-locked code). Medians and
// p99 in ns; nothing asserts a time.
//
// The ...SpareP variants run one load goroutine per CPU with two spare Ps
// (GOMAXPROCS = CPUs + 2, the scheme of docs/execution-model.md §7): the
// woken interrupt thread then finds an idle P, and the kernel's part of
// the wake-up (priority preemption) is what is measured. The plain
// variants run one load goroutine per P, so every P is busy and the woken
// thread waits for the Go scheduler to hand it one.
func init() {
	kern.RegisterBenchmark(kern.Benchmark{Name: "Intr/WakeupMPSAFE", Fn: func(b *kern.B) { benchWakeup(b, MPSAFE, 0) }})
	kern.RegisterBenchmark(kern.Benchmark{Name: "Intr/WakeupGiant", Fn: func(b *kern.B) { benchWakeup(b, 0, 0) }})
	kern.RegisterBenchmark(kern.Benchmark{Name: "Intr/WakeupMPSAFESpareP", Fn: func(b *kern.B) { benchWakeup(b, MPSAFE, 2) }})
	kern.RegisterBenchmark(kern.Benchmark{Name: "Intr/WakeupGiantSpareP", Fn: func(b *kern.B) { benchWakeup(b, 0, 2) }})
}

var benchEvents struct {
	sync.Mutex
	ev   [2]*Event
	src  [2]*SoftSource
	done [2]*atomic.Uint64
	at   [2]*atomic.Int64
}

func benchEvent(flags int) (*Event, *SoftSource, *atomic.Uint64, *atomic.Int64, error) {
	benchEvents.Lock()
	defer benchEvents.Unlock()
	i := flags & MPSAFE
	if benchEvents.ev[i] == nil {
		cpu := kern.NumCPU() - 1
		ev, src, err := NewSoftEvent([]string{"bench-giant", "bench-mpsafe"}[i], cpu)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		ev.StormThreshold.Store(0)
		done, at := new(atomic.Uint64), new(atomic.Int64)
		ev.AddHandler(&Handler{Name: "bench", Flags: flags, Func: func() {
			at.Store(kern.Nanotime())
			done.Add(1)
		}})
		benchEvents.ev[i], benchEvents.src[i], benchEvents.done[i], benchEvents.at[i] = ev, src, done, at
	}
	return benchEvents.ev[i], benchEvents.src[i], benchEvents.done[i], benchEvents.at[i], nil
}

func benchWakeup(b *kern.B, flags, spare int) {
	ev, src, done, at, err := benchEvent(flags)
	if err != nil {
		b.Errorf("%v", err)
		return
	}
	b.StopTimer()
	nload := runtime.GOMAXPROCS(0)
	if spare > 0 {
		nload = kern.NumCPU()
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(nload + spare))
	}
	ev.LatencySamples()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < nload; i++ {
		wg.Add(1)
		go func() { // load: spin, and take Giant for ~20 µs every ~200 µs
			defer wg.Done()
			x := uint64(i + 1)
			for n := 0; !stop.Load(); n++ {
				for k := 0; k < 20000; k++ {
					x ^= x << 13
					x ^= x >> 7
				}
				if n%10 == 0 {
					lock.Giant.Lock()
					for k := 0; k < 2000; k++ {
						x ^= x << 13
						x ^= x >> 7
					}
					lock.Giant.Unlock()
				}
			}
			_ = x
		}()
	}
	var lat []int64
	b.StartTimer()
	for i := 0; i < b.N; i++ {
		want := done.Load() + 1
		t0 := kern.Nanotime()
		src.Trigger()
		deadline := time.Now().Add(time.Second)
		for done.Load() < want && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		if done.Load() >= want {
			lat = append(lat, at.Load()-t0)
		}
	}
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
	report(b, "", lat)
	report(b, "thread-", ev.LatencySamples())
}

// report adds the median and p99 of samples (ns) to b's line.
func report(b *kern.B, prefix string, s []int64) {
	if len(s) == 0 {
		return
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	b.ReportMetric(float64(s[len(s)/2]), prefix+"ns-median")
	b.ReportMetric(float64(s[len(s)*99/100]), prefix+"ns-p99")
}
