package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRunHelper is not a test: TestQEMUDiesWithRunner runs it in a child
// process to have a Run in progress when that process is killed.
func TestRunHelper(t *testing.T) {
	pidFile := os.Getenv("SMPGO_QEMU_TEST_PIDFILE")
	if pidFile == "" {
		t.Skip("helper for TestQEMUDiesWithRunner")
	}
	c := fakeQEMU(t, "echo $$ > "+pidFile+"; exec sleep 60")
	_, _ = Run(context.Background(), c, nil)
}

func TestQEMUDiesWithRunner(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	helper := exec.Command(os.Args[0], "-test.run=^TestRunHelper$")
	helper.Env = append(os.Environ(), "SMPGO_QEMU_TEST_PIDFILE="+pidFile)
	require.NoError(t, helper.Start())
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, syscall.Kill(pid, 0), "the fake QEMU runs")

	require.NoError(t, helper.Process.Kill())
	_ = helper.Wait()
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) == syscall.ESRCH }, 5*time.Second, 20*time.Millisecond,
		"QEMU %d outlived the process running it", pid)
}
