package kern

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The in-kernel self-test framework. Kernel packages register tests (and
// benchmarks) from init functions; the command line's test=REGEXP runs the
// matching ones and prints Go-test-like lines, then "N passed, N failed".
// It runs in ordinary goroutine context.

// T is a running self-test.
type T struct {
	name   string
	mu     sync.Mutex
	failed bool
	out    []string
}

// Errorf records a failure and continues.
func (t *T) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.failed = true
	t.out = append(t.out, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// Fatalf records a failure and stops the test's goroutine.
func (t *T) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

// Logf records a message shown with the result.
func (t *T) Logf(format string, args ...any) {
	t.mu.Lock()
	t.out = append(t.out, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// Failed reports whether the test failed.
func (t *T) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// Name returns the test's name.
func (t *T) Name() string { return t.name }

// Test is a registered self-test. Timeout 0 means the default (2 min).
type Test struct {
	Name    string
	Fn      func(*T)
	Timeout time.Duration
}

// B is a running benchmark: run the measured operation B.N times.
type B struct {
	N       int
	start   time.Time
	elapsed time.Duration
	timing  bool
	metrics []string
	skipped string
	mu      sync.Mutex
	failed  string // (mu) the first failure
}

// Skip marks the benchmark as not applicable here (say why); it prints a
// skip line instead of a result.
func (b *B) Skip(reason string) { b.skipped = reason }

// Errorf marks the benchmark failed (its set-up or an operation went
// wrong, so no figure is printed); the caller returns. It may be called
// from the benchmark's goroutines; the first failure is kept.
func (b *B) Errorf(format string, args ...any) {
	b.mu.Lock()
	if b.failed == "" {
		b.failed = fmt.Sprintf(format, args...)
	}
	b.mu.Unlock()
}

func (b *B) failure() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failed
}

// ResetTimer zeroes the elapsed time.
func (b *B) ResetTimer() { b.start = time.Now(); b.elapsed = 0 }

// StopTimer pauses timing.
func (b *B) StopTimer() {
	if b.timing {
		b.elapsed += time.Since(b.start)
		b.timing = false
	}
}

// StartTimer resumes timing.
func (b *B) StartTimer() {
	if !b.timing {
		b.start = time.Now()
		b.timing = true
	}
}

// Elapsed returns the time measured so far (as testing.B.Elapsed).
func (b *B) Elapsed() time.Duration {
	if b.timing {
		return b.elapsed + time.Since(b.start)
	}
	return b.elapsed
}

// SetElapsed sets the time measured, for a benchmark whose goroutines
// time the part of their work that ns/op is about; the timer is stopped.
func (b *B) SetElapsed(d time.Duration) { b.elapsed, b.timing = d, false }

// ReportMetric adds a custom unit to the result line.
func (b *B) ReportMetric(v float64, unit string) {
	b.metrics = append(b.metrics, fmt.Sprintf("%.4g %s", v, unit))
}

// Benchmark is a registered in-kernel benchmark.
type Benchmark struct {
	Name string
	Fn   func(*B)
}

var (
	regMu      sync.Mutex
	tests      []Test
	benchmarks []Benchmark
)

// RegisterTest adds a self-test.
func RegisterTest(t Test) {
	regMu.Lock()
	tests = append(tests, t)
	regMu.Unlock()
}

// WaitFor polls cond (sleeping 200 µs between polls) until it holds or d
// has passed, and reports whether it held: how self-tests wait for
// progress without assuming how fast a loaded emulator runs.
func WaitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(200 * time.Microsecond)
	}
	return true
}

// RegisterBenchmark adds a benchmark.
func RegisterBenchmark(b Benchmark) {
	regMu.Lock()
	benchmarks = append(benchmarks, b)
	regMu.Unlock()
}

// RunTests runs the tests matching pattern, in name order, one at a time,
// each in its own goroutine with a timeout, and prints the results.
func RunTests(pattern string) (passed, failed int, err error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return 0, 0, fmt.Errorf("test=%s: %w", pattern, err)
	}
	regMu.Lock()
	list := append([]Test(nil), tests...)
	regMu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	for _, tc := range list {
		if !re.MatchString(tc.Name) {
			continue
		}
		fmt.Printf("=== RUN   %s\n", tc.Name)
		t := &T{name: tc.Name}
		timeout := tc.Timeout
		if timeout == 0 {
			timeout = 2 * time.Minute
		}
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("panic: %v", r)
				}
			}()
			tc.Fn(t)
		}()
		select {
		case <-done:
		case <-time.After(timeout):
			t.Errorf("timed out after %v", timeout)
		}
		d := time.Since(start)
		t.mu.Lock()
		res := "PASS"
		if t.failed {
			res = "FAIL"
			failed++
		} else {
			passed++
		}
		fmt.Printf("--- %s: %s (%.2fs)\n", res, tc.Name, d.Seconds())
		for _, l := range t.out {
			fmt.Printf("    %s\n", strings.ReplaceAll(l, "\n", "\n    "))
		}
		t.mu.Unlock()
	}
	return passed, failed, nil
}

// RunBenchmarks runs the benchmarks matching pattern, each grown until it
// takes about a second, printing Go benchmark lines ("--- FAIL" for one
// that called Errorf, and then an error once all have run).
func RunBenchmarks(pattern string) (int, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return 0, fmt.Errorf("bench=%s: %w", pattern, err)
	}
	regMu.Lock()
	list := append([]Benchmark(nil), benchmarks...)
	regMu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	n, failed := 0, 0
	for _, bm := range list {
		if !re.MatchString(bm.Name) {
			continue
		}
		var b *B
		profTop := 0
		if v, ok := BootOption("bench.prof"); ok {
			profTop, _ = strconv.Atoi(v) // checked when the command line was parsed
		}
		for N := 1; ; {
			b = &B{N: N}
			runtime.GC()
			if profTop > 0 {
				ProfileStart() // the last run's samples are the ones shown
			}
			b.StartTimer()
			bm.Fn(b)
			b.StopTimer()
			if profTop > 0 {
				ProfileStop()
			}
			if b.skipped != "" || b.failure() != "" || b.elapsed >= time.Second || N >= 1e9 {
				break
			}
			next := N * 100
			if b.elapsed > 0 {
				next = int(float64(N) * 1.2 * float64(time.Second) / float64(b.elapsed))
			}
			N = max(N+1, min(next, N*100))
		}
		if f := b.failure(); f != "" {
			fmt.Printf("--- FAIL: Benchmark%s-%d: %s\n", bm.Name, runtime.GOMAXPROCS(0), f)
			failed++
			continue
		}
		if b.skipped != "" {
			fmt.Printf("--- SKIP: Benchmark%s-%d: %s\n", bm.Name, runtime.GOMAXPROCS(0), b.skipped)
			continue
		}
		line := fmt.Sprintf("Benchmark%s-%d\t%8d\t%10.1f ns/op", bm.Name, runtime.GOMAXPROCS(0), b.N, float64(b.elapsed.Nanoseconds())/float64(b.N))
		for _, m := range b.metrics {
			line += "\t" + m
		}
		fmt.Println(line)
		if profTop > 0 {
			ProfileReport().Write(os.Stdout, profTop, "    ")
		}
		n++
	}
	if failed > 0 {
		return n, fmt.Errorf("%d benchmark(s) failed", failed)
	}
	return n, nil
}

// Exit leaves the machine with status (QEMU isa-debug-exit), like os.Exit
// would through exit_group.
func Exit(status int) {
	os.Exit(status)
}
