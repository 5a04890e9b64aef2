package lock

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// In-kernel benchmarks (make bench boots them at 1, 2 and 4 CPUs). Every
// uncontended benchmark also times sync.Mutex for as many iterations in
// the same boot and reports the ratio ("x-sync.Mutex"). "Lock/Uncontended"
// runs with witness switched off at run time (one atomic load per
// operation remains); "Lock/Witness" with witness on, and reports the cost
// against the same lock with witness off. Nothing here asserts a time.
func init() {
	type op struct {
		name string
		mk   func() (lock, unlock func())
	}
	ops := []op{
		{"SyncMutex", func() (func(), func()) { m := new(sync.Mutex); return m.Lock, m.Unlock }},
		{"SpinMutex", func() (func(), func()) { s := NewSpinMutex("bench spin"); return s.Lock, s.Unlock }},
		{"Mutex", func() (func(), func()) { m := NewMutex("bench mutex"); return m.Lock, m.Unlock }},
		{"SXExclusive", func() (func(), func()) { s := NewSX("bench sx"); return s.XLock, s.XUnlock }},
		{"SXShared", func() (func(), func()) { s := NewSX("bench sx"); return s.SLock, s.SUnlock }},
		{"RWWrite", func() (func(), func()) { r := NewRW("bench rw"); return r.WLock, r.WUnlock }},
		{"RWRead", func() (func(), func()) { r := NewRW("bench rw"); return r.RLock, r.RUnlock }},
	}
	for _, o := range ops {
		kern.RegisterBenchmark(kern.Benchmark{Name: "Lock/Uncontended/" + o.name, Fn: func(b *kern.B) {
			defer witnessOff()()
			lk, un := o.mk()
			uncontended(b, lk, un)
		}})
		if o.name == "SyncMutex" {
			continue
		}
		kern.RegisterBenchmark(kern.Benchmark{Name: "Lock/Witness/" + o.name, Fn: func(b *kern.B) {
			if !witness.Enabled || witness.CurrentMode() == witness.Off {
				b.Skip("witness off")
				return
			}
			lk, un := o.mk()
			for i := 0; i < b.N; i++ {
				lk()
				un()
			}
			b.StopTimer()
			on := b.Elapsed()
			restore := witnessOff()
			off := timeOps(b.N, lk, un)
			restore()
			b.ReportMetric(float64(on.Nanoseconds())/float64(off), "x-witness-off")
		}})
	}
	for _, o := range []op{ops[0], ops[1], ops[2], ops[6]} {
		kern.RegisterBenchmark(kern.Benchmark{Name: "Lock/Contended/" + o.name, Fn: func(b *kern.B) {
			defer witnessOff()()
			lk, un := o.mk()
			contended(b, lk, un, o.name != "RWRead")
		}})
	}
	kern.RegisterBenchmark(kern.Benchmark{Name: "Lock/ProfilingOn/Mutex", Fn: func(b *kern.B) {
		defer witnessOff()()
		SetProfiling(true)
		defer SetProfiling(false)
		m := NewMutex("bench mutex profiled")
		uncontended(b, m.Lock, m.Unlock)
	}})
}

// witnessOff switches witness off for a benchmark and returns the
// function that switches it back.
func witnessOff() func() {
	old := witness.CurrentMode()
	witness.SetMode(witness.Off)
	return func() { witness.SetMode(old) }
}

// timeOps times n lock/unlock pairs and returns ns.
func timeOps(n int, lk, un func()) int64 {
	t0 := kern.Nanotime()
	for i := 0; i < n; i++ {
		lk()
		un()
	}
	return kern.Nanotime() - t0
}

// uncontended times b.N lock/unlock pairs interleaved, chunk by chunk,
// with as many pairs of a sync.Mutex (timer stopped), so that drift in a
// noisy emulator hits both alike, and reports the ratio.
func uncontended(b *kern.B, lk, un func()) {
	const chunk = 2000
	var m sync.Mutex
	var ref int64
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		for i := 0; i < n; i++ {
			lk()
			un()
		}
		b.StopTimer()
		ref += timeOps(n, m.Lock, m.Unlock)
		b.StartTimer()
	}
	b.StopTimer()
	if ref > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(ref), "x-sync.Mutex")
	}
}

// contended: GOMAXPROCS goroutines share b.N lock/unlock pairs; an
// exclusive lock guards a plain counter (checked), a shared one an atomic.
func contended(b *kern.B, lk, un func(), excl bool) {
	p := runtime.GOMAXPROCS(0)
	var next, shared atomic.Int64
	var counter int
	var wg sync.WaitGroup
	for g := 0; g < p; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				lk()
				if excl {
					counter++
				} else {
					shared.Add(1)
				}
				un()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if excl && counter != b.N || !excl && shared.Load() != int64(b.N) {
		b.Errorf("lost updates: the lock did not exclude")
		return
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
