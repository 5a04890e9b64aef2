// Package smpgo is the kernel as a library: a Go program whose package main
// imports it,
//
//	import _ "github.com/smpgo/smpgo"
//
// and is built with `go run github.com/smpgo/smpgo/cmd/smpgo build` is a
// bootable image: the program runs as the kernel's application, on the
// same boot path, runtime personality, SMP and drivers as the kernel's own
// image (boot/kernel, which is such a program: its main is Main). See
// docs/unikernel.md.
//
// The kernel command line is the program's: os.Args are its words (the
// first is the image's path) and upper-case NAME=value words are the
// environment. When a word "--" is present, the words before it are kernel
// options and only the words after it reach the program, verbatim (even
// NAME=value). Kernel options are those of ParseOptions: test=REGEXP runs
// the kernel's self-tests, bench=REGEXP its benchmarks, crash=, exit=,
// acpidump=1 (and witness=off|warn|panic, which sets the WITNESS mode,
// and the subsystems' options such as net=off, kern.RegisterOption);
// any of them but witness= makes the kernel act on it during initialisation
// and exit, before the program's main runs. os.Exit (and returning from
// main) ends the machine with the status; panics print Go's report on the
// console and exit with status 2, as on Linux.
package smpgo

import (
	"fmt"
	"os"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// init runs after every kernel package's init (they are its imports) and
// before the program's own package initialisation and main.
func init() {
	kopts, args, ok := SplitArgs(os.Args)
	if !ok {
		// The kernel's own image (Main parses its options and starts
		// the subsystems), or a program booted without kernel options:
		// it runs without the start-up work, but the hooks every
		// program needs (the boot modules' file system) run now.
		noSeparator(os.Args[1:])
		return
	}
	os.Args = args
	kern.SetApp(true)
	o := parseOrExit(kopts)
	Start(o)
	if Acts(o) {
		Act(o)
	}
}

// Start runs the subsystems' start-up work (kern.RunStartup: PCI probe,
// network interfaces and services, ...) unless o asks for a crash, an
// exit or an ACPI dump, which must not depend on devices.
func Start(o kern.Options) {
	if o.Crash != "" || o.ACPIDump || o.Exit >= 0 {
		return
	}
	kern.RunStartup()
}

// noSeparator runs the start-up hooks marked Always for a command line
// without "--". Its words are the program's, unless they all parse as
// kernel options: then it is the kernel's own image (or a program given
// only such words), whose initfs= must place the modules before Main
// starts the rest.
func noSeparator(words []string) {
	if o, err := kern.ParseOptions(words); err == nil {
		kern.SetBootOptions(o)
	}
	kern.RunAlwaysStartup()
}

// SplitArgs splits a command line at its first "--" word (never args[0]):
// the kernel's options before it, and the program's argv (args[0] and the
// words after it). ok is false when there is no "--".
func SplitArgs(args []string) (kopts, argv []string, ok bool) {
	for i := 1; i < len(args); i++ {
		if args[i] == "--" {
			argv = append([]string{args[0]}, args[i+1:]...)
			return args[1:i], argv, true
		}
	}
	return nil, args, false
}

// Main is the kernel's own main program: os.Args[1:] are kernel options;
// one that asks for an action (test=, bench=, crash=, exit=, acpidump=)
// is performed and the machine exits, otherwise the debug shell runs on
// the console until `halt`.
func Main() {
	o := parseOrExit(os.Args[1:])
	Start(o)
	if Acts(o) {
		Act(o)
	}
	Shell()
	kern.Exit(0)
}

// Shell runs the kernel's debug shell on the console (standard input and
// output) until `halt`, which ends the machine, or the end of input.
// A program may call it (e.g. from a goroutine) to offer the shell.
func Shell() {
	kern.Shell(os.Stdin, os.Stdout)
}

// Acts reports whether o asks the kernel to do something and exit.
func Acts(o kern.Options) bool {
	return o.Crash != "" || o.ACPIDump || o.Exit >= 0 || o.Test != "" || o.Bench != ""
}

func parseOrExit(args []string) kern.Options {
	o, err := kern.ParseOptions(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smpgo:", err)
		kern.Exit(2)
	}
	// witness=off|warn|panic (validated by ParseOptions; default warn).
	if m, err := witness.ParseMode(o.Witness); err == nil {
		witness.SetMode(m)
	}
	kern.SetBootOptions(o)
	return o
}

// Act performs the action o asks for and ends the machine with its
// status: 0 when every selected self-test passed, 1 when one failed or
// none matched, 2 for a bad pattern.
func Act(o kern.Options) {
	switch {
	case o.Crash != "":
		fmt.Printf("smpgo: deliberate crash %q\n", o.Crash)
		kern.Crash(o.Crash)
		fmt.Println("smpgo: crash did not happen")
		kern.Exit(3)
	case o.ACPIDump:
		if err := kern.DumpACPI(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "smpgo: acpidump:", err)
			kern.Exit(1)
		}
		kern.Exit(0)
	case o.Exit >= 0:
		kern.Exit(o.Exit)
	}
	status := 0
	if o.Test != "" {
		passed, failed, err := kern.RunTests(o.Test)
		if err != nil {
			fmt.Fprintln(os.Stderr, "smpgo:", err)
			kern.Exit(2)
		}
		fmt.Printf("%d passed, %d failed\n", passed, failed)
		if failed > 0 || passed == 0 {
			status = 1
		}
	}
	if o.Bench != "" {
		if _, err := kern.RunBenchmarks(o.Bench); err != nil {
			fmt.Fprintln(os.Stderr, "smpgo:", err)
			kern.Exit(2)
		}
	}
	kern.Exit(status)
}
