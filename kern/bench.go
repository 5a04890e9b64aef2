package kern

import (
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/arch/amd64"
)

// In-kernel benchmarks of the runtime personality and SMP machinery. The
// harness (qemu/cmd/qemubench) boots them at several CPU counts and prints
// the ratios; nothing here asserts a time.
func init() {
	for _, b := range []Benchmark{
		{Name: "Kern/NullSyscall", Fn: benchNullSyscall},
		{Name: "Kern/IdleSyscallRate", Fn: benchIdle},
		{Name: "Kern/ThreadSwitch", Fn: benchThreadSwitch},
		{Name: "SMP/IPIRoundTrip", Fn: benchIPI},
		{Name: "SMP/Rendezvous", Fn: benchRendezvous},
		{Name: "SMP/ParallelCompute", Fn: benchParallel},
	} {
		RegisterBenchmark(b)
	}
}

func benchNullSyscall(b *B) {
	for i := 0; i < b.N; i++ {
		syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
	}
}

func totalSyscalls() uint64 {
	var n uint64
	for i := range syscallCount {
		n += syscallCount[i]
	}
	return n
}

// benchIdle sleeps and counts the system calls the idle runtime makes
// (sysmon, timers): without a vDSO every clock read is one.
func benchIdle(b *B) {
	b.StopTimer()
	runtime.GC()
	s0, t0 := totalSyscalls(), time.Now()
	b.StartTimer()
	for i := 0; i < b.N; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(totalSyscalls()-s0)/time.Since(t0).Seconds(), "syscalls/s")
}

// benchThreadSwitch: two goroutines locked to threads pinned to one CPU
// ping-pong; each round trip is two blocking futex waits and two switches.
func benchThreadSwitch(b *B) {
	ping, pong := make(chan int), make(chan int)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		PinToCPU(0)
		defer Unpin()
		for v := range ping {
			pong <- v
		}
		close(done)
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	PinToCPU(0)
	defer Unpin()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ping <- i
		<-pong
	}
	b.StopTimer()
	close(ping)
	<-done
	b.ReportMetric(float64(b.elapsed.Nanoseconds())/float64(2*b.N), "ns/switch")
}

// IPI round trip: the kernel sends vecPing to another CPU and spins until
// its handler acknowledges (opIPIPing).
const (
	vecPing   = 0xf3
	opIPIPing = 4
)

var pingAck atomic.Uint64

func ipiPing(target int) int64 {
	if target < 0 || target >= ncpu || target == thisCPU() {
		return -EINVAL
	}
	want := pingAck.Load() + 1
	t0 := nanotime()
	apic.SendIPI(cpus[target].apicID, apic.ICR_DLV_FIXED|vecPing)
	for pingAck.Load() < want {
		servicePending()
		amd64.Pause()
		if nanotime()-t0 > 1e9 {
			return -ETIMEDOUT
		}
	}
	return nanotime() - t0
}

func benchIPI(b *B) {
	if NumCPU() < 2 {
		b.Skip("needs 2 CPUs")
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	PinToCPU(0)
	defer Unpin()
	samples := make([]int64, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ns := int64(rawSyscall(sysSmpgoDebug, opIPIPing, uintptr(1+i%(NumCPU()-1))))
		if ns > 0 {
			samples = append(samples, ns)
		}
	}
	b.StopTimer()
	reportLatency(b, samples)
}

func reportLatency(b *B, samples []int64) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2]), "ns-median")
	b.ReportMetric(float64(samples[len(samples)*99/100]), "ns-p99")
}

func benchRendezvous(b *B) {
	for i := 0; i < b.N; i++ {
		Rendezvous(func(int) {})
	}
	b.ReportMetric(float64(NumCPU()), "cpus")
}

// benchParallel: a fixed amount of CPU-bound work split over GOMAXPROCS
// goroutines; the harness divides ns/op at 1 CPU by ns/op at N CPUs.
func benchParallel(b *B) {
	const work = 4 << 20
	p := runtime.GOMAXPROCS(0)
	var sink atomic.Uint64
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for g := 0; g < p; g++ {
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				x := seed | 1
				for k := 0; k < work/p; k++ {
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
				}
				sink.Add(x)
			}(uint64(g))
		}
		wg.Wait()
	}
	b.ReportMetric(float64(p), "procs")
}
