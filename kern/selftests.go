package kern

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Self-tests of the runtime personality: the Go runtime's own machinery
// working on this kernel.
func init() {
	for _, t := range []Test{
		{Name: "Runtime/Goroutines", Fn: testGoroutines},
		{Name: "Runtime/Channels", Fn: testChannels},
		{Name: "Runtime/Timers", Fn: testTimers},
		{Name: "Runtime/Mutex", Fn: testMutex},
		{Name: "Runtime/GCUnderLoad", Fn: testGC},
		{Name: "Runtime/Alloc256MB", Fn: testBigAlloc},
		{Name: "Runtime/NilPanicRecovered", Fn: testNilPanic},
		{Name: "Runtime/DivideByZeroRecovered", Fn: testDivZero},
		{Name: "Runtime/Preemption", Fn: testPreemption},
		{Name: "Runtime/FloatAcrossPreemption", Fn: testFloat},
		{Name: "Kern/UnknownSyscall", Fn: testUnknownSyscall},
		{Name: "Kern/Uname", Fn: testUname},
		{Name: "Kern/MadviseZeroes", Fn: testMadvise},
	} {
		RegisterTest(t)
	}
}

func testGoroutines(t *T) {
	const n = 1000
	var wg sync.WaitGroup
	var sum atomic.Int64
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runtime.Gosched()
			sum.Add(int64(i))
		}(i)
	}
	wg.Wait()
	if got, want := sum.Load(), int64(n*(n+1)/2); got != want {
		t.Errorf("sum = %d, want %d", got, want)
	}
}

func testChannels(t *T) {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	v := 0
	for i := 0; i < 10000; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	if v != 10000 {
		t.Errorf("after 10000 round trips v = %d", v)
	}
	buf := make(chan int, 64)
	go func() {
		for i := 0; i < 1000; i++ {
			buf <- i
		}
		close(buf)
	}()
	s := 0
	for x := range buf {
		s += x
	}
	if s != 999*1000/2 {
		t.Errorf("buffered sum = %d", s)
	}
}

func testTimers(t *T) {
	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("Sleep(20ms) returned after %v", d)
	}
	fired := make(chan time.Time, 1)
	t0 := time.Now()
	time.AfterFunc(30*time.Millisecond, func() { fired <- time.Now() })
	select {
	case at := <-fired:
		if at.Sub(t0) < 30*time.Millisecond {
			t.Errorf("AfterFunc(30ms) fired after %v", at.Sub(t0))
		}
	case <-time.After(10 * time.Second):
		t.Errorf("AfterFunc never fired")
	}
	tk := time.NewTicker(5 * time.Millisecond)
	for i := 0; i < 5; i++ {
		<-tk.C
	}
	tk.Stop()
}

func testMutex(t *T) {
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				mu.Lock()
				counter++
				if i%100 == 0 {
					runtime.Gosched()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if counter != 40000 {
		t.Errorf("counter = %d, want 40000", counter)
	}
}

type node struct {
	next *node
	val  [8]int64
}

func testGC(t *T) {
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var bad atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				var head *node
				for i := 0; i < 2000; i++ {
					head = &node{next: head, val: [8]int64{int64(i), int64(g)}}
				}
				for i, n := 1999, head; n != nil; i, n = i-1, n.next {
					if n.val[0] != int64(i) || n.val[1] != int64(g) {
						bad.Add(1)
					}
				}
			}
		}(g)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.NumGC
	for i := 0; i < 10; i++ {
		runtime.GC()
	}
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	if ms.NumGC-before < 10 {
		t.Errorf("NumGC grew by %d, want >= 10", ms.NumGC-before)
	}
	if bad.Load() != 0 {
		t.Errorf("%d corrupted list nodes after GC", bad.Load())
	}
}

func testBigAlloc(t *T) {
	b := make([]byte, 256<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = byte(i >> 12)
	}
	for i := 0; i < len(b); i += 4096 {
		if b[i] != byte(i>>12) {
			t.Fatalf("byte %d = %d", i, b[i])
		}
	}
	b = nil
	runtime.GC()
	debug.FreeOSMemory()
}

func testNilPanic(t *T) {
	msg := func() (msg string) {
		defer func() { msg = recoverString(recover()) }()
		var p *node
		return recoverString(p.val[3])
	}()
	if !strings.Contains(msg, "nil pointer dereference") {
		t.Errorf("recovered %q, want a nil pointer dereference", msg)
	}
}

func recoverString(r any) string {
	if r == nil {
		return ""
	}
	if e, ok := r.(error); ok {
		return e.Error()
	}
	if s, ok := r.(string); ok {
		return s
	}
	return "?"
}

func testDivZero(t *T) {
	msg := func() (msg string) {
		defer func() { msg = recoverString(recover()) }()
		divide(1, 0)
		return "no panic"
	}()
	if !strings.Contains(msg, "integer divide by zero") {
		t.Errorf("recovered %q, want integer divide by zero", msg)
	}
	if q := divide(84, 2); q != 42 {
		t.Errorf("divide(84, 2) = %d", q)
	}
}

// testPreemption runs call-free spinning loops on every P and checks that
// a timer still fires and other goroutines still run: only asynchronous
// preemption (SIGURG delivered as a signal frame) makes that possible.
func testPreemption(t *T) {
	var stop atomic.Bool
	var spins atomic.Int64
	urgBefore := sigDelivered[SIGURG]
	n := runtime.GOMAXPROCS(0)
	for i := 0; i < n; i++ {
		go func() {
			x := 0
			for !stop.Load() {
				x++
			}
			spins.Add(int64(x))
		}()
	}
	start := time.Now()
	fired := make(chan struct{})
	time.AfterFunc(50*time.Millisecond, func() { close(fired) })
	ran := make(chan struct{})
	go func() { close(ran) }()
	select {
	case <-fired:
	case <-time.After(20 * time.Second):
		t.Errorf("timer did not fire while %d goroutines spun", n)
	}
	select {
	case <-ran:
	case <-time.After(20 * time.Second):
		t.Errorf("a new goroutine did not run while %d goroutines spun", n)
	}
	stop.Store(true)
	urgs := sigDelivered[SIGURG] - urgBefore
	if urgs == 0 {
		t.Errorf("no SIGURG was delivered: the spinners were not preempted asynchronously")
	}
	t.Logf("timer fired after %v with %d spinners; %d SIGURG delivered", time.Since(start), n, urgs)
}

// testFloat checks that FPU/SSE state survives preemption and signals.
func testFloat(t *T) {
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for round := 0; round < 200; round++ {
				x := float64(g) + 0.5
				acc := 0.0
				for i := 0; i < 2000; i++ {
					acc += x * 1.0000001
				}
				want := 0.0
				for i := 0; i < 2000; i++ {
					want += x * 1.0000001
				}
				if acc != want {
					bad.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d float results differed", bad.Load())
	}
}

func testUnknownSyscall(t *T) {
	const nr = 333 // not implemented
	before := unknownCount[nr]
	_, _, errno := syscall.RawSyscall(nr, 0, 0, 0)
	if errno != syscall.ENOSYS {
		t.Errorf("syscall %d: errno %v, want ENOSYS", nr, errno)
	}
	if unknownCount[nr] != before+1 {
		t.Errorf("unknown-call counter %d, want %d", unknownCount[nr], before+1)
	}
}

func testMadvise(t *T) {
	b, err := syscall.Mmap(-1, 0, 1<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	for i := range b {
		b[i] = 0xAA
	}
	if err := syscall.Madvise(b, 4 /* MADV_DONTNEED */); err != nil {
		t.Fatalf("madvise: %v", err)
	}
	for i := 0; i < len(b); i += 512 {
		if b[i] != 0 {
			t.Fatalf("byte %d = %#x after MADV_DONTNEED, want 0", i, b[i])
		}
	}
	if err := syscall.Munmap(b); err != nil {
		t.Errorf("munmap: %v", err)
	}
}

// testUname: uname answers Linux's structure (what Go's KernelVersion
// parses) and refuses a bad buffer; the identity calls answer root.
func testUname(t *T) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatalf("uname: %v", err)
	}
	got := *(*Utsname)(unsafe.Pointer(&u))
	if got != MakeUtsname() {
		t.Errorf("uname answered %q, want %q", got[:], utsname[:])
	}
	if _, _, errno := syscall.RawSyscall(sysUname, 0, 0, 0); errno != syscall.EFAULT {
		t.Errorf("uname(NULL): errno %v, want EFAULT", errno)
	}
	// The one program is root, with no parent.
	if u, eu, g, eg, pp := syscall.Getuid(), syscall.Geteuid(), syscall.Getgid(), syscall.Getegid(), syscall.Getppid(); u|eu|g|eg|pp != 0 {
		t.Errorf("uid %d euid %d gid %d egid %d ppid %d, want 0", u, eu, g, eg, pp)
	}
}
