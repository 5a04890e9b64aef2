package kern

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Self-tests of the vDSO (vdso.go): the runtime took it, its readings and
// the system call's interleave without going back on every CPU, and its
// realtime is the system call's.
func init() {
	RegisterTest(Test{Name: "Clock/VDSOUsed", Fn: testVDSOUsed})
	RegisterTest(Test{Name: "Clock/VDSOMonotonic", Fn: testVDSOMonotonic})
	RegisterTest(Test{Name: "Clock/VDSORealtime", Fn: testVDSORealtime})
	RegisterBenchmark(Benchmark{Name: "Clock/TimeNow", Fn: benchTimeNow})
	RegisterBenchmark(Benchmark{Name: "Clock/VDSOClockGettime", Fn: benchVDSOClockGettime})
	RegisterBenchmark(Benchmark{Name: "Clock/SyscallClockGettime", Fn: benchSyscallClockGettime})
}

// sysClockGettimeNs makes the clock_gettime system call.
func sysClockGettimeNs(clk int32) (int64, int64) {
	var ts [2]int64
	r, _, errno := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, uintptr(clk), uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return -int64(errno), 0
	}
	return int64(r), ts[0]*1e9 + ts[1]
}

// testVDSOUsed: the runtime found the kernel's functions in the image,
// and 100,000 time.Now() calls make no clock_gettime system call while
// the TSC is the clock (each would make two without the vDSO). With
// vdso=off, or another counter, they are all system calls.
func testVDSOUsed(t *T) {
	if VDSOEnabled() {
		t.Logf("vDSO image %d bytes at %#x; runtime: clock_gettime %#x, gettimeofday %#x",
			vdsoLen, uintptr(unsafe.Pointer(&vdsoImage)), runtimeVDSOClockgettime, runtimeVDSOGettimeofday)
		if runtimeVDSOClockgettime != vdsoClockGettimeAddr() || runtimeVDSOGettimeofday != vdsoGettimeofdayAddr() {
			t.Errorf("the runtime resolved clock_gettime %#x, gettimeofday %#x; the kernel's are %#x, %#x",
				runtimeVDSOClockgettime, runtimeVDSOGettimeofday, vdsoClockGettimeAddr(), vdsoGettimeofdayAddr())
		}
	} else if runtimeVDSOClockgettime != 0 || runtimeVDSOGettimeofday != 0 {
		t.Errorf("vdso=off, yet the runtime resolved clock_gettime %#x, gettimeofday %#x", runtimeVDSOClockgettime, runtimeVDSOGettimeofday)
	}
	const n = 100000
	onTSC := ActiveTimecounter() == &tscCounter
	c0 := syscallCount[sysClockGettime]
	t0 := time.Now()
	var last time.Time
	for i := 0; i < n; i++ {
		last = time.Now()
	}
	d := syscallCount[sysClockGettime] - c0
	t.Logf("%d time.Now() calls in %v: %d clock_gettime system calls (vDSO %v, counter %s)",
		n, last.Sub(t0), d, VDSOEnabled(), ActiveTimecounter().Name)
	switch {
	case VDSOEnabled() && onTSC && d > n/100:
		t.Errorf("%d clock_gettime system calls for %d time.Now() with the vDSO on the TSC: the runtime is not using it", d, n)
	case (!VDSOEnabled() || !onTSC) && d < n:
		t.Errorf("%d clock_gettime system calls for %d time.Now() without a TSC vDSO reading: want at least one each", d, n)
	}
}

// testVDSOMonotonic: a reader pinned to every CPU takes readings in turn
// from the vDSO, the system call, the kernel's nanotime and the runtime's
// (through the vDSO when on); none is behind the reader's previous one or
// the latest any CPU published before it.
func testVDSOMonotonic(t *T) {
	const kinds = 4
	var (
		stop   atomic.Bool
		latest atomic.Int64
		backs  atomic.Int64
		worst  atomic.Int64
		bad    atomic.Int64
		wg     sync.WaitGroup
	)
	n := NumCPU()
	reads := make([][kinds]int64, n)
	read := func(kind int) int64 {
		switch kind {
		case 0:
			r, v := VDSOClockGettime(1)
			if r != 0 {
				bad.Add(1)
			}
			return v
		case 1:
			r, v := sysClockGettimeNs(1)
			if r != 0 {
				bad.Add(1)
			}
			return v
		case 2:
			return Nanotime()
		default:
			return runtimeNanotime()
		}
	}
	c0 := syscallCount[sysClockGettime]
	for cpu := 0; cpu < n; cpu++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if err := PinToCPU(cpu); err != nil {
				t.Errorf("pin to cpu %d: %v", cpu, err)
				return
			}
			defer func() { _ = Unpin() }()
			var mine int64
			for i := 0; !stop.Load(); i++ {
				kind := i % kinds
				seen := latest.Load()
				v := read(kind)
				if d := max(seen, mine) - v; d > 0 {
					backs.Add(1)
					if d > worst.Load() {
						worst.Store(d)
					}
				}
				mine = v
				for cur := latest.Load(); v > cur && !latest.CompareAndSwap(cur, v); cur = latest.Load() {
				}
				atomic.AddInt64(&reads[cpu][kind], 1)
				if i%256 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	// Until every CPU has read a few thousand times each way (bounded:
	// a starved vCPU fails the test below rather than hanging it).
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		done := true
		for cpu := range reads {
			for k := 0; k < kinds; k++ {
				done = done && atomic.LoadInt64(&reads[cpu][k]) >= 2000
			}
		}
		if done {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("reads per CPU (vDSO, syscall, kernel, runtime): %v; %d clock_gettime system calls", reads, syscallCount[sysClockGettime]-c0)
	if b := backs.Load(); b != 0 {
		t.Errorf("time went back %d times, by up to %v", b, time.Duration(worst.Load()))
	}
	if b := bad.Load(); b != 0 {
		t.Errorf("%d clock_gettime(CLOCK_MONOTONIC) calls failed", b)
	}
	for cpu, r := range reads {
		for k, c := range r {
			if c == 0 {
				t.Errorf("cpu %d made no reading of kind %d", cpu, k)
			}
		}
	}
}

// testVDSORealtime: CLOCK_REALTIME and gettimeofday from the vDSO lie
// between two system calls' readings, as does time.Now(); clock ids the
// vDSO does not serve get the system call's answer.
func testVDSORealtime(t *T) {
	var outside int
	for i := 0; i < 1000; i++ {
		_, s1 := sysClockGettimeNs(0)
		r, v := VDSOClockGettime(0)
		gr, sec, usec := VDSOGettimeofday()
		now := time.Now().UnixNano()
		_, s2 := sysClockGettimeNs(0)
		if r != 0 || gr != 0 {
			t.Fatalf("vDSO clock_gettime(CLOCK_REALTIME) = %d, gettimeofday = %d", r, gr)
		}
		tod := sec*1e9 + usec*1e3
		if v < s1 || v > s2 || now < s1 || now > s2 || tod < s1/1000*1000 || tod > s2 || usec < 0 || usec >= 1e6 {
			outside++
			if outside <= 3 {
				t.Errorf("system call %d, vDSO %d, gettimeofday %d.%06d, time.Now %d, system call %d", s1, v, sec, usec, now, s2)
			}
		}
	}
	if outside > 0 {
		t.Errorf("%d of 1000 realtime readings outside their system calls' readings", outside)
	}
	_, sys := sysClockGettimeNs(0)
	t.Logf("CLOCK_REALTIME %v (realtime - monotonic = %d ns)", time.Unix(0, sys).UTC(), realOffset.Load())

	// Clock ids the vDSO passes to the system call.
	for _, clk := range []int32{2, 3, 4, 7, 99, -1} {
		c0 := syscallCount[sysClockGettime]
		_, s1 := sysClockGettimeNs(1)
		vr, v := VDSOClockGettime(clk)
		sr, s := sysClockGettimeNs(clk)
		_, s2 := sysClockGettimeNs(1)
		if vr != sr {
			t.Errorf("clock %d: vDSO answered %d, the system call %d", clk, vr, sr)
		}
		if syscallCount[sysClockGettime]-c0 < 4 {
			t.Errorf("clock %d: the vDSO did not make the system call", clk)
		}
		if sr == 0 && (v < s1 || v > s || s > s2) {
			t.Errorf("clock %d: vDSO %d, system call %d, outside monotonic %d..%d", clk, v, s, s1, s2)
		}
	}
}

// benchTimeNow: time.Now() as programs call it (the vDSO unless vdso=off).
func benchTimeNow(b *B) {
	var last time.Time
	for i := 0; i < b.N; i++ {
		last = time.Now()
	}
	_ = last
}

func benchVDSOClockGettime(b *B) {
	for i := 0; i < b.N; i++ {
		VDSOClockGettime(1)
	}
}

func benchSyscallClockGettime(b *B) {
	for i := 0; i < b.N; i++ {
		sysClockGettimeNs(1)
	}
}
