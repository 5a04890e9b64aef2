//go:build !nowitness

package witness

import (
	"fmt"
	"runtime"
	"strings"
)

// reportKey identifies a report for once-only printing: FreeBSD reports a
// given reversal pair once (WITNESS_REVERSAL in w_rmatrix) and a duplicate
// class once; every kind here is keyed by its class (or class pair) and
// sub-case.
type reportKey struct {
	kind ReportKind
	a, b int32
	why  string
}

// pending is a report built under witness's locks and emitted after they
// are dropped. cur asks emit to fill Stack with the caller's stack.
type pending struct {
	key reportKey
	r   *Report
	cur bool
}

// emit records, prints and (in Panic mode) panics for each pending report.
// It runs with no internal lock held, so printers may take witnessed locks.
func (w *Witness) emit(out []pending) {
	var cur []uintptr
	for i, p := range out {
		if p.cur && p.r.Stack == nil {
			if cur == nil {
				cur = captureCaller()
			}
			out[i].r.Stack = cur
		}
		w.emitOne(p)
	}
}

func (w *Witness) emitOne(p pending) {
	mode := Mode(w.mode.Load())
	if mode == Off {
		return
	}
	w.counts[p.key.kind].Add(1)
	cfg := w.lock(&w.rmu)
	if r := w.rkeys[p.key]; r != nil {
		r.Count++
		w.unlock(&w.rmu, cfg)
		return
	}
	w.unlock(&w.rmu, cfg)
	// Symbolise outside the lock: the symboliser may be slow or take
	// locks of its own.
	p.r.Count = 1
	p.r.Text = formatReport(cfg.sym, p.r)
	cfg = w.lock(&w.rmu)
	if r := w.rkeys[p.key]; r != nil {
		r.Count++ // another CPU reported the same thing meanwhile
		w.unlock(&w.rmu, cfg)
		return
	}
	w.rkeys[p.key] = p.r
	w.reports = append(w.reports, p.r)
	cp := *p.r
	w.unlock(&w.rmu, cfg)
	cfg.printer("%s", cp.Text)
	if mode == Panic {
		cfg.panicHook(&cp)
	}
}

// Reports returns a copy of every distinct report so far, in the order
// they were first seen, with their counts.
func (w *Witness) Reports() []Report {
	cfg := w.lock(&w.rmu)
	defer w.unlock(&w.rmu, cfg)
	out := make([]Report, len(w.reports))
	for i, r := range w.reports {
		out[i] = *r
	}
	return out
}

// Stats returns witness's counters.
func (w *Witness) Stats() Stats {
	s := Stats{SlowPaths: w.slow.Load(), Reported: make(map[ReportKind]uint64)}
	for k := range w.counts {
		if n := w.counts[k].Load(); n > 0 {
			s.Reported[ReportKind(k)] = n
		}
	}
	cfg := w.lock(&w.mu)
	s.Classes, s.Edges = len(w.classes), len(w.edges)
	w.unlock(&w.mu, cfg)
	return s
}

// witnessPkg prefixes the function names of this package's frames.
const witnessPkg = "github.com/smpgo/smpgo/witness."

// apiEntries are the exported functions and methods through which callers
// reach code that captures a stack: captured stacks start at their caller.
var apiEntries = map[string]bool{
	"CheckOrder": true, "Lock": true, "TryLock": true, "Unlock": true,
	"Upgrade": true, "Downgrade": true, "Destroy": true, "Init": true,
	"WarnSleep": true, "WarnSleepExcept": true, "ThreadExit": true,
	"NewClass": true, "AddOrder": true,
}

func isAPIEntry(fn string) bool {
	if !strings.HasPrefix(fn, witnessPkg) {
		return false
	}
	fn = fn[len(witnessPkg):]
	fn = strings.TrimPrefix(fn, "(*Witness).")
	fn = strings.TrimPrefix(fn, "(*Class).")
	return apiEntries[fn]
}

// captureCaller returns the current stack starting at the caller of the
// witness API function that led here, whatever the internal call depth and
// inlining: it looks for the outermost API frame among the first frames and
// cuts after it (keeping its PC if the API function was inlined into the
// caller, which then shares the PC).
func captureCaller() []uintptr {
	var buf [48]uintptr
	n := runtime.Callers(2, buf[:])
	pcs := buf[:n]
	cut := 0
	for i := 0; i < n && i < 16; i++ {
		frames := runtime.CallersFrames(pcs[i : i+1])
		for {
			f, more := frames.Next()
			if isAPIEntry(f.Function) {
				cut = i + 1
				if more {
					cut = i
				}
			}
			if !more {
				break
			}
		}
	}
	pcs = pcs[cut:]
	if len(pcs) > 32 {
		pcs = pcs[:32]
	}
	return clonePCs(pcs)
}

// describe formats a lock for report lines: "name" (kind "class").
func describe(name, class string, kind Kind) string {
	if name == "" || name == class {
		return fmt.Sprintf("%q (%s)", class, kind)
	}
	return fmt.Sprintf("%q (%s %q)", name, kind, class)
}

// heldLine is FreeBSD's witness_list_lock line.
func heldLine(sym Symbolizer, h HeldLock) string {
	mode := "shared"
	if h.Exclusive {
		mode = "exclusive"
	}
	s := fmt.Sprintf("%s %s %s", mode, h.Kind, h.Name)
	if h.Class != h.Name {
		s += " (" + h.Class + ")"
	}
	return s + fmt.Sprintf(" r = %d locked @ %s", h.Recursed, where(sym, h.Stack))
}

func writeOrder(b *strings.Builder, sym Symbolizer, order []OrderEdge) {
	if len(order) == 0 {
		return
	}
	names := []string{fmt.Sprintf("%q", order[0].From)}
	for _, e := range order {
		names = append(names, fmt.Sprintf("%q", e.To))
	}
	fmt.Fprintf(b, " established order %s:\n", strings.Join(names, " -> "))
	for _, e := range order {
		if e.Declared {
			fmt.Fprintf(b, "  %q -> %q declared in witness.Order\n", e.From, e.To)
			continue
		}
		fmt.Fprintf(b, "  %q -> %q first seen at:\n", e.From, e.To)
		writeStack(b, sym, e.Stack, "   ")
	}
}

// formatReport renders a report, FreeBSD-style.
func formatReport(sym Symbolizer, r *Report) string {
	var b strings.Builder
	switch r.Kind {
	case ReportReversal:
		b.WriteString("lock order reversal:")
		if r.Why != "" {
			b.WriteString(" (" + r.Why + ")")
		}
		fmt.Fprintf(&b, "\n 1st %s @ %s\n", describe(r.Other, r.OtherClass, r.OtherKind), where(sym, r.OtherStack))
		fmt.Fprintf(&b, " 2nd %s @ %s\n", describe(r.Lock, r.Class, r.LockKind), where(sym, r.Stack))
		writeOrder(&b, sym, r.Order)
		b.WriteString(" 1st acquired at:\n")
		writeStack(&b, sym, r.OtherStack, "   ")
		b.WriteString(" 2nd acquired at:\n")
		writeStack(&b, sym, r.Stack, "   ")
		return b.String()
	case ReportBlocking:
		fmt.Fprintf(&b, "%s: %s", r.Kind, r.Why)
		if len(r.Held) > 0 {
			b.WriteString(" with the following non-sleepable locks held:")
		}
		b.WriteString("\n")
	case ReportThreadExit:
		fmt.Fprintf(&b, "%s: owner %#x exiting with the following locks held:\n", r.Kind, r.Owner)
	case ReportIntrUnsafe:
		fmt.Fprintf(&b, "%s: %s\n", r.Kind, r.Why)
		fmt.Fprintf(&b, " %q taken in interrupt context at:\n", r.OtherClass)
		writeStack(&b, sym, r.OtherStack, "   ")
		fmt.Fprintf(&b, " %q taken with interrupts enabled at:\n", r.Class)
		writeStack(&b, sym, r.Stack, "   ")
		writeOrder(&b, sym, r.Order)
		return b.String()
	default:
		b.WriteString(r.Kind.String())
		if r.Why != "" {
			b.WriteString(": " + r.Why)
		}
		b.WriteString("\n")
		if r.Class != "" {
			fmt.Fprintf(&b, " lock %s @ %s\n", describe(r.Lock, r.Class, r.LockKind), where(sym, r.Stack))
		}
		if r.OtherClass != "" {
			fmt.Fprintf(&b, " with %s held @ %s\n", describe(r.Other, r.OtherClass, r.OtherKind), where(sym, r.OtherStack))
		} else if len(r.OtherStack) > 0 {
			fmt.Fprintf(&b, " acquired @ %s\n", where(sym, r.OtherStack))
		}
	}
	for _, h := range r.Held {
		b.WriteString(" " + heldLine(sym, h) + "\n")
	}
	if r.Owner != 0 {
		fmt.Fprintf(&b, " owner %#x\n", r.Owner)
	}
	if len(r.Stack) > 0 {
		b.WriteString(" stack backtrace:\n")
		writeStack(&b, sym, r.Stack, "   ")
	}
	return b.String()
}

// shortFile trims a path to its last two elements, as FreeBSD's
// fixup_filename trims "../".
func shortFile(f string) string {
	i := strings.LastIndexByte(f, '/')
	if i < 0 {
		return f
	}
	if j := strings.LastIndexByte(f[:i], '/'); j >= 0 {
		return f[j+1:]
	}
	return f
}

// where formats the top frame of a stack: "pkg.Func (dir/file.go:12)".
func where(sym Symbolizer, pcs []uintptr) string {
	if len(pcs) == 0 {
		return "?"
	}
	fr := sym(pcs[:1])
	if len(fr) == 0 {
		return fmt.Sprintf("%#x", pcs[0])
	}
	f := fr[0]
	return fmt.Sprintf("%s (%s:%d)", f.Func, shortFile(f.File), f.Line)
}

// writeStack formats a whole stack, one frame per line, FreeBSD stack_print
// style: "#0 0xPC at func+file:line".
func writeStack(b *strings.Builder, sym Symbolizer, pcs []uintptr, indent string) {
	if len(pcs) == 0 {
		b.WriteString(indent + "(no stack)\n")
		return
	}
	for i, f := range sym(pcs) {
		fmt.Fprintf(b, "%s#%d %#x at %s (%s:%d)\n", indent, i, f.PC, f.Func, shortFile(f.File), f.Line)
	}
}
