package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTapArgs(t *testing.T) {
	c := Config{Kernel: "/k.img", NIC: NICE1000, Tap: &TapConfig{}}
	args, err := c.Args()
	require.NoError(t, err)
	require.Equal(t, []string{"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off", "-device", "e1000,netdev=n0"}, args[len(args)-4:])
	require.NotContains(t, strings.Join(args, " "), "user,")

	c = Config{Kernel: "/k.img", NIC: NICVirtio, Tap: &TapConfig{Queues: 3}}
	args, err = c.Args()
	require.NoError(t, err)
	require.Equal(t, []string{"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off,queues=3",
		"-device", "virtio-net-pci,disable-legacy=on,mq=on,vectors=8,netdev=n0"}, args[len(args)-4:])

	c.Tap.Queues = 1
	args, err = c.Args()
	require.NoError(t, err)
	require.Equal(t, "virtio-net-pci,disable-legacy=on,netdev=n0", args[len(args)-1])
}

func TestTapValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Tap: &TapConfig{}}, "qemu: -tap: needs a NIC (-nic e1000 or -nic virtio), not none"},
		{Config{NIC: NICE1000, Tap: &TapConfig{}, HostFwd: []string{"tcp:127.0.0.1:0-:7"}}, "qemu: -hostfwd tcp:127.0.0.1:0-:7: forwards are for user networking, not -tap"},
		{Config{NIC: NICE1000, Tap: &TapConfig{Queues: 2}}, "qemu: -tap queues 2: multiqueue needs -nic virtio"},
		{Config{NIC: NICVirtio, Tap: &TapConfig{Queues: 9}}, "qemu: -tap queues 9: want 1 to 8"},
		{Config{NIC: NICVirtio, Tap: &TapConfig{Queues: -1}}, "qemu: -tap queues -1: want 1 to 8"},
	} {
		tc.c.Kernel = "/k.img"
		require.EqualError(t, tc.c.Validate(), tc.want)
	}
}

func TestTapCommands(t *testing.T) {
	require.Equal(t, [][]string{
		{"ip", "netns", "add", "ns1"},
		{"ip", "-n", "ns1", "link", "set", "lo", "up"},
		{"ip", "-n", "ns1", "tuntap", "add", "dev", "tap0", "mode", "tap"},
		{"ip", "-n", "ns1", "addr", "add", "10.99.0.1/24", "dev", "tap0"},
		{"ip", "-n", "ns1", "link", "set", "tap0", "up"},
	}, tapSetup("ns1", TapConfig{}))
	require.Equal(t, []string{"ip", "-n", "ns1", "tuntap", "add", "dev", "tap0", "mode", "tap", "multi_queue"}, tapSetup("ns1", TapConfig{Queues: 4})[2])
	require.Equal(t, [][]string{{"ip", "-n", "ns1", "link", "del", "tap0"}, {"ip", "netns", "del", "ns1"}}, tapTeardown("ns1"))
	bin, args := tapCommand("ns1", "/usr/bin/qemu", []string{"-m", "64"})
	require.Equal(t, "ip", filepath.Base(bin))
	require.Equal(t, []string{"netns", "exec", "ns1", "/usr/bin/qemu", "-m", "64"}, args)
	require.Equal(t, "net.ip=10.99.0.2/24 net.gw=10.99.0.1", TapGuestOptions)
}

func TestTapNSNames(t *testing.T) {
	n := tapNSName(1234, 7)
	require.Equal(t, "smpgo-tap-1234-7", n)
	pid, ok := tapNSOwner(n)
	require.True(t, ok)
	require.Equal(t, 1234, pid)
	for _, bad := range []string{"smpgo-tap-", "smpgo-tap-12", "smpgo-tap-x-1", "smpgo-tap-0-1", "smpgo-tap-12-y", "other-12-1", "smpgo-tap--1-2"} {
		_, ok := tapNSOwner(bad)
		require.False(t, ok, bad)
	}
	alive := func(pid int) bool { return pid == 10 }
	require.Equal(t, []string{"smpgo-tap-11-1", "smpgo-tap-12-3"},
		staleTapNS([]string{"smpgo-tap-10-1", "smpgo-tap-11-1", "mine", "smpgo-tap-12-3", "smpgo-tap-10-2"}, alive))
	require.True(t, processAlive(os.Getpid()))
}

// fakeTap records the ip commands instead of running them, failing the
// one whose words start with failOn.
func fakeTap(t *testing.T, failOn string) *[]string {
	var ran []string
	runner, pre := tapRunner, tapPreflight
	t.Cleanup(func() { tapRunner, tapPreflight = runner, pre })
	tapPreflight = func() error { return nil }
	tapRunner = func(argv []string) error {
		s := strings.Join(argv, " ")
		ran = append(ran, s)
		if failOn != "" && strings.HasPrefix(s, failOn) {
			return errors.New("refused")
		}
		return nil
	}
	return &ran
}

// A failure at any step of the set-up deletes whatever was made; the
// namespace is not deleted when it could not be made.
func TestTapSetupFailureCleansUp(t *testing.T) {
	mine := fmt.Sprintf("%s%d-", TapNSPrefix, os.Getpid())
	// norm names this process's namespace X.
	norm := func(argv []string) []string {
		out := slices.Clone(argv)
		for i, w := range out {
			if strings.HasPrefix(w, mine) {
				out[i] = "X"
			}
		}
		return out
	}
	for i, step := range tapSetup("X", TapConfig{}) {
		ran := fakeTap(t, "")
		tapRunner = func(argv []string) error {
			argv = norm(argv)
			*ran = append(*ran, strings.Join(argv, " "))
			if slices.Equal(argv, step) {
				return fmt.Errorf("%s: refused", strings.Join(argv, " ")) // as tapRunner says it
			}
			return nil
		}
		tp, err := openTap(TapConfig{})
		require.Nil(t, tp, "step %d", i)
		require.ErrorContains(t, err, "qemu: tap: "+strings.Join(step, " ")+": refused", "step %d", i)
		var want []string
		for _, s := range tapSetup("X", TapConfig{})[:i+1] {
			want = append(want, strings.Join(s, " "))
		}
		if i > 0 {
			want = append(want, "ip -n X link del tap0", "ip netns del X")
		}
		// The sweep of stale namespaces may come first.
		require.Equal(t, want, (*ran)[len(*ran)-len(want):], "step %d", i)
	}
}

func TestTapPreflightFailure(t *testing.T) {
	ran := fakeTap(t, "")
	tapPreflight = func() error { return errors.New("qemu: -tap: needs root (network namespaces and tap devices)") }
	_, err := openTap(TapConfig{})
	require.EqualError(t, err, "qemu: -tap: needs root (network namespaces and tap devices)")
	require.Empty(t, *ran)
	// Run fails the boot with that line, before QEMU starts.
	r, err := Run(context.Background(), Config{Kernel: "/nonexistent", NIC: NICE1000, Tap: &TapConfig{}}, io.Discard)
	require.Nil(t, r)
	require.EqualError(t, err, "qemu: -tap: needs root (network namespaces and tap devices)")
}

// needTapRoot skips what needs the real thing: root and /dev/net/tun (CI
// runs as root).
func needTapRoot(t *testing.T) {
	t.Helper()
	if err := tapPreflight(); err != nil {
		t.Skipf("tap networking unavailable here: %v", err)
	}
}

func netnsExists(ns string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, ns))
	return err == nil
}

// A real namespace: its sockets are made inside it (the tap's address
// exists there only), and Close deletes it with its tap.
func TestTapNamespace(t *testing.T) {
	needTapRoot(t)
	tp, err := openTap(TapConfig{})
	require.NoError(t, err)
	defer tp.Close()
	require.True(t, netnsExists(tp.NS), tp.NS)
	require.True(t, strings.HasPrefix(tp.NS, fmt.Sprintf("%s%d-", TapNSPrefix, os.Getpid())), tp.NS)

	// 10.99.0.1 is the tap's, inside the namespace: bindable there, and
	// a datagram to it arrives.
	pc, err := tp.ListenPacket("udp4", "10.99.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	src, err := tp.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer src.Close()
	_, err = src.WriteTo([]byte("inside"), pc.LocalAddr())
	require.NoError(t, err)
	buf := make([]byte, 16)
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, _, err := pc.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, "inside", string(buf[:n]))
	// Outside, in this process's own namespace, the address is not ours.
	if c, err := net.ListenPacket("udp4", "10.99.0.1:0"); err == nil {
		c.Close()
		t.Fatalf("10.99.0.1 bindable outside the namespace: the test machine has it")
	}
	// TCP inside: the namespace's loopback.
	l, err := tp.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			_, _ = c.Write([]byte("hello"))
			c.Close()
		}
	}()
	c, err := tp.Dial(context.Background(), "tcp4", l.Addr().String())
	require.NoError(t, err)
	got, err := io.ReadAll(c)
	c.Close()
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
	// The tap is in the namespace and not here.
	_, err = net.InterfaceByName(TapDev)
	require.Error(t, err, "a tap0 outside the namespace")

	pc.Close()
	src.Close()
	l.Close()
	require.NoError(t, tp.Close())
	require.False(t, netnsExists(tp.NS), "namespace %s left behind", tp.NS)
	require.NoError(t, tp.Close(), "a second Close is harmless")
	require.ErrorIs(t, tp.Do(func() {}), errTapClosed)
}

// A namespace left by a process that is gone is deleted by the next
// boot's set-up; one of a live process is left alone.
func TestTapSweepsStale(t *testing.T) {
	needTapRoot(t)
	dead := deadPID(t)
	stale := tapNSName(dead, 1)
	require.NoError(t, tapRunner([]string{"ip", "netns", "add", stale}))
	t.Cleanup(func() { _ = tapRunner([]string{"ip", "netns", "del", stale}) })
	live := tapNSName(os.Getpid(), 1<<40)
	require.NoError(t, tapRunner([]string{"ip", "netns", "add", live}))
	t.Cleanup(func() { _ = tapRunner([]string{"ip", "netns", "del", live}) })
	tp, err := openTap(TapConfig{})
	require.NoError(t, err)
	require.NoError(t, tp.Close())
	require.False(t, netnsExists(stale), "stale namespace %s kept", stale)
	require.True(t, netnsExists(live), "live namespace %s deleted", live)
}

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	for pid := 4000000; pid > 100000; pid -= 7919 {
		if !processAlive(pid) {
			return pid
		}
	}
	t.Fatal("no free PID found")
	return 0
}

// A tap boot: QEMU runs in the namespace, the host side finds the tap in
// its context, and after the boot the namespace is gone — also when the
// boot times out.
func TestRunTap(t *testing.T) {
	needQEMU(t)
	needTapRoot(t)
	for _, tc := range []struct {
		name string
		end  tinyEnding
		want Outcome
	}{{"pass", exitWith(0), Pass}, {"timeout", nil, Timeout}} {
		t.Run(tc.name, func(t *testing.T) {
			text := "host go\r\n1 passed, 0 failed\r\n"
			end := tc.end
			if end == nil {
				end = hang
			}
			kernel := tinyKernel(t, text, end)
			c := tinyConfig(kernel)
			c.NIC, c.Tap = NICE1000, &TapConfig{}
			if tc.want == Timeout {
				c.Timeout = 5 * time.Second
			}
			var ns string
			var inside bool
			c.HostAfter = "host go"
			c.Host = func(ctx context.Context, fwds []HostFwd, log io.Writer) error {
				tp := TapFrom(ctx)
				if tp == nil {
					return errors.New("no tap in the host side's context")
				}
				ns = tp.NS
				inside = netnsExists(ns)
				if len(fwds) != 0 {
					return fmt.Errorf("forwards %v on a tap boot", fwds)
				}
				pc, err := tp.ListenPacket("udp4", "10.99.0.1:0")
				if err != nil {
					return err
				}
				pc.Close()
				return nil
			}
			r, err := Run(context.Background(), c, io.Discard)
			require.NoError(t, err)
			require.Equal(t, tc.want, r.Outcome, r.Summary()+"\n"+r.Stderr)
			require.NoError(t, r.HostErr)
			require.NotEmpty(t, ns)
			require.True(t, inside)
			require.False(t, netnsExists(ns), "namespace %s left behind", ns)
		})
	}
}
