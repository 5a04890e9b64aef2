package qemu

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeQEMU writes a shell script standing in for QEMU and returns a
// Config that runs it.
func fakeQEMU(t *testing.T, script string) Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake-qemu")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755))
	return Config{Binary: path, Kernel: "kernel.img", Timeout: 20 * time.Second}
}

func TestRunPass(t *testing.T) {
	argsFile := filepath.Join(t.TempDir(), "args")
	c := fakeQEMU(t, `for a in "$@"; do echo "$a"; done > `+argsFile+`
printf 'booting\r\n3 passed, 0 failed\r\n'
exit 1`)
	c.SMP, c.Append, c.RequireSummary = 2, "test=. x=1", true
	var out bytes.Buffer
	r, err := Run(context.Background(), c, &out)
	require.NoError(t, err)
	require.Equal(t, Pass, r.Outcome, r.Summary())
	require.Equal(t, 0, r.Status)
	require.Equal(t, 1, r.ExitCode)
	require.Equal(t, 3, r.Passed)
	require.Equal(t, 0, r.Failed)
	require.Equal(t, "booting\r\n3 passed, 0 failed\r\n", r.Output)
	require.Equal(t, r.Output, out.String())
	require.Empty(t, r.Detail)
	require.Positive(t, r.Elapsed)
	require.Positive(t, r.FirstLine)
	require.LessOrEqual(t, r.FirstLine, r.Elapsed)

	want, err := c.Args()
	require.NoError(t, err)
	got, err := os.ReadFile(argsFile)
	require.NoError(t, err)
	// Run swaps "-monitor none" for a private socket (for the NMI dump
	// on timeout); everything else is Config.Args.
	gotArgs := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	for i, a := range gotArgs {
		if i > 0 && gotArgs[i-1] == "-monitor" {
			require.Regexp(t, `^unix:.*/monitor\.sock,server=on,wait=off$`, a)
			gotArgs[i] = "none"
		}
	}
	require.Equal(t, want, gotArgs, "QEMU gets Config.Args")
}

func TestRunOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  string
		outcome Outcome
		status  int
		detail  string
	}{
		{"fail", "echo '2 passed, 1 failed'; exit 7", Fail, 3, "kernel exited with status 3"},
		{"panic status", "exit 255", Panic, 0x7f, "kernel exited with the panic status 0x7f"},
		{"panic block", "printf 'KERNEL PANIC: oops\\nrip=0x1\\nEND KERNEL PANIC\\n'; exit 255", Panic, 0x7f, "KERNEL PANIC: oops"},
		{"triple fault", "echo booting; exit 0", Crash, -1, "QEMU exited with status 0 without isa-debug-exit (triple fault or shutdown?)"},
		{"qemu error", "echo \"qemu: could not open kernel file 'k': No such file or directory\" >&2; exit 1", Crash, -1,
			"QEMU failed: qemu: could not open kernel file 'k': No such file or directory"},
		{"no summary", "echo hi; exit 1", Fail, 0, "no 'N passed, N failed' summary line in the output"},
		{"killed", "kill -9 $$", Crash, -1, "QEMU was killed by a signal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeQEMU(t, tc.script)
			c.RequireSummary = true
			r, err := Run(context.Background(), c, nil)
			require.NoError(t, err)
			require.Equal(t, tc.outcome, r.Outcome, r.Summary())
			require.Equal(t, tc.status, r.Status)
			require.Equal(t, tc.detail, r.Detail)
		})
	}
}

func TestRunStderr(t *testing.T) {
	c := fakeQEMU(t, "echo serial; echo 'qemu-system-x86_64: warning: x' >&2; echo '1 passed, 0 failed'; exit 1")
	var out bytes.Buffer
	r, err := Run(context.Background(), c, &out)
	require.NoError(t, err)
	require.Equal(t, Pass, r.Outcome, r.Summary())
	require.Equal(t, "qemu-system-x86_64: warning: x\n", r.Stderr)
	require.NotContains(t, r.Output, "warning")
	require.Contains(t, out.String(), "qemu-system-x86_64: warning: x\n", "stderr is streamed to out too")
}

// lineTimes is a writer recording when each write arrived.
type lineTimes struct {
	mu    sync.Mutex
	start time.Time
	at    map[string]time.Duration
}

func (w *lineTimes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at[string(p)] = time.Since(w.start)
	return len(p), nil
}

func TestRunStreamsLinesAsTheyArrive(t *testing.T) {
	c := fakeQEMU(t, "echo first; sleep 1; printf 'sec'; sleep 0.5; echo ond; exit 1")
	w := &lineTimes{start: time.Now(), at: map[string]time.Duration{}}
	r, err := Run(context.Background(), c, w)
	require.NoError(t, err)
	require.Equal(t, "first\nsecond\n", r.Output)
	require.Contains(t, w.at, "first\n")
	require.Contains(t, w.at, "second\n", "a line is forwarded whole")
	require.Len(t, w.at, 2)
	require.Less(t, w.at["first\n"], 900*time.Millisecond, "the first line came before QEMU ended")
	require.GreaterOrEqual(t, w.at["second\n"], 1400*time.Millisecond)
}

func TestRunMarks(t *testing.T) {
	c := fakeQEMU(t, "echo boot; sleep 0.3; echo 'smp: all CPUs up'; echo '1 passed, 0 failed'; exit 1")
	c.Marks = []string{"boot", "CPUs up", "never"}
	r, err := Run(context.Background(), c, nil)
	require.NoError(t, err)
	require.Len(t, r.Marks, 2)
	require.Less(t, r.Marks["boot"], 250*time.Millisecond)
	require.GreaterOrEqual(t, r.Marks["CPUs up"], 300*time.Millisecond)
	require.LessOrEqual(t, r.Marks["CPUs up"], r.Elapsed)
	require.NotContains(t, r.Marks, "never")
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := fakeQEMU(t, `sleep 30 &
echo $! > `+pidFile+`
echo started
wait`)
	// 2 s for the script to start and print (it took over 500 ms on a
	// host loaded by several QEMUs); the child sleeps 30 s.
	c.Timeout = 2 * time.Second
	start := time.Now()
	r, err := Run(context.Background(), c, nil)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 15*time.Second, "the sleeping child holding stdout was killed too")
	require.Equal(t, Timeout, r.Outcome, r.Summary())
	require.Equal(t, "no isa-debug-exit within 2s: QEMU killed", r.Detail)
	require.Equal(t, "started\n", r.Output)
	require.Equal(t, -1, r.Status)
	require.Equal(t, -1, r.ExitCode)

	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) == syscall.ESRCH }, 10*time.Second, 20*time.Millisecond,
		"child %d still alive", pid)
}

func TestRunCallerDeadline(t *testing.T) {
	c := fakeQEMU(t, "sleep 30")
	c.Timeout = NoTimeout
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r, err := Run(ctx, c, nil)
	require.NoError(t, err)
	require.Equal(t, Timeout, r.Outcome, r.Summary())
	require.Less(t, r.Elapsed, 4*time.Second)
}

func TestRunCanceled(t *testing.T) {
	c := fakeQEMU(t, "echo up; sleep 30")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	r, err := Run(ctx, c, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, r)
	require.Equal(t, Crash, r.Outcome)
	require.Equal(t, "interrupted: QEMU killed", r.Detail)
	require.Equal(t, "up\n", r.Output)
}

func TestRunStdin(t *testing.T) {
	script := `if read line; then echo "read $line"; else echo eof; fi; exit 1`
	c := fakeQEMU(t, script)
	r, err := Run(context.Background(), c, nil)
	require.NoError(t, err)
	require.Equal(t, "eof\n", r.Output, "a non-interactive QEMU reads nothing")

	c.Interactive = true
	c.Stdin = strings.NewReader("help\n")
	var out bytes.Buffer
	r, err = Run(context.Background(), c, &out)
	require.NoError(t, err)
	require.Equal(t, "read help\n", r.Output)
	require.Equal(t, Pass, r.Outcome)
	require.Equal(t, "read help\n", out.String())
}

func TestRunInteractiveForwardsPartialLines(t *testing.T) {
	c := fakeQEMU(t, "printf 'login: '; sleep 1; exit 1")
	c.Interactive = true
	c.Stdin = strings.NewReader("")
	w := &lineTimes{start: time.Now(), at: map[string]time.Duration{}}
	_, err := Run(context.Background(), c, w)
	require.NoError(t, err)
	require.Contains(t, w.at, "login: ")
	require.Less(t, w.at["login: "], 900*time.Millisecond, "a prompt is shown before its line ends")
}

func TestRunErrors(t *testing.T) {
	_, err := Run(context.Background(), Config{}, nil)
	require.EqualError(t, err, "qemu: -kernel: no kernel image given")

	_, err = Run(context.Background(), Config{Kernel: "k", Binary: filepath.Join(t.TempDir(), "nope")}, nil)
	require.ErrorIs(t, err, ErrNoQEMU)

	bad := filepath.Join(t.TempDir(), "bad")
	require.NoError(t, os.WriteFile(bad, []byte{0x7f, 'E', 'L', 'F', 0, 0}, 0o755))
	r, err := Run(context.Background(), Config{Kernel: "k", Binary: bad}, nil)
	require.Nil(t, r)
	require.ErrorContains(t, err, "qemu: start "+bad)
}
