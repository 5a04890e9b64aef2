// Command kernel is the smpgo kernel image: the boot entry (package boot)
// brings the machine up and starts the Go runtime, whose main is this.
//
// Command line (after the kernel path): test=REGEXP runs the self-tests,
// bench=REGEXP the benchmarks, crash=NAME a deliberate crash (ud2, kfault,
// divzero) for the harness, exit=N exits with status N; otherwise the debug
// shell runs on the serial console. NAME=value words are the environment
// (GODEBUG, GOGC, GOMAXPROCS).
package main

import (
	"fmt"
	"os"

	_ "github.com/smpgo/smpgo/boot"
	"github.com/smpgo/smpgo/kern"
)

func main() {
	opts, err := kern.ParseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "smpgo:", err)
		kern.Exit(2)
	}
	switch {
	case opts.Crash != "":
		fmt.Printf("smpgo: deliberate crash %q\n", opts.Crash)
		kern.Crash(opts.Crash)
		fmt.Println("smpgo: crash did not happen")
		kern.Exit(3)
	case opts.ACPIDump:
		if err := kern.DumpACPI(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "smpgo: acpidump:", err)
			kern.Exit(1)
		}
		kern.Exit(0)
	case opts.Exit >= 0:
		kern.Exit(opts.Exit)
	case opts.Test != "" || opts.Bench != "":
		status := 0
		if opts.Test != "" {
			passed, failed, err := kern.RunTests(opts.Test)
			if err != nil {
				fmt.Fprintln(os.Stderr, "smpgo:", err)
				kern.Exit(2)
			}
			fmt.Printf("%d passed, %d failed\n", passed, failed)
			if failed > 0 || passed == 0 {
				status = 1
			}
		}
		if opts.Bench != "" {
			if _, err := kern.RunBenchmarks(opts.Bench); err != nil {
				fmt.Fprintln(os.Stderr, "smpgo:", err)
				kern.Exit(2)
			}
		}
		kern.Exit(status)
	default:
		kern.Shell(os.Stdin, os.Stdout)
	}
}
