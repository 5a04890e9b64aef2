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

type scenario struct {
	name   string
	flags  ClassFlags // flags of the scenario's classes
	expect Expect     // verdict per column
	run    func(e *env)
	check  func(rs []Report) bool // optional extra condition
}

// env runs one scenario on a fresh witness.
type env struct {
	w     *Witness
	col   MatrixColumn
	flags ClassFlags
	owner uint64
	objs  map[string]*Object
}

// obj returns the lock called name, of the column's kind; "X1" and "X2"
// are two locks of class "X".
func (e *env) obj(name string) *Object {
	return e.objOf(name, e.col.Kind, e.flags)
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
	if e.col.Shared {
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

func spinOnly(k ReportKind) Expect {
	return func(c MatrixColumn) ReportKind {
		if c.Kind == Spin {
			return k
		}
		return NotApplied
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
	{name: "A-A deadlock", expect: ExpectAll(ReportDuplicate), run: func(e *env) { e.L("X1"); e.L("X2") }},
	{name: "A-A recursion", expect: ExpectAll(ReportRecursion), run: func(e *env) { e.L("A"); e.L("A") }},
	{name: "A-A recursable", flags: Recursable, expect: ExpectAll(ExpectNone),
		run: func(e *env) { e.L("A"); e.L("A"); e.U("A"); e.U("A") }},
	{name: "A-B-B-A deadlock", expect: ExpectAll(ReportReversal), run: func(e *env) { e.chain(pairs("AB", "BA")...) }},
	{name: "A-B-B-C-C-A deadlock", expect: ExpectAll(ReportReversal),
		run: func(e *env) { e.chain(pairs("AB", "BC", "CA")...) }},
	{name: "A-B-C-A-B-C deadlock", expect: ExpectAll(ReportReversal),
		run: func(e *env) { e.chain(pairs("AB", "CA", "BC")...) }},
	{name: "A-B-B-C-C-D-D-A deadlock", expect: ExpectAll(ReportReversal),
		run: func(e *env) { e.chain(pairs("AB", "BC", "CD", "DA")...) }},
	{name: "A-B-C-D-B-D-D-A deadlock", expect: ExpectAll(ReportReversal),
		run: func(e *env) { e.chain(pairs("AB", "CD", "BD", "DA")...) }},
	{name: "A-B-C-D-B-C-D-A deadlock", expect: ExpectAll(ReportReversal),
		run: func(e *env) { e.chain(pairs("AB", "CD", "BC", "DA")...) }},
	{name: "double unlock", expect: ExpectAll(ReportUnlockNotHeld), run: func(e *env) { e.L("A"); e.U("A"); e.U("A") }},
	{name: "initialize held", expect: ExpectAll(ReportDestroyHeld), run: func(e *env) {
		e.L("A")
		e.obj("A").Class().Init(e.obj("A"), "A")
	}},
	{name: "destroy held", expect: ExpectAll(ReportDestroyHeld), run: func(e *env) { e.L("A"); e.w.Destroy(e.owner, e.obj("A")) }},
	{name: "bad unlock order", expect: ExpectAll(ExpectNone),
		run: func(e *env) { e.L("A"); e.L("B"); e.U("A"); e.U("B") }},
	{name: "unlock by non-owner", expect: ExpectAll(ReportUnlockNotOwner), run: func(e *env) {
		e.L("A")
		defer e.other(2)()
		e.U("A")
	}},
	{name: "thread exit holding A", expect: ExpectAll(ReportThreadExit),
		run: func(e *env) { e.L("A"); e.w.ThreadExit(e.owner) }},
	{name: "A-B-B-A, A by trylock", expect: ExpectAll(ExpectNone),
		run: func(e *env) { e.LU2("A", "B"); e.L("B"); e.TL("A"); e.U("A"); e.U("B") }},
	{name: "A-B by trylock, B-A", expect: ExpectAll(ReportReversal),
		run: func(e *env) { e.L("A"); e.TL("B"); e.U("B"); e.U("A"); e.LU2("B", "A") }},
	{name: "declared A-B, B-A", expect: ExpectAll(ReportReversal), run: func(e *env) {
		_ = e.w.AddOrder("selftest A", "selftest B")
		e.LU2("B", "A")
	}},
	{name: "blessed A-B-B-A", expect: ExpectAll(ExpectNone), run: func(e *env) {
		e.w.Bless("selftest A", "selftest B")
		e.chain(pairs("AB", "BA")...)
	}},
	{name: "A-B-B-A reported once", expect: ExpectAll(ReportReversal),
		run:   func(e *env) { e.chain(pairs("AB", "BA", "BA")...) },
		check: func(rs []Report) bool { return len(rs) == 1 && rs[0].Count == 2 }},
}, {
	{name: "recursive read-lock", expect: ExpectSharedOnly(ReportRecursion), run: func(e *env) { e.L("A"); e.L("A") }},
	{name: "recursive read-lock recursable", flags: Recursable, expect: ExpectSharedOnly(ExpectNone),
		run: func(e *env) { e.L("A"); e.L("A"); e.U("A"); e.U("A") }},
	{name: "recursive read-lock #2", expect: ExpectSharedOnly(ReportDuplicate), run: func(e *env) { e.L("X1"); e.L("X2") }},
	{name: "mixed read-write-lock", expect: ExpectSharedOnly(ReportModeMismatch), run: func(e *env) { e.RL("A"); e.WL("A") }},
	{name: "mixed write-read-lock", expect: ExpectExclusiveSXRW(ReportModeMismatch), run: func(e *env) { e.WL("A"); e.RL("A") }},
	{name: "exclusive unlock of shared", expect: ExpectSharedOnly(ReportUnlockMismatch),
		run: func(e *env) { e.RL("A"); e.UF("A", 0) }},
	{name: "shared unlock of exclusive", expect: ExpectExclusiveSXRW(ReportUnlockMismatch),
		run: func(e *env) { e.WL("A"); e.UF("A", Shared) }},
	{name: "upgrade, downgrade", flags: Upgradable, expect: ExpectSharedOnly(ExpectNone), run: func(e *env) {
		e.RL("A")
		e.w.Upgrade(e.owner, e.obj("A"))
		e.w.Downgrade(e.owner, e.obj("A"))
		e.UF("A", Shared)
	}},
	{name: "upgrade of non-upgradable", expect: ExpectSharedOnly(ReportBadUpgrade),
		run: func(e *env) { e.RL("A"); e.w.Upgrade(e.owner, e.obj("A")) }},
	{name: "upgrade of exclusive", flags: Upgradable, expect: ExpectExclusiveSXRW(ReportBadUpgrade),
		run: func(e *env) { e.WL("A"); e.w.Upgrade(e.owner, e.obj("A")) }},
}, {
	{name: "lock in critical section", expect: ExpectBlocking(ReportSleepInCritical, ExpectNone), run: func(e *env) {
		e.w.CriticalEnter(e.owner)
		e.L("A")
	}},
	{name: "lock with Critical flag", expect: ExpectBlocking(ReportSleepInCritical, ExpectNone),
		run: func(e *env) { e.LF("A", Critical) }},
	{name: "lock with spin lock held", expect: ExpectBlocking(ReportSleepUnderSpin, ExpectNone), run: func(e *env) {
		e.lockObj(e.objOf("S", Spin, 0), 0)
		e.L("A")
	}},
	{name: "block with lock held", expect: ExpectByKind(ReportBlocking, ReportBlocking, ExpectNone, ReportBlocking),
		run: func(e *env) { e.L("A"); e.w.WarnSleep(e.owner, "selftest") }},
	{name: "block, lock is the interlock", expect: ExpectAll(ExpectNone), run: func(e *env) {
		e.L("A")
		e.w.WarnSleepExcept(e.owner, e.obj("A"), 0, "selftest")
	}},
	{name: "lock in interrupt context", expect: ExpectBlocking(ReportSleepInInterrupt, ExpectNone),
		run: func(e *env) { e.LUF("A", Interrupt) }},
	{name: "lock after mutex", expect: ExpectByKind(ExpectNone, ExpectNone, ReportReversal, ExpectNone), run: func(e *env) {
		e.lockObj(e.objOf("M", Sleep, 0), 0)
		e.L("A")
	}},
	{name: "Giant after lock", expect: ExpectByKind(ReportSleepUnderSpin, ReportReversal, ExpectNone, ReportReversal),
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
			name, want, f = "irqs-off + irq-safe-A", ExpectNone, 0
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
func runCase(sc *scenario, col MatrixColumn) (ok bool, detail string) {
	w := newWitness()
	w.SetPrinter(nil)
	e := &env{w: w, col: col, flags: sc.flags, owner: 1, objs: make(map[string]*Object)}
	var panicked string
	func() {
		defer func() {
			if r := recover(); r != nil {
				panicked = fmt.Sprint(r)
			}
		}()
		sc.run(e)
	}()
	return Verdict(w.Reports(), sc.expect(col), panicked, sc.check)
}

// RunSelftests runs the scenario matrix, prints it through printf like
// locking-selftest.c (a row per scenario, a column per lock kind, "ok",
// "FAILED" or "-" when the scenario does not apply), then the failures in
// detail, and returns the number of passed and failed cases. It needs
// goroutine context and allocates; the kernel runs it as a self-test.
func RunSelftests(printf func(string, ...any)) (ok, failed int) {
	var rows [][]MatrixRow
	for _, sec := range selftestSections {
		var r []MatrixRow
		for i := range sec {
			sc := &sec[i]
			r = append(r, MatrixRow{Name: sc.name, Expect: sc.expect, Run: func(c MatrixColumn) (bool, string) { return runCase(sc, c) }})
		}
		rows = append(rows, r)
	}
	return RunMatrix(printf, "witness self-tests (lib/locking-selftest.c scenarios, FreeBSD WITNESS rules)", "witness", rows)
}
