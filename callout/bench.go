package callout

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// Benchmarks: the cost of Reset+Stop on a callout that never fires (the
// common "arm a timeout, cancel it" pattern), local and bound to another
// CPU; and how late handlers start after their due tick.
func init() {
	kern.RegisterBenchmark(kern.Benchmark{Name: "Callout/ResetStop", Fn: benchResetStop})
	kern.RegisterBenchmark(kern.Benchmark{Name: "Callout/ResetStopWitnessOff", Fn: func(b *kern.B) {
		defer witnessOff()()
		benchResetStop(b)
	}})
	kern.RegisterBenchmark(kern.Benchmark{Name: "Callout/ResetStopRemoteCPU", Fn: benchResetStopRemote})
	kern.RegisterBenchmark(kern.Benchmark{Name: "Callout/FireLateness", Fn: benchLateness})
}

// witnessOff switches witness off for a benchmark (the cost without the
// lock-order checker) and returns the function that switches it back.
func witnessOff() func() {
	old := witness.CurrentMode()
	witness.SetMode(witness.Off)
	return func() { witness.SetMode(old) }
}

func benchResetStop(b *kern.B) {
	var c Callout
	c.Init(nil)
	fn := func() {}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Reset(1000, fn)
		c.Stop()
	}
	b.StopTimer()
}

func benchResetStopRemote(b *kern.B) {
	if kern.NumCPU() < 2 {
		b.Skip("one CPU")
		return
	}
	var c Callout
	c.Init(nil)
	fn := func() {}
	c.ResetOn(kern.NumCPU()-1, 1000, fn)
	c.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Reset(1000, fn)
		c.Stop()
	}
	b.StopTimer()
}

// benchLateness: callouts for 1 tick; how long after the due tick's
// start the handler ran (ns: the tick's granularity plus the softclock
// thread's wake-up).
func benchLateness(b *kern.B) {
	var c Callout
	c.Init(nil)
	samples := make([]int64, 0, b.N)
	var at atomic.Int64
	for i := 0; i < b.N; i++ {
		at.Store(0)
		due := kern.Ticks() + 1
		c.Reset(1, func() { at.Store(kern.Nanotime()) })
		for at.Load() == 0 {
			time.Sleep(100 * time.Microsecond)
		}
		samples = append(samples, at.Load()-due*kern.TickNs)
	}
	b.StopTimer()
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2]), "ns-late-median")
	b.ReportMetric(float64(samples[len(samples)*99/100]), "ns-late-p99")
}
