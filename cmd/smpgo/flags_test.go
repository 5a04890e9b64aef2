package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smpgo/smpgo/qemu"
)

func TestParseFlagsRun(t *testing.T) {
	o, err := parseFlags("run", []string{"-smp", "2", "-k", "test=Kern/", "./examples/primes", "--", "-n", "1000", "--", "X=1"})
	require.NoError(t, err)
	require.Equal(t, 2, o.cfg.SMP)
	require.Equal(t, []string{"test=Kern/"}, o.kopts)
	require.Equal(t, []string{"./examples/primes"}, o.pkgs)
	require.Equal(t, []string{"-n", "1000", "--", "X=1"}, o.args)
	require.Equal(t, 2*time.Minute, o.cfg.Timeout)
	require.Equal(t, qemu.BIOSQboot, o.cfg.BIOS)

	o, err = parseFlags("run", []string{"-nic", "e1000", "-hostfwd", "tcp:127.0.0.1:8080-:80", "-guestfwd", "tcp:10.0.2.100:5000-tcp:127.0.0.1:9000", "./x"})
	require.NoError(t, err)
	require.Equal(t, []string{"tcp:127.0.0.1:8080-:80"}, o.cfg.HostFwd)
	require.Equal(t, []string{"tcp:10.0.2.100:5000-tcp:127.0.0.1:9000"}, o.cfg.GuestFwd)

	o, err = parseFlags("run", []string{"-i", "./x"})
	require.NoError(t, err)
	require.Equal(t, qemu.NoTimeout, o.cfg.Timeout, "interactive runs have no timeout unless given")

	for _, bad := range [][]string{
		{},                            // no package
		{"a", "b"},                    // two packages
		{"-smp", "0", "./x"},          // bad topology
		{"-k", "a b", "./x"},          // not one word
		{"-timeout", "-1s", "./x"},    // negative
		{"-hostfwd", "tcp:1-:2", "x"}, // needs a NIC
		{"-guestfwd", "tcp:10.0.2.100:5000-tcp:127.0.0.1:80", "x"},                 // needs a NIC
		{"-nic", "e1000", "-guestfwd", "tcp:10.0.2.100:5000-tcp:10.1.1.1:80", "x"}, // not 127.0.0.1
	} {
		_, err := parseFlags("run", bad)
		require.Error(t, err, "%q", bad)
	}
}

func TestParseFlagsTestAndBuild(t *testing.T) {
	o, err := parseFlags("test", []string{"-smp", "4", "-timeout", "3m", "sync", "sort", "--", "-short", "-run", "TestX"})
	require.NoError(t, err)
	require.Equal(t, []string{"sync", "sort"}, o.pkgs)
	require.Equal(t, []string{"-short", "-run", "TestX"}, o.args)
	require.Equal(t, 3*time.Minute, o.cfg.Timeout)

	o, err = parseFlags("test", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"."}, o.pkgs)
	require.Equal(t, 10*time.Minute, o.cfg.Timeout)

	o, err = parseFlags("build", []string{"-o", "p.img", "./p"})
	require.NoError(t, err)
	require.Equal(t, "p.img", o.out)
	_, err = parseFlags("build", []string{"./p", "--", "x"})
	require.Error(t, err)
	_, err = parseFlags("build", []string{"-smp", "2", "./p"})
	require.Error(t, err, "build has no machine flags")
}

func TestCmdline(t *testing.T) {
	s, err := cmdline([]string{"test=."}, []string{"-n", "5"})
	require.NoError(t, err)
	require.Equal(t, "test=. -- -n 5", s)
	s, err = cmdline(nil, nil)
	require.NoError(t, err)
	require.Equal(t, "--", s)
	for _, bad := range []string{"a b", "", `"q"`} {
		_, err := cmdline(nil, []string{bad})
		require.Error(t, err, bad)
	}
}

func TestTestArgs(t *testing.T) {
	got := TestArgs([]string{"-v", "-run=TestA", "-short", "-test.count=2", "-x"}, 10*time.Minute)
	require.Equal(t, []string{"-test.v", "-test.run=TestA", "-test.short", "-test.count=2", "-x", "-test.timeout=9m30s"}, got)
	got = TestArgs([]string{"--timeout", "1m"}, 2*time.Minute)
	require.Equal(t, []string{"-test.timeout", "1m"}, got)
	require.Equal(t, []string{"-test.timeout=1m48s"}, TestArgs(nil, 2*time.Minute))
	require.Empty(t, TestArgs(nil, 0), "no machine timeout: none for the tests either")
}

func TestFSModules(t *testing.T) {
	o, err := parseFlags("run", []string{"-fs", "some/dir", "./x"})
	require.NoError(t, err)
	require.Equal(t, "some/dir", o.fs)

	m, err := fsModules("", t.TempDir())
	require.NoError(t, err)
	require.Nil(t, m, "no -fs: no module")

	// A directory is packed into the work directory.
	tree, work := t.TempDir(), t.TempDir()
	require.NoError(t, qemu.SeedFixture(tree))
	m, err = fsModules(tree, work)
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(work, "fs.tar")}, m)
	b, err := os.ReadFile(m[0])
	require.NoError(t, err)
	require.Equal(t, "ustar", string(b[257:262]))

	// A file is passed as it is, by absolute path.
	t.Chdir(work)
	m, err = fsModules("fs.tar", t.TempDir())
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(work, "fs.tar")}, m)

	_, err = fsModules(filepath.Join(work, "missing"), work)
	require.ErrorContains(t, err, "-fs: stat ")
}
