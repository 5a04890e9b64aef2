package qemu

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Result is what Run observed of one boot.
type Result struct {
	Outcome Outcome
	// Status is the value the kernel wrote to isa-debug-exit, or -1 if
	// it wrote none.
	Status int
	// ExitCode is QEMU's exit status, or -1 if a signal ended it.
	ExitCode int
	// Passed and Failed come from the last "N passed, N failed" line of
	// the output; both are -1 if there is none.
	Passed, Failed int
	// Output is everything QEMU wrote to stdout: the serial console.
	Output string
	// Stderr is QEMU's own diagnostics.
	Stderr string
	// Panics holds every kernel panic report in Output; Panic points at
	// the first, or is nil (also when the reports are only the CPU states
	// a timeout's NMI asked for: the outcome is then Timeout).
	Panics []PanicReport
	Panic  *PanicReport
	// Detail says why the outcome is what it is (empty for a clean pass).
	Detail string
	// Elapsed is QEMU's whole run; FirstLine is the time from QEMU's start
	// to the first serial byte (0 if there was none).
	Elapsed, FirstLine time.Duration
	// Marks maps each Config.Marks entry seen to the time from QEMU's
	// start to the first line containing it.
	Marks map[string]time.Duration
	// Monitor is what the monitor printed for Config.Monitor's commands
	// (empty if they never ran: MonitorAfter was not seen); MonitorErr
	// says why they did not all complete.
	Monitor    string
	MonitorErr error
	// HostFwd are the port forwards with their host ports resolved.
	HostFwd []HostFwd
	// HostErr is Config.Host's error, or why it did not run.
	HostErr error
}

var summaryRE = regexp.MustCompile(`^\s*(?:[\w.-]+:\s*)?(\d+) passed, (\d+) failed(?:, \d+ skipped)?\s*$`)

// ParseSummary finds the last "N passed, N failed" line of output (which
// may end in ", N skipped" and start with one word and a colon) and
// returns its counts, or -1, -1 if there is none.
func ParseSummary(output string) (passed, failed int) {
	passed, failed = -1, -1
	for _, line := range strings.Split(output, "\n") {
		m := summaryRE.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		p, err1 := strconv.Atoi(m[1])
		f, err2 := strconv.Atoi(m[2])
		if err1 == nil && err2 == nil {
			passed, failed = p, f
		}
	}
	return passed, failed
}

// monitorQuit is what QEMU's multiplexed console prints when Ctrl-A x
// quits it.
const monitorQuit = "QEMU: Terminated"

// exitInfo is what Run knows of how QEMU ended.
type exitInfo struct {
	code     int           // QEMU's exit status, -1 if killed by a signal
	timedOut bool          // the timeout killed it
	timeout  time.Duration // the timeout in force
	canceled bool          // the caller's context killed it
}

// classify sets r's Outcome, Status, Detail, summary counts and panics
// from how QEMU exited and what it printed (r.Output, r.Stderr).
func classify(r *Result, e exitInfo, requireSummary bool) {
	r.ExitCode = e.code
	r.Status = -1
	r.Passed, r.Failed = ParseSummary(r.Output)
	r.Panics = ParsePanics(r.Output)
	r.Panic = nil
	if len(r.Panics) > 0 {
		r.Panic = &r.Panics[0]
	}
	qerr := qemuError(r.Stderr)
	switch {
	case e.timedOut:
		r.Outcome = Timeout
		r.Detail = fmt.Sprintf("no isa-debug-exit within %v: QEMU killed", e.timeout)
	case e.canceled:
		r.Outcome = Crash
		r.Detail = "interrupted: QEMU killed"
	case e.code < 0:
		r.Outcome = Crash
		r.Detail = "QEMU was killed by a signal"
	case e.code == 1 && qerr != "" && r.Output == "":
		// QEMU's own errors exit 1, which is also isa-debug-exit's 0.
		r.Outcome = Crash
		r.Detail = "QEMU failed: " + qerr
	case e.code&1 == 1:
		r.Status = e.code >> 1
		switch r.Status {
		case 0:
			r.Outcome = Pass
		case PanicStatus:
			r.Outcome = Panic
			r.Detail = fmt.Sprintf("kernel exited with the panic status %#x", PanicStatus)
		default:
			r.Outcome = Fail
			r.Detail = fmt.Sprintf("kernel exited with status %d", r.Status)
		}
	case e.code == 0 && strings.HasSuffix(strings.TrimRight(r.Output, "\r\n"), monitorQuit):
		r.Outcome = Crash
		r.Detail = "quit from QEMU's monitor (Ctrl-A x)"
	default:
		r.Outcome = Crash
		r.Detail = fmt.Sprintf("QEMU exited with status %d without isa-debug-exit (triple fault or shutdown?)", e.code)
		if qerr != "" {
			r.Detail += ": " + qerr
		}
	}
	if r.Outcome == Pass && requireSummary {
		switch {
		case r.Passed < 0:
			r.Outcome = Fail
			r.Detail = "no 'N passed, N failed' summary line in the output"
		case r.Failed > 0:
			r.Outcome = Fail
			r.Detail = fmt.Sprintf("%d passed, %d failed", r.Passed, r.Failed)
		}
	}
	if r.Panic != nil && e.timedOut && nmiDumpOnly(r.Panics) {
		// The reports are the CPU states Run's NMI asked for: the boot
		// timed out, nothing panicked.
		r.Detail += fmt.Sprintf("; %d CPU state reports (NMI) in the output", len(r.Panics))
		r.Panic = nil
	} else if r.Panic != nil {
		r.Outcome = Panic
		r.Detail = "KERNEL PANIC: " + r.Panic.Message
		if n := len(r.Panics); n > 1 {
			r.Detail += fmt.Sprintf(" (and %d more reports)", n-1)
		}
	}
}

// NMI report messages: the CPU that takes an NMI first, and the others it
// stops (kern/panic.go).
const (
	nmiMessage     = "NMI"
	stoppedMessage = "stopped by panicking CPU"
)

// nmiDumpOnly reports whether every report is an NMI state dump.
func nmiDumpOnly(ps []PanicReport) bool {
	for _, p := range ps {
		if p.Message != nmiMessage && p.Message != stoppedMessage {
			return false
		}
	}
	return true
}

// qemuError returns the first line of QEMU's stderr that is an error
// rather than a warning, or "".
func qemuError(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "qemu") && !strings.Contains(line, "warning:") {
			return line
		}
	}
	return ""
}

// Summary is a one-line account of r: "pass (status 0) in 1.23s", with
// the reason appended for anything but a clean pass.
func (r *Result) Summary() string {
	s := r.Outcome.String()
	if r.Status >= 0 {
		s += fmt.Sprintf(" (status %d)", r.Status)
	}
	s += fmt.Sprintf(" in %.2fs", r.Elapsed.Seconds())
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

// Tail returns the last n lines of output, without carriage returns.
func Tail(output string, n int) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(output, "\r", ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
