// Command kernel is the smpgo kernel image. It is an application like any
// other (see package smpgo and docs/unikernel.md): the blank import links
// the kernel, and its main is the kernel's own program, smpgo.Main.
//
// Command line (after the kernel path): test=REGEXP runs the self-tests,
// bench=REGEXP the benchmarks, crash=NAME a deliberate crash (ud2, kfault,
// divzero, appanic, wtext, stackoverflow) for the harness, exit=N exits with status N,
// acpidump=1 prints the ACPI tables; otherwise the debug shell runs on the
// serial console. NAME=value words are the environment (GODEBUG, GOGC,
// GOMAXPROCS).
//
// Kernel subsystems are linked in package smpgo (subsystems.go), not here,
// so that applications get them too.
package main

import "github.com/smpgo/smpgo"

func main() {
	smpgo.Main()
}
