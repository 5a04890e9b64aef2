package qemu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseStdTests(t *testing.T) {
	l, err := ParseStdTests(`
# comment
std sync
skip sync TestA needs a child process
skip sync ExampleB reads a file
std time smp=2 tier=smoke tags=timetzdata timeout=1m
`)
	require.NoError(t, err)
	require.Equal(t, []StdTest{
		{Package: "sync", SMP: 4, Tier: Full, Timeout: 5 * time.Minute, Skips: []StdSkip{
			{"TestA", "needs a child process"}, {"ExampleB", "reads a file"}}},
		{Package: "time", SMP: 2, Tier: Smoke, Tags: "timetzdata", Timeout: time.Minute},
	}, l)
	require.Equal(t, []string{"-test.short", "-test.v", "-test.skip=^(TestA|ExampleB)$"}, l[0].TestFlags())
	require.Equal(t, []string{"-test.short", "-test.v"}, l[1].TestFlags())

	for _, bad := range []string{
		"std",
		"std a\nstd a",
		"std a smp=0",
		"std a tier=medium",
		"std a frob=1",
		"skip a TestX why",        // no std line
		"std a\nskip a TestX",     // no reason
		"std a\nskip a T/sub why", // not top level
		"std a\nskip a T( why",    // bad regexp
		"run a",
	} {
		_, err := ParseStdTests(bad)
		require.Error(t, err, bad)
	}
}

func TestStdTestsFile(t *testing.T) {
	l := StdTests()
	var pkgs []string
	smoke := 0
	for _, s := range l {
		pkgs = append(pkgs, s.Package)
		if s.Tier == Smoke {
			smoke++
		}
		for _, k := range s.Skips {
			require.NotEmpty(t, k.Reason, "%s %s", s.Package, k.Test)
		}
	}
	require.Subset(t, pkgs, []string{"sync", "sync/atomic", "context", "time", "strings", "sort",
		"container/heap", "container/list", "container/ring", "encoding/json", "math/big"})
	require.Equal(t, 2, smoke, "two packages in make test")
}

func TestGoTestCounts(t *testing.T) {
	out := "=== RUN   TestA\n--- PASS: TestA (0.00s)\n    --- PASS: TestA/x (0.00s)\n--- SKIP: TestB (0.00s)\n--- FAIL: TestC (0.01s)\n--- PASS: ExampleD (0.00s)\nFAIL\n"
	p, f, s := GoTestCounts(out)
	require.Equal(t, [3]int{2, 1, 1}, [3]int{p, f, s})
}

func TestMatrixPrograms(t *testing.T) {
	byName := map[string]Boot{}
	for _, b := range Matrix(Full) {
		byName[b.Name] = b
	}
	b := byName["std-sync_atomic"]
	require.Equal(t, "sync/atomic", b.Test)
	require.Equal(t, Full, b.Tier)
	require.Equal(t, "-- -test.short -test.v", b.Config.Append)
	require.Equal(t, 4, b.Config.SMP)
	require.Equal(t, Smoke, byName["std-sync"].Tier)
	require.Contains(t, byName["std-sync"].Config.Append, "-test.skip=^(TestMutexMisuse|")
	require.Equal(t, "timetzdata", byName["std-time"].Tags)
	require.Equal(t, "./examples/primes", byName["example-primes"].App)

	r := &Result{Outcome: Pass, Status: 0, Passed: -1, Failed: -1, Output: "ok\r\nPASS\r\n"}
	require.NoError(t, byName["std-sort"].Expect.Check(r), "a program needs no summary line")
	require.Error(t, Expectation{}.Check(r), "the kernel's self-tests do")
}
