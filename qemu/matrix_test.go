package qemu

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func names(bs []Boot) []string {
	var n []string
	for _, b := range bs {
		n = append(n, b.Name)
	}
	return n
}

func TestMatrixTiers(t *testing.T) {
	smoke, full := Matrix(Smoke), Matrix(Full)
	require.Equal(t, []string{"smp1", "smp4"}, names(smoke)[:2])
	require.Subset(t, names(full), names(smoke), "Full includes Smoke")
	require.Subset(t, names(full), []string{"smp1", "smp4", "smp2", "smp8"})
	require.Greater(t, len(full), len(smoke))
	for _, b := range smoke {
		require.Equal(t, Smoke, b.Tier, b.Name)
	}
}

func TestMatrixBootsAreValid(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range Matrix(Full) {
		require.NotEmpty(t, b.Name)
		require.False(t, seen[b.Name], "duplicate boot %s", b.Name)
		seen[b.Name] = true
		require.Empty(t, b.Config.Kernel, "%s: the runner sets the kernel", b.Name)
		require.Empty(t, b.Config.Image, "%s: the runner sets the image", b.Name)
		c := b.Config
		c.Kernel, c.Image = KernelImage, BootISO
		require.NoError(t, c.Validate(), b.Name)
		if b.Expect.Outcome != 0 && b.Expect.Outcome != Pass {
			require.NotEmpty(t, b.Expect.Output, "%s: an expected %s names output to look for", b.Name, b.Expect.Outcome)
		}
	}
}

func TestMatrixFirstBoots(t *testing.T) {
	m := Matrix(Full)
	want := map[string]Config{
		"smp1": {SMP: 1, Append: "test=. initfs=/seed", Timeout: BootTimeout},
		"smp2": {SMP: 2, Append: "test=.", Timeout: BootTimeout},
		"smp8": {SMP: 8, Append: "test=.", Timeout: BootTimeout},
	}
	for _, b := range m {
		if c, ok := want[b.Name]; ok {
			require.Equal(t, c, b.Config, b.Name)
			require.Equal(t, Expectation{}, b.Expect, b.Name)
		}
	}
}

// The network boots run the host side against forwards on free ports.
func TestMatrixNetPeerBoots(t *testing.T) {
	for _, b := range Matrix(Smoke) {
		if b.Name == "smp4" {
			require.Equal(t, allTestsTimeout, b.Config.Timeout)
			require.Equal(t, NICVirtio, b.Config.NIC)
			require.Equal(t, "net.hostpeer=1 test=. SMPGO_PCI=1af4:1041", b.Config.Append)
		}
	}
	n, taps := 0, 0
	for _, b := range Matrix(Smoke) {
		if b.Config.Host == nil || b.App != "" || b.Config.HostAfter == McastReady {
			continue // the applications' host sides (TestMatrixAppHostSides), the multicast sender
		}
		n++
		require.Equal(t, NetPeerReady, b.Config.HostAfter, b.Name)
		require.Contains(t, b.Config.Append, "net.hostpeer=1", b.Name)
		require.NotEqual(t, NICNone, b.Config.NIC, b.Name)
		require.NotEmpty(t, b.Config.NIC, b.Name)
		vc := b.Config
		vc.Kernel = "k.img"
		require.NoError(t, vc.Validate(), b.Name)
		if b.Config.Tap != nil {
			// The tap boots have no forwards: the guest's static tap
			// address is dialed from inside the namespace.
			require.Empty(t, b.Config.HostFwd, b.Name)
			require.Contains(t, b.Config.Append, TapGuestOptions, b.Name)
			taps++
			continue
		}
		_, fwds, picked, err := ResolveHostFwd(b.Config.HostFwd)
		require.NoError(t, err, b.Name)
		require.True(t, picked, b.Name)
		for _, gp := range []int{GuestEcho, GuestDiscard, GuestChargen, GuestHTTP, GuestControl} {
			require.NotZero(t, HostPort(fwds, "tcp", gp), "%s: guest port %d", b.Name, gp)
		}
	}
	require.GreaterOrEqual(t, n-taps, 2, "a fine-grained and a Giant network boot in the smoke tier")
	require.Equal(t, 2, taps, "two short tap boots in the smoke tier (e1000, virtio multiqueue)")
	full := 0
	for _, b := range Matrix(Full) {
		if b.Config.Tap != nil {
			full++
			// The drivers' self-tests talk to slirp's gateway (but
			// VirtioNet/Multiqueue, VirtioNet/Offload and VirtioNet/TSO
			// check what a tap boot's traffic did).
			require.NotContains(t, b.Config.Append, "E1000/", b.Name)
			rest := strings.NewReplacer("VirtioNet/Multiqueue", "", "VirtioNet/Offload", "", "VirtioNet/TSO", "").Replace(b.Config.Append)
			require.NotContains(t, rest, "VirtioNet/", b.Name)
			if b.Config.Tap.Queues > 1 {
				require.Equal(t, NICVirtio, b.Config.NIC, b.Name)
				require.Contains(t, b.Config.Append, "VirtioNet/Multiqueue", b.Name)
			}
		}
	}
	require.Greater(t, full, taps, "the long tap runs are in the full tier")
}

// examples/httpd is fetched from the host through hostfwd in the smoke
// tier, on guest port 80, with the kernel's services off.
func TestMatrixAppHostSides(t *testing.T) {
	found := false
	for _, b := range Matrix(Smoke) {
		if b.Name != "example-httpd" {
			continue
		}
		found = true
		require.NotNil(t, b.Config.Host)
		require.NotEqual(t, NICNone, b.Config.NIC)
		require.NotEmpty(t, b.Config.NIC)
		require.Contains(t, b.Config.Append, "-addr :80")
		require.Contains(t, b.Config.Append, "-quit "+HTTPPeerQuit)
		_, fwds, picked, err := ResolveHostFwd(b.Config.HostFwd)
		require.NoError(t, err)
		require.True(t, picked)
		require.NotZero(t, HostPort(fwds, "tcp", 80))
		require.Contains(t, b.Expect.Output, HTTPPeerReady)
	}
	require.True(t, found)
}

func TestMatrixReturnsCopies(t *testing.T) {
	m := Matrix(Full)
	m[0].Name = "changed"
	m[0].Config.Extra = append(m[0].Config.Extra, "-x")
	require.NotEqual(t, "changed", Matrix(Full)[0].Name)
	require.Empty(t, Matrix(Full)[0].Config.Extra)
}

func TestParseTier(t *testing.T) {
	for s, want := range map[string]Tier{"smoke": Smoke, "full": Full, " Full ": Full, "SMOKE": Smoke} {
		got, err := ParseTier(s)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := ParseTier("1")
	require.EqualError(t, err, `qemu: tier "1": want smoke or full`)
	require.Equal(t, "smoke", Smoke.String())
	require.Equal(t, "full", Full.String())
	require.Equal(t, "Tier(7)", Tier(7).String())
}

func TestExpectationCheck(t *testing.T) {
	pass := &Result{Outcome: Pass, Status: 0, Passed: 3, Failed: 0, Output: "3 passed, 0 failed\n"}
	require.NoError(t, Expectation{}.Check(pass))
	require.NoError(t, Expectation{Outcome: Pass, Output: []string{"3 passed"}}.Check(pass))
	require.EqualError(t, Expectation{Output: []string{"smp: 4"}}.Check(pass),
		`want output containing "smp: 4", not found (pass (status 0) in 0.00s)`)

	noSummary := &Result{Outcome: Pass, Status: 0, Passed: -1, Failed: -1}
	require.EqualError(t, Expectation{}.Check(noSummary),
		"want a 'N passed, N failed' summary line, got none (pass (status 0) in 0.00s)")
	failedTests := &Result{Outcome: Pass, Status: 0, Passed: 3, Failed: 1}
	require.EqualError(t, Expectation{}.Check(failedTests), "want no failed tests, got 3 passed, 1 failed")

	crash := &Result{Outcome: Crash, Status: -1, Detail: "QEMU exited with status 0", Output: "SIGILL: illegal instruction\n"}
	require.EqualError(t, Expectation{}.Check(crash), "want pass, got crash in 0.00s: QEMU exited with status 0")
	require.NoError(t, Expectation{Outcome: Crash, Output: []string{"SIGILL: illegal instruction"}}.Check(crash))
	require.EqualError(t, Expectation{Outcome: Panic, Output: []string{"KERNEL PANIC"}}.Check(crash),
		"want panic, got crash in 0.00s: QEMU exited with status 0")

	fail := &Result{Outcome: Fail, Status: 3, Passed: -1, Failed: -1}
	require.NoError(t, Expectation{Outcome: Fail}.Check(fail))
	require.NoError(t, Expectation{Outcome: Fail, Status: 3}.Check(fail))
	require.EqualError(t, Expectation{Outcome: Fail, Status: 4}.Check(fail), "want kernel status 4, got fail (status 3) in 0.00s")
}

// TestMatrixISOBoots: the boots of the ISO are all there, the
// SeaBIOS CD one in the smoke tier; each has 4 GiB or more and 4 CPUs.
func TestMatrixISOBoots(t *testing.T) {
	type key struct{ bios, media, machine string }
	found := map[key]Tier{}
	for _, b := range Matrix(Full) {
		c := b.Config.withDefaults()
		if c.Media == MediaKernel {
			continue
		}
		require.GreaterOrEqual(t, c.MemMiB, 4096, b.Name)
		require.Equal(t, 4, c.SMP, b.Name)
		require.NotEmpty(t, c.Append, "%s: without a command line GRUB waits at its menu", b.Name)
		m := c.Machine
		if m == "" {
			m = MachinePC
		}
		found[key{c.BIOS, c.Media, m}] = b.Tier
	}
	require.Equal(t, Smoke, found[key{BIOSSeaBIOS, MediaCDROM, MachinePC}])
	for _, k := range []key{
		{BIOSOVMF, MediaCDROM, MachinePC}, {BIOSOVMF, MediaUSB, MachinePC},
		{BIOSOVMF, MediaCDROM, MachineQ35}, {BIOSOVMF, MediaUSB, MachineQ35},
	} {
		_, ok := found[k]
		require.True(t, ok, "missing ISO boot %v", k)
	}
}
