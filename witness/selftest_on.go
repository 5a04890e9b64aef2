//go:build !nowitness

package witness

import (
	"fmt"
	"runtime"
	"strings"
)

// The self-test matrix mirrors Linux's lib/locking-selftest.c at the
// witness level: each scenario (row) runs against each lock kind (column)
// on a fresh Witness, and its verdict (a report of the expected kind, or
// none) is checked. Where witness follows FreeBSD rather than lockdep the
// verdicts say so:
//
//   - Shared acquisitions are ordered like exclusive ones: A-B-B-A with read
//     locks is a reversal (FreeBSD's rw and sx locks block new readers when
//     a writer waits, so two readers can deadlock through a writer), and a
//     second read lock of the same class is a duplicate. Lockdep exempts
//     rwlock readers; witness does not.
//   - Shared recursion on one lock is allowed only for Recursable classes.
//   - Unlocking in non-LIFO order ("bad unlock order") is legal, as in
//     FreeBSD, where witness_unlock removes the instance from the middle
//     of the list: no report.
//   - Interrupt context is the Interrupt flag; a spin lock taken with
//     interrupts enabled carries IntrEnabled. Only spin locks may be taken
//     in interrupt context, so those rows apply to the spin column.

// column is a lock kind under test.
type column struct {
	name   string
	kind   Kind
	shared bool
}

var selftestColumns = []column{
	{"spin", Spin, false}, {"mutex", Sleep, false},
	{"sx-x", SX, false}, {"sx-s", SX, true},
	{"rw-w", RW, false}, {"rw-r", RW, true},
}

// Verdicts besides a ReportKind: no report at all, or not meaningful.
const (
	expectNone ReportKind = 0
	notApplied ReportKind = 255
)

type scenario struct {
	name   string
	flags  ClassFlags                // flags of the scenario's classes
	expect func(c column) ReportKind // verdict per column
	run    func(e *env)
	check  func(rs []Report) bool // optional extra condition
}

// env runs one scenario on a fresh witness.
type env struct {
	w     *Witness
	col   column
	flags ClassFlags
	owner uint64
	objs  map[string]*Object
}

// obj returns the lock called name, of the column's kind; "X1" and "X2"
// are two locks of class "X".
func (e *env) obj(name string) *Object {
	return e.objOf(name, e.col.kind, e.flags)
}

func (e *env) objOf(name string, kind Kind, flags ClassFlags) *Object {
	if o := e.objs[name]; o != nil {
		return o
	}
	cname := strings.TrimRight(name, "0123456789")
	if cname != GiantName {
		cname = "selftest " + cname
	}
	o := new(Object)
	e.w.NewClass(cname, kind, flags).Init(o, name)
	e.objs[name] = o
	return o
}

func (e *env) mode() Flags {
	if e.col.shared {
		return Shared
	}
	return 0
}

func here() []uintptr {
	var pcs [16]uintptr
	return pcs[:runtime.Callers(3, pcs[:])]
}

func (e *env) lockObj(o *Object, f Flags) {
	e.w.CheckOrder(e.owner, o, f)
	e.w.Lock(e.owner, o, f, here())
}

func (e *env) L(name string)            { e.lockObj(e.obj(name), e.mode()) }
func (e *env) U(name string)            { e.w.Unlock(e.owner, e.obj(name), e.mode()) }
func (e *env) LF(name string, f Flags)  { e.lockObj(e.obj(name), e.mode()|f) }
func (e *env) RL(name string)           { e.lockObj(e.obj(name), Shared) }
func (e *env) WL(name string)           { e.lockObj(e.obj(name), 0) }
func (e *env) UF(name string, f Flags)  { e.w.Unlock(e.owner, e.obj(name), f) }
func (e *env) TL(name string)           { e.w.TryLock(e.owner, e.obj(name), e.mode(), here()) }
func (e *env) LU2(a, b string)          { e.L(a); e.L(b); e.U(b); e.U(a) }
func (e *env) LUF(name string, f Flags) { e.LF(name, f); e.UF(name, e.mode()) }
func (e *env) chain(pairs ...[2]string) {
	for _, p := range pairs {
		e.LU2(p[0], p[1])
	}
}
func (e *env) other(owner uint64) func() {
	old := e.owner
	e.owner = owner
	return func() { e.owner = old }
}

func all(k ReportKind) func(column) ReportKind { return func(column) ReportKind { return k } }

// blocking expects k for blocking kinds and spin for the spin column.
func blocking(k, spin ReportKind) func(column) ReportKind {
	return func(c column) ReportKind {
		if c.kind == Spin {
			return spin
		}
		return k
	}
}

func sharedOnly(k ReportKind) func(column) ReportKind {
	return func(c column) ReportKind {
		if c.shared {
			return k
		}
		return notApplied
	}
}

func exclusiveSXRW(k ReportKind) func(column) ReportKind {
	return func(c column) ReportKind {
		if c.kind.Shareable() && !c.shared {
			return k
		}
		return notApplied
	}
}

func spinOnly(k ReportKind) func(column) ReportKind {
	return func(c column) ReportKind {
		if c.kind == Spin {
			return k
		}
		return notApplied
	}
}

func byKind(spin, mutex, sx, rw ReportKind) func(column) ReportKind {
	return func(c column) ReportKind {
		return map[Kind]ReportKind{Spin: spin, Sleep: mutex, SX: sx, RW: rw}[c.kind]
	}
}

func pairs(s ...string) [][2]string {
	var p [][2]string
	for _, x := range s {
		p = append(p, [2]string{x[:1], x[1:]})
	}
	return p
}

// selftestSections lists the scenarios, in sections separated by a rule.
var selftestSections = [][]scenario{{
	{name: "A-A deadlock", expect: all(ReportDuplicate), run: func(e *env) { e.L("X1"); e.L("X2") }},
	{name: "A-A recursion", expect: all(ReportRecursion), run: func(e *env) { e.L("A"); e.L("A") }},
	{name: "A-A recursable", flags: Recursable, expect: all(expectNone),
		run: func(e *env) { e.L("A"); e.L("A"); e.U("A"); e.U("A") }},
	{name: "A-B-B-A deadlock", expect: all(ReportReversal), run: func(e *env) { e.chain(pairs("AB", "BA")...) }},
	{name: "A-B-B-C-C-A deadlock", expect: all(ReportReversal),
		run: func(e *env) { e.chain(pairs("AB", "BC", "CA")...) }},
	{name: "A-B-C-A-B-C deadlock", expect: all(ReportReversal),
		run: func(e *env) { e.chain(pairs("AB", "CA", "BC")...) }},
	{name: "A-B-B-C-C-D-D-A deadlock", expect: all(ReportReversal),
		run: func(e *env) { e.chain(pairs("AB", "BC", "CD", "DA")...) }},
	{name: "A-B-C-D-B-D-D-A deadlock", expect: all(ReportReversal),
		run: func(e *env) { e.chain(pairs("AB", "CD", "BD", "DA")...) }},
	{name: "A-B-C-D-B-C-D-A deadlock", expect: all(ReportReversal),
		run: func(e *env) { e.chain(pairs("AB", "CD", "BC", "DA")...) }},
	{name: "double unlock", expect: all(ReportUnlockNotHeld), run: func(e *env) { e.L("A"); e.U("A"); e.U("A") }},
	{name: "initialize held", expect: all(ReportDestroyHeld), run: func(e *env) {
		e.L("A")
		e.obj("A").Class().Init(e.obj("A"), "A")
	}},
	{name: "destroy held", expect: all(ReportDestroyHeld), run: func(e *env) { e.L("A"); e.w.Destroy(e.owner, e.obj("A")) }},
	{name: "bad unlock order", expect: all(expectNone),
		run: func(e *env) { e.L("A"); e.L("B"); e.U("A"); e.U("B") }},
	{name: "unlock by non-owner", expect: all(ReportUnlockNotOwner), run: func(e *env) {
		e.L("A")
		defer e.other(2)()
		e.U("A")
	}},
	{name: "thread exit holding A", expect: all(ReportThreadExit),
		run: func(e *env) { e.L("A"); e.w.ThreadExit(e.owner) }},
	{name: "A-B-B-A, A by trylock", expect: all(expectNone),
		run: func(e *env) { e.LU2("A", "B"); e.L("B"); e.TL("A"); e.U("A"); e.U("B") }},
	{name: "A-B by trylock, B-A", expect: all(ReportReversal),
		run: func(e *env) { e.L("A"); e.TL("B"); e.U("B"); e.U("A"); e.LU2("B", "A") }},
	{name: "declared A-B, B-A", expect: all(ReportReversal), run: func(e *env) {
		_ = e.w.AddOrder("selftest A", "selftest B")
		e.LU2("B", "A")
	}},
	{name: "blessed A-B-B-A", expect: all(expectNone), run: func(e *env) {
		e.w.Bless("selftest A", "selftest B")
		e.chain(pairs("AB", "BA")...)
	}},
	{name: "A-B-B-A reported once", expect: all(ReportReversal),
		run:   func(e *env) { e.chain(pairs("AB", "BA", "BA")...) },
		check: func(rs []Report) bool { return len(rs) == 1 && rs[0].Count == 2 }},
}, {
	{name: "recursive read-lock", expect: sharedOnly(ReportRecursion), run: func(e *env) { e.L("A"); e.L("A") }},
	{name: "recursive read-lock recursable", flags: Recursable, expect: sharedOnly(expectNone),
		run: func(e *env) { e.L("A"); e.L("A"); e.U("A"); e.U("A") }},
	{name: "recursive read-lock #2", expect: sharedOnly(ReportDuplicate), run: func(e *env) { e.L("X1"); e.L("X2") }},
	{name: "mixed read-write-lock", expect: sharedOnly(ReportModeMismatch), run: func(e *env) { e.RL("A"); e.WL("A") }},
	{name: "mixed write-read-lock", expect: exclusiveSXRW(ReportModeMismatch), run: func(e *env) { e.WL("A"); e.RL("A") }},
	{name: "exclusive unlock of shared", expect: sharedOnly(ReportUnlockMismatch),
		run: func(e *env) { e.RL("A"); e.UF("A", 0) }},
	{name: "shared unlock of exclusive", expect: exclusiveSXRW(ReportUnlockMismatch),
		run: func(e *env) { e.WL("A"); e.UF("A", Shared) }},
	{name: "upgrade, downgrade", flags: Upgradable, expect: sharedOnly(expectNone), run: func(e *env) {
		e.RL("A")
		e.w.Upgrade(e.owner, e.obj("A"))
		e.w.Downgrade(e.owner, e.obj("A"))
		e.UF("A", Shared)
	}},
	{name: "upgrade of non-upgradable", expect: sharedOnly(ReportBadUpgrade),
		run: func(e *env) { e.RL("A"); e.w.Upgrade(e.owner, e.obj("A")) }},
	{name: "upgrade of exclusive", flags: Upgradable, expect: exclusiveSXRW(ReportBadUpgrade),
		run: func(e *env) { e.WL("A"); e.w.Upgrade(e.owner, e.obj("A")) }},
}, {
	{name: "lock in critical section", expect: blocking(ReportSleepInCritical, expectNone), run: func(e *env) {
		e.w.CriticalEnter(e.owner)
		e.L("A")
	}},
	{name: "lock with Critical flag", expect: blocking(ReportSleepInCritical, expectNone),
		run: func(e *env) { e.LF("A", Critical) }},
	{name: "lock with spin lock held", expect: blocking(ReportSleepUnderSpin, expectNone), run: func(e *env) {
		e.lockObj(e.objOf("S", Spin, 0), 0)
		e.L("A")
	}},
	{name: "block with lock held", expect: byKind(ReportBlocking, ReportBlocking, expectNone, ReportBlocking),
		run: func(e *env) { e.L("A"); e.w.WarnSleep(e.owner, "selftest") }},
	{name: "block, lock is the interlock", expect: all(expectNone), run: func(e *env) {
		e.L("A")
		e.w.WarnSleepExcept(e.owner, e.obj("A"), 0, "selftest")
	}},
	{name: "lock in interrupt context", expect: blocking(ReportSleepInInterrupt, expectNone),
		run: func(e *env) { e.LUF("A", Interrupt) }},
	{name: "lock after mutex", expect: byKind(expectNone, expectNone, ReportReversal, expectNone), run: func(e *env) {
		e.lockObj(e.objOf("M", Sleep, 0), 0)
		e.L("A")
	}},
	{name: "Giant after lock", expect: byKind(ReportSleepUnderSpin, ReportReversal, expectNone, ReportReversal),
		run: func(e *env) {
			e.L("A")
			e.lockObj(e.objOf(GiantName, Sleep, 0), 0)
		}},
}, irqScenarios()}

// irqScenarios are locking-selftest.c's irqsafe1 and irqsafe3 families:
// E1 takes A in interrupt context; E2 takes it with interrupts enabled
// (IntrEnabled) or disabled; safe-A + unsafe-B orders A before B, takes B
// with interrupts enabled and A in interrupt context, in every order.
func irqScenarios() []scenario {
	var s []scenario
	perms2 := []string{"12", "21"}
	for _, on := range []bool{true, false} {
		name, want, f := "irqs-on + irq-safe-A", ReportIntrUnsafe, IntrEnabled
		if !on {
			name, want, f = "irqs-off + irq-safe-A", expectNone, 0
		}
		for _, p := range perms2 {
			ev := map[byte]func(e *env){
				'1': func(e *env) { e.LUF("A", Interrupt) },
				'2': func(e *env) { e.LUF("A", f) },
			}
			s = append(s, scenario{name: name + "/" + p, expect: spinOnly(want), run: func(e *env) {
				for i := range p {
					ev[p[i]](e)
				}
			}})
		}
	}
	ev := map[byte]func(e *env){
		'1': func(e *env) { e.LU2("A", "B") },
		'2': func(e *env) { e.LUF("B", IntrEnabled) },
		'3': func(e *env) { e.LUF("A", Interrupt) },
	}
	for _, p := range []string{"123", "132", "213", "231", "312", "321"} {
		s = append(s, scenario{name: "safe-A + unsafe-B/" + p, expect: spinOnly(ReportIntrUnsafe), run: func(e *env) {
			for i := range p {
				ev[p[i]](e)
			}
		}})
	}
	return s
}

// runCase runs one scenario against one column on a fresh witness.
func runCase(sc *scenario, col column) (ok bool, detail string) {
	w := newWitness()
	w.SetPrinter(nil)
	e := &env{w: w, col: col, flags: sc.flags, owner: 1, objs: make(map[string]*Object)}
	want := sc.expect(col)
	func() {
		defer func() {
			if r := recover(); r != nil {
				detail = fmt.Sprintf("panic: %v", r)
			}
		}()
		sc.run(e)
	}()
	rs := w.Reports()
	var got []string
	ok = detail == ""
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s (x%d)", r.Kind, r.Count))
		ok = ok && r.Kind == want
	}
	if want == expectNone {
		ok = ok && len(rs) == 0
	} else {
		ok = ok && len(rs) > 0
	}
	if sc.check != nil {
		ok = ok && sc.check(rs)
	}
	wantS := "no report"
	if want != expectNone {
		wantS = want.String()
	}
	if detail == "" {
		detail = fmt.Sprintf("want %s, got [%s]", wantS, strings.Join(got, ", "))
	}
	return ok, detail
}

// RunSelftests runs the scenario matrix, prints it through printf like
// locking-selftest.c (a row per scenario, a column per lock kind, "ok",
// "FAILED" or "-" when the scenario does not apply), then the failures in
// detail, and returns the number of passed and failed cases. It needs
// goroutine context and allocates; the kernel runs it as a self-test.
func RunSelftests(printf func(string, ...any)) (ok, failed int) {
	rule := "  " + strings.Repeat("-", 76)
	var hdr strings.Builder
	hdr.WriteString(strings.Repeat(" ", 33) + "|")
	for _, c := range selftestColumns {
		fmt.Fprintf(&hdr, "%-6s|", fmt.Sprintf("%*s", 3+len(c.name)/2, c.name))
	}
	printf("%s\n", rule)
	printf("  | witness self-tests (lib/locking-selftest.c scenarios, FreeBSD WITNESS rules):\n")
	printf("%s\n", rule)
	printf("%s\n", hdr.String())
	printf("%s\n", rule)
	var failures []string
	for _, sec := range selftestSections {
		for i := range sec {
			sc := &sec[i]
			var row strings.Builder
			fmt.Fprintf(&row, "%33s:", sc.name)
			for _, col := range selftestColumns {
				if sc.expect(col) == notApplied {
					row.WriteString("  -   |")
					continue
				}
				pass, detail := runCase(sc, col)
				if pass {
					ok++
					row.WriteString("  ok  |")
				} else {
					failed++
					row.WriteString("FAILED|")
					failures = append(failures, fmt.Sprintf("%s/%s: %s", sc.name, col.name, detail))
				}
			}
			printf("%s\n", row.String())
		}
		printf("%s\n", rule)
	}
	if failed == 0 {
		printf("Good, all %d witness self-tests passed!\n", ok)
	} else {
		printf("BUG: %d unexpected failures (out of %d):\n", failed, ok+failed)
		for _, f := range failures {
			printf("  %s\n", f)
		}
	}
	return ok, failed
}
