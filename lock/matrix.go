package lock

import (
	"fmt"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// The locking-selftest matrix (Linux lib/locking-selftest.c) on the
// concrete lock types: each scenario runs once per column (spin mutex,
// sleep mutex, sx exclusive and shared, rw write and read) with real locks
// of this package, registered on a fresh witness, and the verdict (the
// report witness must make, or none) is checked. Rows follow the
// witness-level matrix (witness/selftest_on.go, which also explains where
// FreeBSD's rules differ from lockdep's); rows that only exist at that
// level (interrupt-context use, a Critical flag, non-upgradable classes)
// are left to it. An acquisition that would really deadlock (an exclusive
// lock of an sx or rw the goroutine holds shared) is only checked, as
// witness does before blocking; one the lock itself refuses (recursion on
// a non-recursive lock) panics after witness reported it, and the panic is
// recovered. Whatever a case leaves held is released afterwards.

type mscen struct {
	name   string
	opts   Opt
	expect witness.Expect
	run    func(e *menv)
	check  func(rs []witness.Report) bool
}

type mheld struct {
	name   string
	shared bool
}

// menv runs one case: its locks, what it holds, cleanups.
type menv struct {
	w        *witness.Witness
	col      witness.MatrixColumn
	opts     Opt
	locks    map[string]any
	held     []mheld
	cleanups []func()
}

func (e *menv) get(name string) any { return e.getKind(name, e.col.Kind, e.opts) }

func (e *menv) getKind(name string, kind witness.Kind, o Opt) any {
	if l := e.locks[name]; l != nil {
		return l
	}
	cname := strings.TrimRight(name, "0123456789")
	if cname != witness.GiantName {
		cname = "selftest " + cname
	}
	var l any
	switch kind {
	case witness.Spin:
		s := new(SpinMutex)
		s.initIn(e.w, cname, o)
		l = s
	case witness.Sleep:
		m := new(Mutex)
		m.initIn(e.w, cname, o)
		l = m
	case witness.SX:
		s := new(SX)
		s.l.init(e.w, cname, kind, o)
		l = s
	case witness.RW:
		r := new(RW)
		r.l.init(e.w, cname, kind, o)
		l = r
	}
	e.locks[name] = l
	return l
}

func core(l any) *rwcore {
	switch x := l.(type) {
	case *SX:
		return &x.l
	case *RW:
		return &x.l
	}
	return nil
}

// acquire takes lock l (in e.locks under name) in the given mode.
func (e *menv) acquire(name string, l any, shared bool) {
	var f func()
	switch x := l.(type) {
	case *SpinMutex:
		f = x.Lock
	case *Mutex:
		f = x.Lock
	default:
		c := core(l)
		if shared {
			f = c.slock
		} else {
			if rwSharers(c.word.Load()) > 0 {
				// Would wait forever for our own read hold: what
				// witness checks before blocking is all that happens.
				c.cls.w.CheckOrder(kern.Owner(), &c.obj, blockFlags(0))
				return
			}
			f = c.xlock
		}
	}
	if !panics(f) {
		e.held = append(e.held, mheld{name, shared})
	}
}

func (e *menv) release(name string, l any, shared bool) {
	for i := len(e.held) - 1; i >= 0; i-- {
		if e.held[i].name == name {
			e.held = append(e.held[:i], e.held[i+1:]...)
			break
		}
	}
	switch x := l.(type) {
	case *SpinMutex:
		x.Unlock()
	case *Mutex:
		x.Unlock()
	default:
		if shared {
			core(l).sunlock()
		} else {
			core(l).xunlock()
		}
	}
}

func (e *menv) try(name string, shared bool) {
	l := e.get(name)
	var ok bool
	switch x := l.(type) {
	case *SpinMutex:
		ok = x.TryLock()
	case *Mutex:
		ok = x.TryLock()
	default:
		if shared {
			ok = core(l).tryslock()
		} else {
			ok = core(l).tryxlock()
		}
	}
	if ok {
		e.held = append(e.held, mheld{name, shared})
	}
}

func (e *menv) L(name string)  { e.acquire(name, e.get(name), e.col.Shared) }
func (e *menv) U(name string)  { e.release(name, e.get(name), e.col.Shared) }
func (e *menv) RL(name string) { e.acquire(name, e.get(name), true) }
func (e *menv) WL(name string) { e.acquire(name, e.get(name), false) }
func (e *menv) TL(name string) { e.try(name, e.col.Shared) }
func (e *menv) LU2(a, b string) {
	e.L(a)
	e.L(b)
	e.U(b)
	e.U(a)
}
func (e *menv) chain(p ...string) {
	for _, x := range p {
		e.LU2(x[:1], x[1:])
	}
}

// LK takes a lock of another kind than the column's.
func (e *menv) LK(name string, kind witness.Kind) { e.acquire(name, e.getKind(name, kind, 0), false) }

// cleanup releases what the case still holds, newest first, and runs the
// registered cleanups; nothing it does can change the verdict, which was
// taken before.
func (e *menv) cleanup() {
	for len(e.held) > 0 {
		h := e.held[len(e.held)-1]
		panics(func() { e.release(h.name, e.locks[h.name], h.shared) })
	}
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

func mblocking(k witness.ReportKind) witness.Expect {
	return witness.ExpectBlocking(k, witness.NotApplied)
}

// mexclusive expects k in the exclusive columns of the blocking kinds.
func mexclusive(k witness.ReportKind) witness.Expect {
	return func(c witness.MatrixColumn) witness.ReportKind {
		if c.Shared || c.Kind == witness.Spin {
			return witness.NotApplied
		}
		return k
	}
}

// block blocks for real: a nanosleep system call inside the spin mutex's
// critical section (seen by the kernel, reported at unlock), else a sleep
// on a wait channel.
func (e *menv) block(interlock Interlock) {
	if e.col.Kind == witness.Spin && interlock == nil {
		ts := syscall.Timespec{Nsec: 200000}
		syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
		return
	}
	var x int
	sleepOnIn(e.w, uintptr(unsafe.Pointer(&x)), interlock, "selftest", 200*time.Microsecond)
}

var msections = [][]mscen{{
	{name: "A-A deadlock", expect: witness.ExpectAll(witness.ReportDuplicate), run: func(e *menv) { e.L("X1"); e.L("X2") }},
	{name: "A-A recursion", expect: witness.ExpectAll(witness.ReportRecursion), run: func(e *menv) { e.L("A"); e.L("A") }},
	{name: "A-A recursable", opts: Recursive, expect: witness.ExpectAll(witness.ExpectNone),
		run: func(e *menv) { e.L("A"); e.L("A"); e.U("A"); e.U("A") }},
	{name: "A-B-B-A deadlock", expect: witness.ExpectAll(witness.ReportReversal), run: func(e *menv) { e.chain("AB", "BA") }},
	{name: "A-B-B-C-C-A deadlock", expect: witness.ExpectAll(witness.ReportReversal), run: func(e *menv) { e.chain("AB", "BC", "CA") }},
	{name: "A-B-C-A-B-C deadlock", expect: witness.ExpectAll(witness.ReportReversal), run: func(e *menv) { e.chain("AB", "CA", "BC") }},
	{name: "A-B-B-C-C-D-D-A deadlock", expect: witness.ExpectAll(witness.ReportReversal),
		run: func(e *menv) { e.chain("AB", "BC", "CD", "DA") }},
	{name: "A-B-C-D-B-D-D-A deadlock", expect: witness.ExpectAll(witness.ReportReversal),
		run: func(e *menv) { e.chain("AB", "CD", "BD", "DA") }},
	{name: "A-B-C-D-B-C-D-A deadlock", expect: witness.ExpectAll(witness.ReportReversal),
		run: func(e *menv) { e.chain("AB", "CD", "BC", "DA") }},
	{name: "double unlock", expect: witness.ExpectAll(witness.ReportUnlockNotHeld), run: func(e *menv) { e.L("A"); e.U("A"); e.U("A") }},
	{name: "initialize held", expect: witness.ExpectAll(witness.ReportDestroyHeld), run: func(e *menv) {
		e.L("A")
		switch x := e.get("A").(type) {
		case *SpinMutex:
			x.initIn(e.w, "selftest A", 0)
		case *Mutex:
			x.initIn(e.w, "selftest A", 0)
		default:
			core(x).init(e.w, "selftest A", e.col.Kind, 0)
		}
	}},
	{name: "destroy held", expect: mexclusive(witness.ReportDestroyHeld), run: func(e *menv) {
		e.L("A")
		switch x := e.get("A").(type) {
		case *Mutex:
			x.Destroy()
		default:
			core(x).destroy()
		}
	}},
	{name: "bad unlock order", expect: witness.ExpectAll(witness.ExpectNone), run: func(e *menv) { e.L("A"); e.L("B"); e.U("A"); e.U("B") }},
	// Not for spin mutexes: the owner would have to wait, pinned, for
	// the other goroutine.
	{name: "unlock by non-owner", expect: mblocking(witness.ReportUnlockNotOwner), run: func(e *menv) {
		e.L("A")
		done := make(chan bool)
		go func() { panics(func() { e.release("A", e.get("A"), e.col.Shared) }); done <- true }()
		<-done
		e.held = append(e.held, mheld{"A", e.col.Shared}) // still ours
	}},
	{name: "A-B-B-A, A by trylock", expect: witness.ExpectAll(witness.ExpectNone),
		run: func(e *menv) { e.LU2("A", "B"); e.L("B"); e.TL("A"); e.U("A"); e.U("B") }},
	{name: "A-B by trylock, B-A", expect: witness.ExpectAll(witness.ReportReversal),
		run: func(e *menv) { e.L("A"); e.TL("B"); e.U("B"); e.U("A"); e.LU2("B", "A") }},
	{name: "declared A-B, B-A", expect: witness.ExpectAll(witness.ReportReversal), run: func(e *menv) {
		_ = e.w.AddOrder("selftest A", "selftest B")
		e.LU2("B", "A")
	}},
	{name: "blessed A-B-B-A", expect: witness.ExpectAll(witness.ExpectNone), run: func(e *menv) {
		e.w.Bless("selftest A", "selftest B")
		e.chain("AB", "BA")
	}},
	{name: "A-B-B-A reported once", expect: witness.ExpectAll(witness.ReportReversal),
		run:   func(e *menv) { e.chain("AB", "BA", "BA") },
		check: func(rs []witness.Report) bool { return len(rs) == 1 && rs[0].Count == 2 }},
}, {
	{name: "recursive read-lock", expect: witness.ExpectSharedOnly(witness.ReportRecursion), run: func(e *menv) { e.L("A"); e.L("A") }},
	{name: "recursive read-lock recursable", opts: Recursive, expect: witness.ExpectSharedOnly(witness.ExpectNone),
		run: func(e *menv) { e.L("A"); e.L("A"); e.U("A"); e.U("A") }},
	{name: "recursive read-lock #2", expect: witness.ExpectSharedOnly(witness.ReportDuplicate), run: func(e *menv) { e.L("X1"); e.L("X2") }},
	{name: "mixed read-write-lock", expect: witness.ExpectSharedOnly(witness.ReportModeMismatch), run: func(e *menv) { e.RL("A"); e.WL("A") }},
	{name: "mixed write-read-lock", expect: witness.ExpectExclusiveSXRW(witness.ReportModeMismatch), run: func(e *menv) { e.WL("A"); e.RL("A") }},
	{name: "exclusive unlock of shared", expect: witness.ExpectSharedOnly(witness.ReportUnlockMismatch),
		run: func(e *menv) { e.RL("A"); panics(func() { core(e.get("A")).xunlock() }) }},
	{name: "shared unlock of exclusive", expect: witness.ExpectExclusiveSXRW(witness.ReportUnlockMismatch),
		run: func(e *menv) { e.WL("A"); panics(func() { core(e.get("A")).sunlock() }) }},
	{name: "upgrade, downgrade", expect: witness.ExpectSharedOnly(witness.ExpectNone), run: func(e *menv) {
		e.RL("A")
		c := core(e.get("A"))
		if c.tryUpgrade() {
			c.downgrade()
		}
	}},
}, {
	{name: "lock in critical section", expect: witness.ExpectByKind(witness.ExpectNone, witness.ReportSleepInCritical, witness.ReportSleepInCritical, witness.ReportSleepInCritical),
		run: func(e *menv) {
			kern.CriticalEnter()
			e.cleanups = append(e.cleanups, kern.CriticalExit)
			e.L("A")
		}},
	{name: "lock with spin lock held", expect: witness.ExpectByKind(witness.ExpectNone, witness.ReportSleepUnderSpin, witness.ReportSleepUnderSpin, witness.ReportSleepUnderSpin),
		run: func(e *menv) { e.LK("S", witness.Spin); e.L("A") }},
	{name: "block with lock held", expect: witness.ExpectByKind(witness.ReportBlocking, witness.ReportBlocking, witness.ExpectNone, witness.ReportBlocking),
		// A spin mutex's block is reported at its unlock (the kernel saw
		// it in trap context), while witness still lists the lock.
		run: func(e *menv) { e.L("A"); e.block(nil); e.U("A") }},
	{name: "block, lock is the interlock", expect: mexclusive(witness.ExpectNone), run: func(e *menv) {
		e.L("A")
		e.block(e.get("A").(Interlock))
	}},
	{name: "lock after mutex", expect: witness.ExpectByKind(witness.ExpectNone, witness.ExpectNone, witness.ReportReversal, witness.ExpectNone),
		run: func(e *menv) { e.LK("M", witness.Sleep); e.L("A") }},
	{name: "Giant after lock", expect: witness.ExpectByKind(witness.ReportSleepUnderSpin, witness.ReportReversal, witness.ExpectNone, witness.ReportReversal),
		run: func(e *menv) { e.L("A"); e.LK(witness.GiantName, witness.Sleep) }},
}}

// runMatrixCase runs one scenario in one column on a fresh witness.
func runMatrixCase(sc *mscen, col witness.MatrixColumn) (ok bool, detail string) {
	w := witness.New()
	w.SetPrinter(nil)
	w.SetSymbolizer(Frames)
	if kern.Booted() {
		w.SetHooks(witness.Hooks{Enter: kern.CriticalEnterQuiet, Exit: kern.CriticalExitQuiet, Relax: pause})
	}
	e := &menv{w: w, col: col, opts: sc.opts, locks: map[string]any{}}
	var panicked string
	func() {
		defer func() {
			if r := recover(); r != nil {
				panicked = fmt.Sprint(r)
			}
		}()
		sc.run(e)
	}()
	rs := w.Reports()
	e.cleanup()
	return witness.Verdict(rs, sc.expect(col), panicked, sc.check)
}

// RunMatrix runs the concrete-lock matrix and prints it like
// locking-selftest.c; it returns the passed and failed cases.
func RunMatrix(printf func(string, ...any)) (passed, failed int) {
	var rows [][]witness.MatrixRow
	for _, sec := range msections {
		var r []witness.MatrixRow
		for i := range sec {
			sc := &sec[i]
			r = append(r, witness.MatrixRow{Name: sc.name, Expect: sc.expect,
				Run: func(c witness.MatrixColumn) (bool, string) { return runMatrixCase(sc, c) }})
		}
		rows = append(rows, r)
	}
	return witness.RunMatrix(printf, "lock self-tests (lib/locking-selftest.c scenarios on this kernel's lock types)", "lock", rows)
}

func testMatrix(t *kern.T) {
	if !witness.Enabled {
		t.Logf("skipped: witness compiled out")
		return
	}
	var out strings.Builder
	passed, failed := RunMatrix(func(f string, a ...any) { fmt.Fprintf(&out, f, a...) })
	t.Logf("%s", strings.TrimRight(out.String(), "\n"))
	if failed > 0 || passed == 0 {
		t.Errorf("%d passed, %d failed", passed, failed)
	}
}
