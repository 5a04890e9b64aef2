package witness

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Kind is the kind of a lock class (FreeBSD's lock_class).
type Kind uint8

// Lock kinds. Spin locks are "spin" type for ordering; the others block and
// are "sleep" type (FreeBSD's LC_SPINLOCK and LC_SLEEPLOCK).
const (
	Spin  Kind = iota + 1 // spin mutex: disables interrupts, never blocks
	Sleep                 // sleep mutex: adaptive spin, then turnstile
	SX                    // shared/exclusive lock: may be held across a sleep
	RW                    // reader/writer lock: may not be held across a sleep
)

var kindNames = [...]string{"unregistered", "spin mutex", "sleep mutex", "sx", "rw"}

// String returns the class name FreeBSD prints ("sleep mutex", "sx", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Blocks reports whether acquiring a lock of this kind may block (sleep
// type, FreeBSD's LC_SLEEPLOCK).
func (k Kind) Blocks() bool { return k == Sleep || k == SX || k == RW }

// Shareable reports whether locks of this kind have a shared mode.
func (k Kind) Shareable() bool { return k == SX || k == RW }

// ClassFlags are properties of a lock class (FreeBSD's LO_* lock flags,
// held per class here).
type ClassFlags uint8

// Class flags.
const (
	// Recursable: the owner may acquire the lock again while holding it
	// (exclusively or, for sx/rw, shared).
	Recursable ClassFlags = 1 << iota
	// Sleepable: the lock may be held across a sleep. Implied for SX;
	// sleep mutexes may opt in; never valid for spin mutexes.
	Sleepable
	// Upgradable: shared holders may upgrade to exclusive (sx and rw only).
	Upgradable
	// DupOK: several locks of this class may be held at once (LO_DUPOK).
	DupOK
)

// String lists the flags, e.g. "recursable|sleepable".
func (f ClassFlags) String() string {
	var s []string
	for i, n := range []string{"recursable", "sleepable", "upgradable", "dupok"} {
		if f&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	return strings.Join(s, "|")
}

// Flags qualify one lock operation (FreeBSD's LOP_* flags).
type Flags uint32

// Operation flags.
const (
	// Shared: a shared (sx slock, rw rlock) acquisition or release. Without
	// it an operation is exclusive; mutexes are always exclusive.
	Shared Flags = 1 << iota
	// Try: a try operation. It cannot deadlock: CheckOrder ignores it and
	// Lock records the order edge but never reports a reversal.
	Try
	// DupOKOp: holding another lock of the same class is fine here
	// (LOP_DUPOK).
	DupOKOp
	// Interrupt: the acquisition happens in (emulated) primary interrupt
	// context, e.g. an interrupt filter.
	Interrupt
	// IntrEnabled: a spin lock acquired with interrupts enabled (raw spin
	// locks that do not disable them).
	IntrEnabled
	// Critical: the owner is inside a critical section, for callers that do
	// not report it through CriticalEnter/CriticalExit.
	Critical
)

// Mode says what witness does when it detects a problem.
type Mode int32

// Modes, set at boot with witness=off|warn|panic.
const (
	Off   Mode = iota // no checking, no tracking
	Warn              // print the report through the printer and go on
	Panic             // print the report, then call the panic hook
)

var modeNames = [...]string{"off", "warn", "panic"}

// String returns the boot-option spelling of m.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", int32(m))
}

// ParseMode parses the witness= boot option value.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if s == n {
			return Mode(i), nil
		}
	}
	return Off, fmt.Errorf("witness: unknown mode %q (want off, warn or panic)", s)
}

// ReportKind classifies a detection.
type ReportKind uint8

// Report kinds.
const (
	ReportReversal         ReportKind = iota + 1 // lock order reversal
	ReportDuplicate                              // second lock of the same class
	ReportRecursion                              // recursion on a non-recursable lock
	ReportModeMismatch                           // shared while exclusive held, or exclusive while shared held
	ReportUnlockNotHeld                          // unlock of a lock nobody holds
	ReportUnlockNotOwner                         // unlock of a lock held by another owner
	ReportUnlockMismatch                         // shared unlock of exclusive hold or vice versa
	ReportSleepUnderSpin                         // sleep lock acquired with a spin lock held
	ReportSleepInCritical                        // sleep lock acquired in a critical section
	ReportSleepInInterrupt                       // sleep lock acquired in interrupt context
	ReportBlocking                               // blocking with non-sleepable locks held
	ReportThreadExit                             // thread exiting with locks held
	ReportDestroyHeld                            // destroying or re-initialising a held lock
	ReportIntrUnsafe                             // interrupt-safe spin lock also used with interrupts on
	ReportBadUpgrade                             // invalid upgrade or downgrade
	ReportBadClass                               // class registered twice differently, bad flags, bad order list
	numReportKinds
)

var reportNames = [...]string{
	"none",
	"lock order reversal",
	"acquiring duplicate lock of same type",
	"recursed on non-recursive lock",
	"shared/exclusive mismatch",
	"unlock of unheld lock",
	"unlock of lock held by another owner",
	"shared/exclusive unlock mismatch",
	"acquiring blockable sleep lock with spinlock held",
	"acquiring blockable sleep lock in a critical section",
	"acquiring sleep lock in interrupt context",
	"blocking while holding non-sleepable lock(s)",
	"thread exiting with locks held",
	"destroying or re-initialising a held lock",
	"interrupt-unsafe spin lock usage",
	"bad upgrade or downgrade",
	"bad lock class",
}

// String returns the report's headline.
func (k ReportKind) String() string {
	if int(k) < len(reportNames) {
		return reportNames[k]
	}
	return fmt.Sprintf("report(%d)", k)
}

// OrderEdge is one direct edge of the lock order graph, with the stack of
// the acquisition that first established it (nil when it was declared in an
// order list).
type OrderEdge struct {
	From, To string
	Declared bool
	Stack    []uintptr
}

// HeldLock describes a held lock in a report.
type HeldLock struct {
	Name, Class string
	Kind        Kind
	Exclusive   bool
	Recursed    int
	Stack       []uintptr
}

// RuntimeBlockInCritical reports a blocking report of a thread that
// blocked in a system call inside a critical section (kern.OnCriticalBlock):
// the Go runtime waiting on one of its own locks while some code
// (witness's bookkeeping among them) was in a critical section. It names
// the locks the goroutine held at that moment, though none of their
// owners' code blocked there; sleeps on the lock package's own wait
// channels ("cv_wait", ...) are not of this kind.
func (r Report) RuntimeBlockInCritical() bool {
	if r.Kind != ReportBlocking {
		return false
	}
	for _, p := range []string{"futex wait", "nanosleep", "epoll wait", "console read", "pipe read", "pipe write"} {
		if strings.HasPrefix(r.Why, p) {
			return true
		}
	}
	return false
}

// Report is one detection. Reports are deduplicated: the same kind on the
// same class (or class pair) is reported once and counted in Count.
type Report struct {
	Kind  ReportKind
	Owner uint64
	// Lock and Class name the lock being operated on ("2nd" in a reversal).
	Lock, Class string
	LockKind    Kind
	// Other and OtherClass name the other lock involved ("1st"), if any.
	Other, OtherClass string
	OtherKind         Kind
	// Stack is where the offending operation happened; OtherStack where
	// Other was acquired.
	Stack, OtherStack []uintptr
	// Order is the established order that a reversal contradicts, from
	// Class to OtherClass, each edge with the stack that first created it.
	Order []OrderEdge
	// Held lists the locks held, for blocking and thread-exit reports.
	Held []HeldLock
	// Why gives details: the blocking point, the sub-case.
	Why string
	// Count is how many times this report fired (1 at first).
	Count uint64
	// Text is the report as printed.
	Text string
}

// String returns the report as printed.
func (r *Report) String() string { return r.Text }

// Frame is one symbolised stack frame.
type Frame struct {
	PC   uintptr
	Func string
	File string
	Line int
}

// Symbolizer turns captured program counters into frames.
type Symbolizer func(pcs []uintptr) []Frame

// Printer prints witness output (reports, self-test matrix).
type Printer func(format string, args ...any)

// PanicHook is called in Panic mode after a report has been printed.
type PanicHook func(r *Report)

// Hooks make witness's internal locks safe in the kernel. Enter and Exit
// bracket every internal lock hold (the kernel passes critical_enter and
// critical_exit so that a holder is never preempted while a pinned CPU spins
// for it); Relax is called between attempts on a contended internal lock
// (the kernel passes a PAUSE loop; the default calls runtime.Gosched, which
// must not happen with the goroutine pinned).
type Hooks struct {
	Enter, Exit, Relax func()
}

// CallersFrames is the default Symbolizer, built on runtime.CallersFrames.
func CallersFrames(pcs []uintptr) []Frame {
	if len(pcs) == 0 {
		return nil
	}
	out := make([]Frame, 0, len(pcs))
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		out = append(out, Frame{PC: f.PC, Func: f.Function, File: f.File, Line: f.Line})
		if !more {
			break
		}
	}
	return out
}

// StderrPrinter is the default Printer.
func StderrPrinter(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format, args...)
}

// PanicPanics is the default PanicHook.
func PanicPanics(r *Report) {
	panic("witness: " + r.Kind.String() + ": " + r.Class)
}

// Stats are witness's counters.
type Stats struct {
	Classes, Edges int
	// SlowPaths counts order checks that had to take the graph lock (a new
	// pair, or a known reversal); everything else took the lock-free path.
	SlowPaths uint64
	// Reported counts every detection by kind, repeats included.
	Reported map[ReportKind]uint64
}

// Checks counts the reasons lock operations must take their checked
// paths: every witness not in Off mode (private instances of self-tests
// included, so it errs on the side of checking), plus one while lock
// profiling is on (the lock package adds it). At zero, locks take their
// unchecked fast paths, which load only this word. Use sync/atomic's
// functions on it (they inline into those paths more cheaply than
// atomic.Int32's methods).
var Checks int32
