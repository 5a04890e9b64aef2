package taskqueue

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// Benchmarks: enqueue-to-run latency (from Enqueue to the task's function
// starting in the queue's thread), and the cost of a coalesced enqueue.
func init() {
	kern.RegisterBenchmark(kern.Benchmark{Name: "Taskq/EnqueueToRun", Fn: benchEnqueueToRun})
	kern.RegisterBenchmark(kern.Benchmark{Name: "Taskq/EnqueueCoalesced", Fn: benchCoalesced})
	kern.RegisterBenchmark(kern.Benchmark{Name: "Taskq/EnqueueCoalescedWitnessOff", Fn: func(b *kern.B) {
		old := witness.CurrentMode()
		witness.SetMode(witness.Off)
		defer witness.SetMode(old)
		benchCoalesced(b)
	}})
}

var benchQ *Queue

func queue(b *kern.B) *Queue {
	if benchQ == nil {
		q, err := New("bench", 1, -1)
		if err != nil {
			b.Errorf("%v", err)
			return nil
		}
		benchQ = q
	}
	return benchQ
}

func benchEnqueueToRun(b *kern.B) {
	q := queue(b)
	if q == nil {
		return
	}
	var start, ran atomic.Int64
	var t Task
	t.Init(func(int) { ran.Store(kern.Nanotime() - start.Load()) })
	samples := make([]int64, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ran.Store(-1)
		start.Store(kern.Nanotime())
		q.Enqueue(&t)
		for ran.Load() < 0 {
			time.Sleep(20 * time.Microsecond)
		}
		samples = append(samples, ran.Load())
	}
	b.StopTimer()
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2]), "ns-median")
	b.ReportMetric(float64(samples[len(samples)*99/100]), "ns-p99")
}

// benchCoalesced: enqueues of a task that is already queued behind a
// blocked thread (one lock round trip each).
func benchCoalesced(b *kern.B) {
	q := queue(b)
	if q == nil {
		return
	}
	block := make(chan struct{})
	var started atomic.Bool
	var g, t Task
	g.Init(func(int) { started.Store(true); <-block })
	t.Init(func(int) {})
	q.Enqueue(&g)
	for !started.Load() {
		time.Sleep(100 * time.Microsecond)
	}
	q.Enqueue(&t)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q.Enqueue(&t)
	}
	b.StopTimer()
	close(block)
	q.DrainAll()
}
