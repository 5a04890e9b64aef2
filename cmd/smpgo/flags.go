package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smpgo/smpgo/qemu"
)

// options is a parsed command line of build, run or test.
type options struct {
	cfg     qemu.Config
	out     string   // build -o
	tags    string   // -tags
	work    string   // -work
	kopts   []string // -k
	pkgs    []string // package patterns
	args    []string // after "--": the program's arguments or the test flags
	timeout bool     // -timeout given
	fs      string   // -fs: a directory to pack, or a tar archive, for the file system
}

// parseFlags parses the flags of cmd ("build", "run" or "test") and splits
// the rest into packages and, after "--", arguments.
func parseFlags(cmd string, args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.tags, "tags", "", "")
	fs.StringVar(&o.work, "work", "", "")
	var smp *string
	var numa, mem *int
	var timeout *time.Duration
	if cmd == "build" {
		fs.StringVar(&o.out, "o", "", "")
	} else {
		smp = fs.String("smp", "4", "")
		numa = fs.Int("numa", 0, "")
		mem = fs.Int("mem", qemu.DefaultMemMiB, "")
		fs.StringVar(&o.cfg.NIC, "nic", qemu.NICNone, "")
		fs.Func("hostfwd", "", func(s string) error { o.cfg.HostFwd = append(o.cfg.HostFwd, s); return nil })
		fs.Func("guestfwd", "", func(s string) error { o.cfg.GuestFwd = append(o.cfg.GuestFwd, s); return nil })
		fs.StringVar(&o.fs, "fs", "", "")
		fs.StringVar(&o.cfg.BIOS, "bios", qemu.BIOSQboot, "")
		fs.StringVar(&o.cfg.Machine, "machine", "", "")
		fs.StringVar(&o.cfg.Accel, "accel", qemu.AccelTCG, "")
		def := 2 * time.Minute
		if cmd == "test" {
			def = 10 * time.Minute
		}
		timeout = fs.Duration("timeout", def, "")
		fs.Func("k", "", func(s string) error {
			if s == "--" || strings.ContainsAny(s, " \t\n") {
				return fmt.Errorf("-k %q: one kernel option word", s)
			}
			o.kopts = append(o.kopts, s)
			return nil
		})
		if cmd == "run" {
			fs.BoolVar(&o.cfg.Interactive, "i", false, "")
		}
	}
	// Everything after the first "--" is the program's or the tests'.
	if i := indexOf(args, "--"); i >= 0 {
		args, o.args = args[:i], args[i+1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%s: %v (see smpgo help)", cmd, err)
	}
	o.pkgs = fs.Args()
	switch {
	case cmd != "test" && len(o.pkgs) != 1:
		return o, fmt.Errorf("%s: want one package, got %d (see smpgo help)", cmd, len(o.pkgs))
	case cmd == "build" && len(o.args) > 0:
		return o, fmt.Errorf("build: arguments after -- are for run")
	case cmd == "test" && len(o.pkgs) == 0:
		o.pkgs = []string{"."}
	}
	if cmd == "build" {
		return o, nil
	}

	s, err := qemu.ParseSMP(*smp)
	if err != nil {
		return o, err
	}
	s.Apply(&o.cfg)
	o.cfg.NUMA, o.cfg.MemMiB = *numa, *mem
	fs.Visit(func(f *flag.Flag) { o.timeout = o.timeout || f.Name == "timeout" })
	switch {
	case *timeout < 0:
		return o, fmt.Errorf("-timeout %v: cannot be negative", *timeout)
	case *timeout == 0 && o.timeout, !o.timeout && o.cfg.Interactive:
		o.cfg.Timeout = qemu.NoTimeout
	default:
		o.cfg.Timeout = *timeout
	}
	check := o.cfg
	check.Kernel = "image"
	check.Append = strings.Join(append(o.kopts, o.args...), " ")
	return o, check.Validate()
}

func indexOf(s []string, w string) int {
	for i, x := range s {
		if x == w {
			return i
		}
	}
	return -1
}

// cmdline is the kernel command line for kernel options and a program's
// arguments: "OPT... -- ARG...". Arguments holding blanks cannot pass
// through the command line.
func cmdline(kopts, args []string) (string, error) {
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"") {
			return "", fmt.Errorf("argument %q: the kernel command line splits words at blanks and has no quoting", a)
		}
	}
	return strings.Join(append(append(append([]string{}, kopts...), "--"), args...), " "), nil
}

// testFlags maps go test's short flag names to the test binary's.
var testFlags = map[string]bool{
	"bench": true, "benchmem": true, "benchtime": true, "count": true, "cpu": true,
	"failfast": true, "fullpath": true, "list": true, "parallel": true, "run": true,
	"short": true, "shuffle": true, "skip": true, "timeout": true, "v": true,
}

// TestArgs turns go test-style flags (-v, -run=X, -run X) into the test
// binary's (-test.v, -test.run=X), leaving anything else alone, and adds
// -test.timeout (a little under the machine's timeout, so that the test
// binary reports its own goroutines first) unless given.
func TestArgs(args []string, machine time.Duration) []string {
	out := make([]string, 0, len(args)+1)
	hasTimeout := false
	for _, a := range args {
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "-test.") {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if testFlags[name] {
				a = "-test." + strings.TrimLeft(a, "-")
			}
		}
		if strings.HasPrefix(a, "-test.timeout") {
			hasTimeout = true
		}
		out = append(out, a)
	}
	if !hasTimeout && machine > 0 {
		t := machine * 9 / 10
		if machine-t > 30*time.Second {
			t = machine - 30*time.Second
		}
		out = append(out, "-test.timeout="+t.String())
	}
	return out
}
