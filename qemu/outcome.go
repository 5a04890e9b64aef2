package qemu

import "fmt"

// Outcome is how a boot ended. The zero Outcome is unknown.
type Outcome int

const (
	// Pass: the kernel wrote 0 to isa-debug-exit (all its tests passed).
	Pass Outcome = iota + 1
	// Fail: the kernel wrote a non-zero status, or a required test
	// summary was missing or reported failures.
	Fail
	// Timeout: QEMU was still running when the timeout expired.
	Timeout
	// Crash: QEMU exited without isa-debug-exit (a triple fault under
	// -no-reboot, a guest shutdown, or a QEMU error).
	Crash
	// Panic: the output holds a kernel panic report, or the kernel wrote
	// PanicStatus to isa-debug-exit.
	Panic
)

// PanicStatus is the isa-debug-exit value the kernel writes after
// printing a panic report.
const PanicStatus = 0x7f

// Exit statuses of the qemurun command, one per Outcome plus ExitUsage.
const (
	ExitPass    = 0
	ExitFail    = 1
	ExitUsage   = 2 // bad flags, bad configuration, QEMU or the kernel missing
	ExitTimeout = 3
	ExitCrash   = 4
	ExitPanic   = 5
)

var outcomeNames = map[Outcome]string{
	Pass: "pass", Fail: "fail", Timeout: "timeout", Crash: "crash", Panic: "panic",
}

// String returns the outcome's lower-case name ("pass", "fail", ...).
func (o Outcome) String() string {
	if s, ok := outcomeNames[o]; ok {
		return s
	}
	return fmt.Sprintf("unknown(%d)", int(o))
}

// ExitCode is the qemurun exit status for o; an unknown outcome counts
// as a crash.
func (o Outcome) ExitCode() int {
	switch o {
	case Pass:
		return ExitPass
	case Fail:
		return ExitFail
	case Timeout:
		return ExitTimeout
	case Panic:
		return ExitPanic
	default:
		return ExitCrash
	}
}
