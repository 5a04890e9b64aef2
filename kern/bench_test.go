package kern

import (
	"bytes"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// captureStdout runs fn with os.Stdout redirected and returns what it
// printed.
func captureStdout(t *testing.T, fn func()) string {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stdout
	os.Stdout = w
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&out, r); close(done) }()
	fn()
	os.Stdout = old
	w.Close()
	<-done
	return out.String()
}

// A benchmark that fails (from several goroutines) prints a FAIL line and
// no figure, the others still run, and RunBenchmarks reports the failure.
func TestRunBenchmarksFailure(t *testing.T) {
	regMu.Lock()
	saved := benchmarks
	benchmarks = []Benchmark{
		{Name: "HostTest/Fails", Fn: func(b *B) {
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() { b.Errorf("goroutine %d: broken", i) })
			}
			wg.Wait()
		}},
		{Name: "HostTest/Skips", Fn: func(b *B) { b.Skip("not here") }},
		{Name: "HostTest/Works", Fn: func(b *B) {
			for range b.N {
			}
		}},
	}
	regMu.Unlock()
	defer func() { regMu.Lock(); benchmarks = saved; regMu.Unlock() }()

	var n int
	var err error
	out := captureStdout(t, func() { n, err = RunBenchmarks("^HostTest/") })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 benchmark(s) failed")
	assert.Equal(t, 1, n, "one benchmark gave a figure")
	assert.Regexp(t, `--- FAIL: BenchmarkHostTest/Fails-\d+: goroutine \d: broken`, out)
	assert.Contains(t, out, "--- SKIP: BenchmarkHostTest/Skips")
	assert.Regexp(t, `BenchmarkHostTest/Works-\d+\s+\d+`, out)
	assert.NotRegexp(t, `BenchmarkHostTest/Fails-\d+\s+\d+`, out, "no figure for a failed benchmark")
}
