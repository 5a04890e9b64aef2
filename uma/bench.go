package uma

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
)

// Benchmarks (make bench): the measured operation is one UMA alloc+free
// of a 64-byte item; the alternatives are timed in the same run, on the
// same CPU, and reported as metrics and ratios (>1: UMA is faster).
func init() {
	for _, b := range []kern.Benchmark{
		{Name: "UMA/AllocFree", Fn: benchAllocFree},
		{Name: "UMA/Contended2CPU", Fn: benchContended},
		{Name: "UMA/ParallelThroughput", Fn: benchParallel},
	} {
		kern.RegisterBenchmark(b)
	}
}

type item64 [64]byte

var (
	benchOnce           sync.Once
	benchZone, benchOne *RawZone // cached, and NoCache (single lock)
	benchPool           = sync.Pool{New: func() any { return new(item64) }}
	sinks               [16]*item64 // keeps new objects on the heap
)

func benchZones() {
	benchOnce.Do(func() {
		benchZone, _ = NewZone("bench-64", Args{Size: 64})
		benchOne, _ = NewZone("bench-64-1lock", Args{Size: 64, Flags: NoCache})
	})
}

// onCPUs runs fn(cpu) on a goroutine bound to each of the first n CPUs at
// once and returns the wall time until all finished.
func onCPUs(n int, fn func(cpu int)) time.Duration {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for c := 0; c < n; c++ {
		ready.Add(1)
		done.Add(1)
		go func(c int) {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			kern.PinToCPU(c)
			defer kern.Unpin()
			ready.Done()
			<-start
			fn(c)
		}(c)
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	return time.Since(t0)
}

func zoneLoop(z *RawZone, n int) {
	for i := 0; i < n; i++ {
		p, err := z.Alloc(M_NOWAIT)
		if err != nil {
			panic(err)
		}
		z.Free(p)
	}
}

func poolLoop(n int) {
	for i := 0; i < n; i++ {
		p := benchPool.Get().(*item64)
		p[0] = byte(i)
		benchPool.Put(p)
	}
}

func perOp(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) }

// rounds interleaves the variants in short rounds, so that a change in
// the host's load (2 cores shared by several QEMUs) hits all of them
// alike, and returns each variant's median ns per operation over the
// rounds: a round during which the host descheduled the vCPU is an
// outlier the median ignores, where a total would carry it.
func rounds(n int, variants ...func(n int) time.Duration) []float64 {
	const r = 64
	per := max(1, n/r)
	samples := make([][]float64, len(variants))
	for i := 0; i < r; i++ {
		for v, f := range variants {
			samples[v] = append(samples[v], perOp(f(per), per))
		}
	}
	return medians(samples)
}

// contendedRounds is rounds for two CPUs at once: goroutines bound to
// CPUs 0 and 1 (started once: a start costs milliseconds under TCG) run
// each variant together, n/2 operations each, between barriers, and CPU
// 0 times each round; the median wall time per operation is returned.
func contendedRounds(n int, variants ...func(n int)) []float64 {
	// Few rounds for a small n: each barrier waits for the other vCPU,
	// which a loaded host may have descheduled for milliseconds, and the
	// framework's first runs (n = 1, ...) must stay short to scale n.
	r := min(64, max(1, n/2000))
	per := max(1, n/2/r)
	samples := make([][]float64, len(variants))
	var arrived atomic.Int64
	onCPUs(2, func(cpu int) {
		k := int64(0)
		barrier := func() {
			k++
			arrived.Add(1)
			for arrived.Load() < 2*k {
			}
		}
		for i := 0; i < r; i++ {
			for v, f := range variants {
				barrier()
				t0 := time.Now()
				f(per)
				barrier()
				if cpu == 0 {
					samples[v] = append(samples[v], perOp(time.Since(t0), 2*per))
				}
			}
		}
	})
	return medians(samples)
}

// medians returns the median of each variant's samples.
func medians(samples [][]float64) []float64 {
	out := make([]float64, len(samples))
	for v, s := range samples {
		slices.Sort(s)
		out[v] = s[len(s)/2]
	}
	return out
}

func timed(f func(n int)) func(n int) time.Duration {
	return func(n int) time.Duration {
		t0 := time.Now()
		f(n)
		return time.Since(t0)
	}
}

func newLoop(n int) {
	for i := 0; i < n; i++ {
		p := new(item64)
		p[0] = byte(i)
		sinks[i&15] = p
	}
	runtime.GC() // the collection this garbage costs, amortised
	clear(sinks[:])
}

func benchAllocFree(b *kern.B) {
	b.StopTimer()
	benchZones()
	zoneLoop(benchZone, 1000) // warm the CPU's buckets
	poolLoop(1000)
	s0 := benchZone.Stats()
	b.StartTimer()
	r := rounds(b.N,
		timed(func(n int) { zoneLoop(benchZone, n) }),
		timed(poolLoop),
		timed(func(n int) { zoneLoop(benchOne, n) }),
	)
	b.StopTimer()
	gcNew := rounds(max(1, b.N/4), timed(newLoop))[0] // GC-heavy: fewer rounds
	s1 := benchZone.Stats()
	b.StartTimer()
	uma, pool, one := r[0], r[1], r[2]
	b.ReportMetric(uma, "uma-ns")
	b.ReportMetric(pool, "pool-ns")
	b.ReportMetric(gcNew, "new+gc-ns")
	b.ReportMetric(one, "1lock-ns")
	b.ReportMetric(pool/uma, "pool/uma")
	b.ReportMetric(gcNew/uma, "new+gc/uma")
	b.ReportMetric(one/uma, "1lock/uma")
	b.ReportMetric(float64(s1.SlowAllocs-s0.SlowAllocs+s1.SlowFrees-s0.SlowFrees)/float64(2*b.N)*100, "slow%")
}

// benchContended: two CPUs allocating and freeing from the same zone at
// once, UMA against the single-lock slab (and sync.Pool), interleaved.
func benchContended(b *kern.B) {
	if kern.NumCPU() < 2 {
		b.Skip("needs 2 CPUs")
		return
	}
	benchZones()
	r := contendedRounds(b.N,
		func(n int) { zoneLoop(benchZone, n) },
		func(n int) { zoneLoop(benchOne, n) },
		poolLoop,
	)
	uma, one, pool := r[0], r[1], r[2]
	b.ReportMetric(uma, "uma-ns")
	b.ReportMetric(one, "1lock-ns")
	b.ReportMetric(pool, "pool-ns")
	b.ReportMetric(one/uma, "1lock/uma")
	b.ReportMetric(pool/uma, "pool/uma")
}

// benchParallel: the same alloc+free loop on 1, 2 and all CPUs at once,
// in interleaved rounds of one boot, reported as each width's median
// throughput and the scaling 1→2 and 1→N (the goal is 1→2 ≥ 1.8
// on a 2-core host). ns/op is the wall time per operation over all CPUs
// in the all-CPU rounds, so qemubench's -smp ratios stay comparable.
func benchParallel(b *kern.B) {
	b.StopTimer()
	benchZones()
	ncpu := kern.NumCPU()
	widths := []int{1}
	if ncpu >= 2 {
		widths = append(widths, 2)
	}
	if ncpu > 2 {
		widths = append(widths, ncpu)
	}
	mops, all := scalingRounds(b, widths, max(1, b.N/ncpu), func(n int) { zoneLoop(benchZone, n) })
	b.SetElapsed(all)
	for i, w := range widths {
		b.ReportMetric(mops[i], fmt.Sprintf("Mops/s@%d", w))
	}
	if len(widths) > 1 {
		b.ReportMetric(mops[1]/mops[0], "scale1to2")
	}
	if len(widths) > 2 {
		b.ReportMetric(mops[2]/mops[0], fmt.Sprintf("scale1to%d", ncpu))
	}
}

// scalingRounds runs fn(per) on the first w CPUs at once for each width
// w, in rounds interleaving the widths (a change of the host's load hits
// them alike), and returns each width's median throughput in Mops/s and
// the total wall time of the widest width's rounds scaled to the n
// operations per CPU that b.N asked for. The goroutines are started once,
// one bound to each CPU; a CPU outside a round's width blocks (its vCPU
// halts and takes no host core from the others), the round's CPUs meet
// at a spinning barrier, so the timed part is their overlap, from CPU 0's
// release to the last one's end.
func scalingRounds(b *kern.B, widths []int, n int, fn func(n int)) ([]float64, time.Duration) {
	const r = 32
	per := max(1, n/r)
	ncpu := slices.Max(widths)
	wake := make([]chan int64, ncpu)
	for c := range wake {
		wake[c] = make(chan int64)
	}
	var ready, start, finished atomic.Int64
	samples := make([][]float64, len(widths))
	var widest time.Duration
	onCPUs(ncpu, func(cpu int) {
		if cpu != 0 {
			for e := range wake[cpu] {
				ready.Add(1)
				for start.Load() < e {
				}
				fn(per)
				finished.Add(1)
			}
			return
		}
		epoch := int64(0)
		for i := 0; i < r; i++ {
			for v, w := range widths {
				epoch++
				ready.Store(0)
				finished.Store(0)
				for c := 1; c < w; c++ {
					wake[c] <- epoch
				}
				for ready.Load() < int64(w-1) {
				}
				t0 := time.Now()
				start.Store(epoch)
				fn(per)
				for finished.Load() < int64(w-1) {
				}
				d := time.Since(t0)
				samples[v] = append(samples[v], float64(w*per)/d.Seconds()/1e6)
				if w == ncpu {
					widest += d
				}
			}
		}
		for c := 1; c < ncpu; c++ {
			close(wake[c])
		}
	})
	return medians(samples), time.Duration(float64(widest) * float64(n) / float64(r*per))
}
