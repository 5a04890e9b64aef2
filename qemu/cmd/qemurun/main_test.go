package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smpgo/smpgo/qemu"
)

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil)
	require.NoError(t, err)
	require.Equal(t, qemu.Config{
		SMP: 1, MemMiB: 1024, NIC: "none", BIOS: "seabios", Accel: "tcg", Timeout: 2 * time.Minute,
	}, o.cfg)
	require.Empty(t, o.kernel)
	require.Empty(t, o.elf)
}

func TestParseFlagsEverything(t *testing.T) {
	o, err := parseFlags([]string{
		"-smp", "sockets=2,cores=2", "-numa", "2", "-mem", "512", "-nic", "virtio",
		"-hostfwd", "tcp:127.0.0.1:8080-:80", "-hostfwd", "tcp:127.0.0.1:2222-:22",
		"-bios", "qboot", "-machine", "q35", "-accel", "kvm", "-timeout", "30s",
		"-kernel", "k.img", "-elf", "k.elf", "-mark", "ready", "-mark", "done",
		"-device", "edu", "--", "test=.", "log=debug",
	})
	require.NoError(t, err)
	require.Equal(t, qemu.Config{
		SMP: 4, Sockets: 2, Cores: 2, NUMA: 2, MemMiB: 512, NIC: "virtio",
		HostFwd: []string{"tcp:127.0.0.1:8080-:80", "tcp:127.0.0.1:2222-:22"},
		BIOS:    "qboot", Machine: "q35", Accel: "kvm", Timeout: 30 * time.Second,
		Append: "test=. log=debug", Marks: []string{"ready", "done"},
		Extra: []string{"-device", "edu"},
	}, o.cfg)
	require.Equal(t, "k.img", o.kernel)
	require.Equal(t, "k.elf", o.elf)
}

func TestParseFlagsTimeouts(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 2 * time.Minute},
		{[]string{"-timeout", "5s"}, 5 * time.Second},
		{[]string{"-timeout", "0"}, qemu.NoTimeout},
		{[]string{"-i"}, qemu.NoTimeout},
		{[]string{"-i", "-timeout", "1m"}, time.Minute},
		{[]string{"-i", "-timeout", "0"}, qemu.NoTimeout},
	} {
		o, err := parseFlags(tc.args)
		require.NoError(t, err, tc.args)
		require.Equal(t, tc.want, o.cfg.Timeout, tc.args)
	}
}

func TestParseFlagsISO(t *testing.T) {
	o, err := parseFlags([]string{"-usb", "build/smpgo.iso", "-bios", "ovmf", "-firmware", "/fw.fd", "-machine", "q35", "--", "test=Boot/"})
	require.NoError(t, err)
	require.Equal(t, qemu.MediaUSB, o.cfg.Media)
	require.Equal(t, "build/smpgo.iso", o.cfg.Image)
	require.Equal(t, "/fw.fd", o.cfg.Firmware)
	require.Equal(t, "test=Boot/", o.cfg.Append)
	require.Empty(t, o.kernel)
}

func TestParseFlagsWordsWithoutDashes(t *testing.T) {
	o, err := parseFlags([]string{"-smp", "2", "test=Sched"})
	require.NoError(t, err)
	require.Equal(t, "test=Sched", o.cfg.Append)
}

func TestUsageErrors(t *testing.T) {
	for args, want := range map[string]string{
		"-bogus":                          "qemurun: flag provided but not defined: -bogus (see qemurun -h)",
		"-numa x":                         `qemurun: invalid value "x" for flag -numa: parse error (see qemurun -h)`,
		"-smp 0":                          "qemurun: -smp 0: need at least 1 CPU",
		"-smp 4,sockets=3":                "qemurun: -smp 4,sockets=3,cores=1,threads=1: 3 sockets × 1 cores × 1 threads = 3 CPUs, not 4",
		"-numa 3":                         "qemurun: -numa 3: 1024 MiB does not split into 3 nodes of a whole, even number of MiB",
		"-mem 0":                          "qemurun: -mem 0: want 16 to 1048576 MiB",
		"-mem 8":                          "qemurun: -mem 8: want 16 to 1048576 MiB",
		"-nic rtl8139":                    "qemurun: -nic rtl8139: want none, e1000 or virtio",
		"-hostfwd tcp:127.0.0.1:80-:80":   "qemurun: -hostfwd tcp:127.0.0.1:80-:80: needs a NIC (-nic e1000 or -nic virtio)",
		"-nic e1000 -hostfwd tcp::80-:80": `qemurun: -hostfwd tcp::80-:80: host address "" is not 127.0.0.1 (want tcp:127.0.0.1:HOSTPORT-:GUESTPORT)`,
		"-bios uboot":                     "qemurun: -bios uboot: want seabios, qboot or ovmf",
		"-nic e1000 -guestfwd tcp:10.0.2.100:5000-tcp:10.0.0.1:80": "qemurun: guestfwd tcp:10.0.2.100:5000-tcp:10.0.0.1:80: host address \"10.0.0.1\" is not 127.0.0.1 (want tcp:10.0.2.X:PORT-tcp:127.0.0.1:HOSTPORT)",
		"-guestfwd tcp:10.0.2.100:5000-tcp:127.0.0.1:80":           "qemurun: guest forwards need a NIC (-nic e1000 or -nic virtio)",
		"-bios ovmf":                      "qemurun: -bios ovmf: UEFI boots the ISO only (-cdrom or -usb), not -kernel",
		"-bios qboot -cdrom a.iso":        "qemurun: -bios qboot: boots -kernel only, not the ISO (-cdrom)",
		"-cdrom a.iso -usb a.iso":         "qemurun: invalid value \"a.iso\" for flag -usb: -usb: the ISO is already given by -cdrom (see qemurun -h)",
		"-kernel k -usb a.iso":            "qemurun: -kernel and -usb: boot one or the other",
		"-cdrom /nonexistent/smpgo.iso":   "qemurun: -cdrom: stat /nonexistent/smpgo.iso: no such file or directory (build it with 'make image')",
		"-machine virt":                   "qemurun: -machine virt: want pc or q35",
		"-accel hvf":                      "qemurun: -accel hvf: want tcg or kvm",
		"-timeout -1s":                    "qemurun: -timeout -1s: cannot be negative",
		"-timeout soon":                   `qemurun: invalid value "soon" for flag -timeout: parse error (see qemurun -h)`,
		"-kernel /nonexistent/kernel.img": "qemurun: -kernel /nonexistent/kernel.img: no such file or directory",
	} {
		t.Setenv("PATH", fakePath(t, "exit 1"))
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), strings.Fields(args), t.TempDir(), nil, &stdout, &stderr)
		require.Equal(t, qemu.ExitUsage, code, args)
		require.Equal(t, want+"\n", stderr.String(), args)
		require.Empty(t, stdout.String(), args)
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"-h"}, ".", nil, &stdout, &stderr))
	require.Equal(t, usage, stderr.String())
}

func TestNoQEMU(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-kernel", "k"}, ".", nil, &stdout, &stderr)
	require.Equal(t, 2, code)
	require.Equal(t, "qemurun: qemu-system-x86_64 not found: run 'make deps' (as root: apt-get install qemu-system-x86)\n", stderr.String())
}

// fakePath returns a PATH whose qemu-system-x86_64 runs script, followed
// by the real PATH (for make and sh).
func fakePath(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "qemu-system-x86_64"), []byte("#!/bin/sh\n"+script+"\n"), 0o755))
	return dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

func kernelFile(t *testing.T) string {
	t.Helper()
	k := filepath.Join(t.TempDir(), "kernel.img")
	require.NoError(t, os.WriteFile(k, []byte("not really a kernel"), 0o644))
	return k
}

func TestRunOutcomes(t *testing.T) {
	for _, tc := range []struct {
		script string
		args   []string
		code   int
		stdout string
		line   string // the summary line, as a regexp
	}{
		{"echo '3 passed, 0 failed'; exit 1", nil, 0, "3 passed, 0 failed\n", `^qemurun: pass \(status 0\) in \d+\.\d\ds$`},
		{"printf 'partial'; exit 1", nil, 0, "partial\n", `^qemurun: pass \(status 0\) in \d+\.\d\ds$`},
		{"echo '2 passed, 1 failed'; exit 3", nil, 1, "2 passed, 1 failed\n", `^qemurun: fail \(status 1\) in \d+\.\d\ds: kernel exited with status 1$`},
		{"echo hung; sleep 30", []string{"-timeout", "300ms"}, 3, "hung\n", `^qemurun: timeout in \d+\.\d\ds: no isa-debug-exit within 300ms: QEMU killed$`},
		{"exit 0", nil, 4, "", `^qemurun: crash in \d+\.\d\ds: QEMU exited with status 0 without isa-debug-exit \(triple fault or shutdown\?\)$`},
	} {
		t.Setenv("PATH", fakePath(t, tc.script))
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"-kernel", kernelFile(t)}, tc.args...), ".", nil, &stdout, &stderr)
		require.Equal(t, tc.code, code, tc.script)
		require.Equal(t, tc.stdout, stdout.String(), tc.script)
		require.Regexp(t, tc.line, strings.TrimSuffix(stderr.String(), "\n"), tc.script)
	}
}

func TestRunPanicAndMarks(t *testing.T) {
	t.Setenv("PATH", fakePath(t, `echo 'smp: up'
printf 'KERNEL PANIC: oops\r\ncpu=1 vector=6\r\nrip=0x1000\r\ncode: 0x1000: 0f 0b\r\nEND KERNEL PANIC\r\n'
exit 255`))
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-kernel", kernelFile(t), "-mark", "smp: up", "-mark", "never"}, ".", nil, &stdout, &stderr)
	require.Equal(t, 5, code)
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	require.Regexp(t, `^qemurun: panic \(status 127\) in \d+\.\d\ds: KERNEL PANIC: oops$`, lines[0])
	require.Regexp(t, `^qemurun: mark "smp: up" at \d+\.\d\ds$`, lines[1])
	require.Equal(t, `qemurun: mark "never" not seen`, lines[2])
	require.Equal(t, []string{
		"KERNEL PANIC: oops",
		"  cpu 1, vector 6 (#UD invalid opcode)",
		"  rip 0x1000",
		"code:",
		"  => 0x0000000000001000  0f 0b                    UD2",
	}, lines[3:8])
	require.Regexp(t, `^qemurun: panic not symbolised: symbols: open .*kernel\.elf: no such file or directory$`, lines[8])
	require.Len(t, lines, 9)
}

func TestRunInteractive(t *testing.T) {
	t.Setenv("PATH", fakePath(t, `case "$*" in *mon:stdio*) ;; *) echo "not interactive: $*"; exit 0;; esac
read line; echo "got $line"; exit 1`))
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-i", "-kernel", kernelFile(t)}, ".", strings.NewReader("hello\n"), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	require.Equal(t, "got hello\n", stdout.String())
}

// repo makes a repository root whose Makefile's build target runs recipe.
func repo(t *testing.T, recipe string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "Makefile"), []byte("build:\n\t"+recipe+"\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sub", "dir"), 0o755))
	return root
}

func TestDefaultKernelIsBuilt(t *testing.T) {
	root := repo(t, "mkdir -p build && echo image > build/kernel.img")
	t.Setenv("PATH", fakePath(t, `echo "$*" | grep -o -- '-kernel [^ ]*'; echo '1 passed, 0 failed'; exit 1`))
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), nil, filepath.Join(root, "sub", "dir"), nil, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	kernel := filepath.Join(root, "build", "kernel.img")
	require.Equal(t, "-kernel "+kernel+"\n1 passed, 0 failed\n", stdout.String())
	require.Contains(t, stderr.String(), "qemurun: build/kernel.img is missing: running 'make build' in "+root+"\n")

	// Now that it exists, it is used as it is.
	stdout.Reset()
	stderr.Reset()
	require.NoError(t, os.WriteFile(filepath.Join(root, "Makefile"), []byte("build:\n\tfalse\n"), 0o644))
	require.Equal(t, 0, run(context.Background(), nil, root, nil, &stdout, &stderr))
	require.NotContains(t, stderr.String(), "make build")
}

func TestDefaultKernelBuildFails(t *testing.T) {
	t.Setenv("PATH", fakePath(t, "exit 1"))
	for recipe, want := range map[string]string{
		"false": "qemurun: make build: exit status 2",
		"true":  "qemurun: make build did not produce ",
	} {
		root := repo(t, recipe)
		var stdout, stderr bytes.Buffer
		require.Equal(t, 2, run(context.Background(), nil, root, nil, &stdout, &stderr))
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		require.Contains(t, lines[len(lines)-1], want)
	}
}

func TestNoRepoRoot(t *testing.T) {
	t.Setenv("PATH", fakePath(t, "exit 1"))
	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, run(context.Background(), nil, "/", nil, &stdout, &stderr))
	require.Equal(t, "qemurun: no -kernel given, and no repository root to find build/kernel.img in: no go.mod in / or any directory above it\n", stderr.String())
}

func TestParseFlagsTap(t *testing.T) {
	o, err := parseFlags([]string{"-nic", "virtio", "-tap", "-tap-queues", "2", "-netpeer", "-udp", "10", "-seqconns", "5", "-conns", "3", "-echo-mib", "1", "--", "test=NetNIC/"})
	require.NoError(t, err)
	require.Equal(t, &qemu.TapConfig{Queues: 2}, o.cfg.Tap)
	require.Empty(t, o.cfg.HostFwd, "no forwards on a tap")
	require.Equal(t, "net.hostpeer=1 "+qemu.TapGuestOptions+" test=NetNIC/", o.cfg.Append)
	require.NotNil(t, o.cfg.Host)
	require.Equal(t, qemu.NetPeerReady, o.cfg.HostAfter)

	for args, want := range map[string]string{
		"-tap":                          "qemu: -tap: needs a NIC (-nic e1000 or -nic virtio), not none",
		"-nic e1000 -tap-queues 2":      "-tap-queues: needs -tap",
		"-nic e1000 -tap -udp 3":        "-udp, -seqconns, -conns, -echo-mib: need -netpeer",
		"-nic e1000 -netpeer -udp -1":   "-udp, -seqconns, -conns, -echo-mib: cannot be negative",
		"-nic e1000 -tap -tap-queues 2": "qemu: -tap queues 2: multiqueue needs -nic virtio",
	} {
		_, err := parseFlags(strings.Fields(args))
		require.EqualError(t, err, want, args)
	}
}
