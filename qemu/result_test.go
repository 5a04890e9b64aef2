package qemu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseSummary(t *testing.T) {
	for out, want := range map[string][2]int{
		"":                       {-1, -1},
		"booting\nno summary\n":  {-1, -1},
		"3 passed, 0 failed\n":   {3, 0},
		"3 passed, 0 failed\r\n": {3, 0},
		"tests: 12 passed, 2 failed, 1 skipped\n":        {12, 2},
		"x\n1 passed, 1 failed\n5 passed, 0 failed\nbye": {5, 0},
		"  7 passed, 0 failed  ":                         {7, 0},
		"oops 3 passed, 0 failed":                        {-1, -1}, // not alone on its line
		"3 passed, 0 failed and more":                    {-1, -1},
		"two words: 1 passed, 0 failed":                  {-1, -1},
	} {
		p, f := ParseSummary(out)
		require.Equal(t, want, [2]int{p, f}, "%q", out)
	}
}

const panicBlock = "KERNEL PANIC: boom\nrip=0x10\nEND KERNEL PANIC\n"

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name    string
		e       exitInfo
		out     string
		stderr  string
		require bool
		outcome Outcome
		status  int
		detail  string
	}{
		{"pass", exitInfo{code: 1}, "1 passed, 0 failed\n", "", true, Pass, 0, ""},
		{"pass without summary allowed", exitInfo{code: 1}, "hi\n", "", false, Pass, 0, ""},
		{"pass without summary required", exitInfo{code: 1}, "hi\n", "", true, Fail, 0, "no 'N passed, N failed' summary line in the output"},
		{"pass with failures required", exitInfo{code: 1}, "4 passed, 2 failed\n", "", true, Fail, 0, "4 passed, 2 failed"},
		{"pass with failures not required", exitInfo{code: 1}, "4 passed, 2 failed\n", "", false, Pass, 0, ""},
		{"fail", exitInfo{code: 3<<1 | 1}, "x\n", "", true, Fail, 3, "kernel exited with status 3"},
		{"panic status", exitInfo{code: 0x7f<<1 | 1}, "x\n", "", false, Panic, 0x7f, "kernel exited with the panic status 0x7f"},
		{"panic block wins over pass", exitInfo{code: 1}, panicBlock + "1 passed, 0 failed\n", "", true, Panic, 0, "KERNEL PANIC: boom"},
		{"panic block wins over timeout", exitInfo{code: -1, timedOut: true, timeout: time.Second}, panicBlock + panicBlock, "", false, Panic, -1, "KERNEL PANIC: boom (and 1 more reports)"},
		{"triple fault", exitInfo{code: 0}, "booting\n", "", false, Crash, -1, "QEMU exited with status 0 without isa-debug-exit (triple fault or shutdown?)"},
		{"monitor quit", exitInfo{code: 0}, "login: QEMU: Terminated\r\n", "", true, Crash, -1, "quit from QEMU's monitor (Ctrl-A x)"},
		{"even status", exitInfo{code: 2}, "", "qemu-system-x86_64: something odd\n", false, Crash, -1, "QEMU exited with status 2 without isa-debug-exit (triple fault or shutdown?): qemu-system-x86_64: something odd"},
		{"qemu error", exitInfo{code: 1}, "", "qemu: could not open kernel file 'x': No such file or directory\n", true, Crash, -1, "QEMU failed: qemu: could not open kernel file 'x': No such file or directory"},
		{"qemu warning is not an error", exitInfo{code: 1}, "", "qemu-system-x86_64: warning: TCG doesn't support feature\n", false, Pass, 0, ""},
		{"timeout", exitInfo{code: -1, timedOut: true, timeout: 2 * time.Second}, "booting\n", "", true, Timeout, -1, "no isa-debug-exit within 2s: QEMU killed"},
		{"timeout with the NMI dump", exitInfo{code: -1, timedOut: true, timeout: 2 * time.Second},
			"KERNEL PANIC: NMI\ncpu=0 vector=2\nEND KERNEL PANIC\nKERNEL PANIC: stopped by panicking CPU\ncpu=1 vector=2\nEND KERNEL PANIC\n", "", false,
			Timeout, -1, "no isa-debug-exit within 2s: QEMU killed; 2 CPU state reports (NMI) in the output"},
		{"canceled", exitInfo{code: -1, canceled: true}, "", "", true, Crash, -1, "interrupted: QEMU killed"},
		{"signal", exitInfo{code: -1}, "", "", true, Crash, -1, "QEMU was killed by a signal"},
	} {
		r := &Result{Output: tc.out, Stderr: tc.stderr}
		classify(r, tc.e, tc.require)
		require.Equal(t, tc.outcome, r.Outcome, tc.name)
		require.Equal(t, tc.status, r.Status, tc.name)
		require.Equal(t, tc.detail, r.Detail, tc.name)
		require.Equal(t, tc.e.code, r.ExitCode, tc.name)
		if r.Outcome == Panic && len(r.Panics) > 0 {
			require.Same(t, &r.Panics[0], r.Panic, tc.name)
		} else {
			require.Nil(t, r.Panic, tc.name)
		}
	}
}

func TestClassifyCounts(t *testing.T) {
	r := &Result{Output: "7 passed, 1 failed\n"}
	classify(r, exitInfo{code: 2<<1 | 1}, false)
	require.Equal(t, 7, r.Passed)
	require.Equal(t, 1, r.Failed)
	r = &Result{Output: "nothing\n"}
	classify(r, exitInfo{code: 1}, false)
	require.Equal(t, -1, r.Passed)
	require.Equal(t, -1, r.Failed)
}

func TestSummary(t *testing.T) {
	r := &Result{Outcome: Pass, Status: 0, Elapsed: 1234 * time.Millisecond}
	require.Equal(t, "pass (status 0) in 1.23s", r.Summary())
	r = &Result{Outcome: Fail, Status: 3, Elapsed: 500 * time.Millisecond, Detail: "kernel exited with status 3"}
	require.Equal(t, "fail (status 3) in 0.50s: kernel exited with status 3", r.Summary())
	r = &Result{Outcome: Crash, Status: -1, Elapsed: 2 * time.Second, Detail: "QEMU exited with status 0"}
	require.Equal(t, "crash in 2.00s: QEMU exited with status 0", r.Summary())
}

func TestTail(t *testing.T) {
	require.Equal(t, "c\nd", Tail("a\r\nb\r\nc\r\nd\r\n", 2))
	require.Equal(t, "a\nb", Tail("a\nb", 10))
	require.Equal(t, "", Tail("a\nb\n", 0))
}

func TestQEMUError(t *testing.T) {
	require.Equal(t, "", qemuError(""))
	require.Equal(t, "", qemuError("qemu-system-x86_64: warning: host doesn't support requested feature\n"))
	require.Equal(t, "qemu-system-x86_64: -smp 0: Invalid CPU topology",
		qemuError("qemu-system-x86_64: warning: x\n  qemu-system-x86_64: -smp 0: Invalid CPU topology\nmore\n"))
}
