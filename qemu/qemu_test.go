package qemu

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// needQEMU skips a test that boots the real QEMU when it is absent.
func needQEMU(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots QEMU; skipped with -short")
	}
	if _, err := FindQEMU(""); err != nil {
		t.Skipf("no QEMU: %v", err)
	}
}

func tinyConfig(kernel string) Config {
	return Config{Kernel: kernel, MemMiB: 64, Timeout: 60 * time.Second, RequireSummary: true}
}

func TestQEMUTinyKernel(t *testing.T) {
	needQEMU(t)
	for _, tc := range []struct {
		name    string
		text    string
		end     tinyEnding
		timeout time.Duration
		outcome Outcome
		status  int
		detail  string
	}{
		{"pass", "hello\r\n2 passed, 0 failed\r\n", exitWith(0), 0, Pass, 0, ""},
		{"fail", "1 passed, 1 failed\r\n", exitWith(5), 0, Fail, 5, "kernel exited with status 5"},
		{"panic", fullPanic, exitWith(PanicStatus), 0, Panic, PanicStatus, "KERNEL PANIC: page fault in kernel"},
		{"triple fault", "booting\r\n", tripleFault, 0, Crash, -1, "QEMU exited with status 0 without isa-debug-exit (triple fault or shutdown?)"},
		{"timeout", "booting\r\n", hang, 8 * time.Second, Timeout, -1, "no isa-debug-exit within 8s: QEMU killed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyConfig(tinyKernel(t, tc.text, tc.end))
			if tc.timeout > 0 {
				c.Timeout = tc.timeout
			}
			r, err := Run(context.Background(), c, nil)
			require.NoError(t, err)
			require.Equal(t, tc.outcome, r.Outcome, "%s\n%s", r.Summary(), r.Stderr)
			require.Equal(t, tc.status, r.Status)
			require.Equal(t, tc.detail, r.Detail)
			require.Equal(t, tc.text, r.Output)
			require.Positive(t, r.FirstLine)
			t.Logf("%s: first byte after %v", r.Summary(), r.FirstLine)
		})
	}
}

func TestQEMUPanicReport(t *testing.T) {
	needQEMU(t)
	r, err := Run(context.Background(), tinyConfig(tinyKernel(t, "x\r\n"+fullPanic, exitWith(PanicStatus))), nil)
	require.NoError(t, err)
	require.Equal(t, Panic, r.Outcome)
	require.NotNil(t, r.Panic)
	require.True(t, r.Panic.Complete)
	require.Equal(t, []byte{0x0f, 0x0b, 0x48, 0x89, 0xc3}, r.Panic.Code)
}

func TestQEMUMissingKernel(t *testing.T) {
	needQEMU(t)
	c := tinyConfig(filepath.Join(t.TempDir(), "missing.img"))
	r, err := Run(context.Background(), c, nil)
	require.NoError(t, err)
	require.Equal(t, Crash, r.Outcome, r.Summary())
	require.Contains(t, r.Detail, "QEMU failed: ")
	require.Contains(t, r.Detail, "could not open kernel file")
	require.Equal(t, 1, r.ExitCode)
}

// TestQEMUAcceptsArgs boots the tiny kernel with every kind of argument
// Args emits, so that QEMU itself checks them.
func TestQEMUAcceptsArgs(t *testing.T) {
	needQEMU(t)
	kernel := tinyKernel(t, "1 passed, 0 failed\r\n", exitWith(0))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	for name, edit := range map[string]func(*Config){
		"smp4":             func(c *Config) { c.SMP = 4 },
		"topology":         func(c *Config) { c.Sockets, c.Cores, c.Threads = 2, 2, 2 },
		"numa2":            func(c *Config) { c.SMP, c.NUMA, c.MemMiB = 4, 2, 128 },
		"numa3 uneven":     func(c *Config) { c.SMP, c.NUMA, c.MemMiB = 4, 3, 192 },
		"numa memory only": func(c *Config) { c.SMP, c.NUMA, c.MemMiB = 1, 2, 128 },
		"numa topology":    func(c *Config) { c.Sockets, c.Cores, c.NUMA, c.MemMiB = 2, 2, 2, 128 },
		"e1000":            func(c *Config) { c.NIC = NICE1000 },
		"virtio hostfwd": func(c *Config) {
			c.NIC, c.HostFwd = NICVirtio, []string{fmt.Sprintf("tcp:127.0.0.1:%d-:80", port)}
		},
		"q35":       func(c *Config) { c.Machine = MachineQ35 },
		"pc qboot":  func(c *Config) { c.Machine, c.BIOS = MachinePC, BIOSQboot },
		"q35 qboot": func(c *Config) { c.Machine, c.BIOS = MachineQ35, BIOSQboot },
		"append":    func(c *Config) { c.Append = "test=. a=b,c" },
		"extra":     func(c *Config) { c.Extra = []string{"-rtc", "base=utc"} },
	} {
		t.Run(name, func(t *testing.T) {
			c := tinyConfig(kernel)
			edit(&c)
			r, err := Run(context.Background(), c, nil)
			require.NoError(t, err)
			require.Equal(t, Pass, r.Outcome, "%s\n%s", r.Summary(), r.Stderr)
			if r.Stderr != "" {
				t.Logf("QEMU said: %s", r.Stderr)
			}
		})
	}
}
