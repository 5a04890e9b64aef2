//go:build !nowitness

package witness

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// tw is a witness under test with its printed output captured.
type tw struct {
	*Witness
	t       *testing.T
	mu      sync.Mutex
	printed []string
}

func newTW(t *testing.T) *tw {
	x := &tw{Witness: newWitness(), t: t}
	x.SetPrinter(func(f string, a ...any) {
		x.mu.Lock()
		x.printed = append(x.printed, fmt.Sprintf(f, a...))
		x.mu.Unlock()
	})
	return x
}

func (x *tw) obj(name string, kind Kind, flags ClassFlags) *Object {
	o := new(Object)
	c := x.NewClass(name, kind, flags)
	require.NotNil(x.t, c)
	c.Init(o, name)
	return o
}

// objIn makes a second lock of an existing class.
func (x *tw) objIn(class, name string) *Object {
	o := new(Object)
	x.LookupClass(class).Init(o, name)
	return o
}

func stack() []uintptr {
	var pcs [16]uintptr
	return pcs[:runtime.Callers(3, pcs[:])]
}

func (x *tw) lock(owner uint64, o *Object, f Flags) {
	x.CheckOrder(owner, o, f)
	x.Lock(owner, o, f, stack())
}

func (x *tw) lu(owner uint64, os ...*Object) {
	for _, o := range os {
		x.lock(owner, o, 0)
	}
	for i := len(os) - 1; i >= 0; i-- {
		x.Unlock(owner, os[i], 0)
	}
}

func (x *tw) kinds() []ReportKind {
	var k []ReportKind
	for _, r := range x.Reports() {
		k = append(k, r.Kind)
	}
	return k
}

func (x *tw) only(kind ReportKind) Report {
	rs := x.Reports()
	require.Len(x.t, rs, 1, "%v", x.kinds())
	require.Equal(x.t, kind, rs[0].Kind)
	return rs[0]
}

func topFunc(pcs []uintptr) string {
	fr := CallersFrames(pcs)
	if len(fr) == 0 {
		return ""
	}
	return fr[0].Func
}

func TestTransitiveReversalReportsChainAndStacks(t *testing.T) {
	x := newTW(t)
	a, b, c := x.obj("A", Sleep, 0), x.obj("B", Sleep, 0), x.obj("C", Sleep, 0)
	x.lu(1, a, b, c) // A→B, B→C
	require.Empty(t, x.Reports())
	x.lock(1, c, 0)
	reverseHere(x.Witness, a) // C held, then A: A→B→C says A first
	r := x.only(ReportReversal)
	require.Equal(t, "C", r.Other)
	require.Equal(t, "A", r.Class)
	require.Len(t, r.Order, 2)
	require.Equal(t, OrderEdge{From: "A", To: "B"}, OrderEdge{From: r.Order[0].From, To: r.Order[0].To})
	require.Equal(t, "C", r.Order[1].To)
	require.NotEmpty(t, r.Order[0].Stack, "first stack per edge is kept")
	require.Contains(t, topFunc(r.Order[0].Stack), "witness.(*tw).lock", "edge stack: the caller of CheckOrder")
	require.Contains(t, topFunc(r.Stack), "witness.reverseHere", "current stack starts at the caller")
	require.Contains(t, topFunc(r.OtherStack), "TestTransitiveReversal")
	require.Contains(t, r.Text, "lock order reversal:\n 1st \"C\" (sleep mutex) @ ")
	require.Contains(t, r.Text, "\n 2nd \"A\" (sleep mutex) @ ")
	require.Contains(t, r.Text, `established order "A" -> "B" -> "C"`)
	require.Len(t, x.printed, 1)
	require.Equal(t, r.Text, x.printed[0])
	// No edge C→A was added: the graph stays acyclic.
	require.Equal(t, 2, x.Stats().Edges)
}

//go:noinline
func reverseHere(w *Witness, o *Object) { w.CheckOrder(1, o, 0) }

//go:noinline
func reverseHereDefault(o *Object) { CheckOrder(7, o, 0) }

func TestReportStackStartsAtCallerThroughPackageAPI(t *testing.T) {
	old := Default
	defer func() { Default = old }()
	Default = newWitness()
	Default.SetPrinter(nil)
	a, b := new(Object), new(Object)
	NewClass("pkg A", Sleep, 0).Init(a, "a")
	NewClass("pkg B", Sleep, 0).Init(b, "b")
	for _, o := range []*Object{a, b} {
		CheckOrder(7, o, 0)
		Lock(7, o, 0, nil)
	}
	Unlock(7, b, 0)
	Unlock(7, a, 0)
	Lock(7, b, 0, nil)
	reverseHereDefault(a)
	rs := Reports()
	require.Len(t, rs, 1)
	require.Contains(t, topFunc(rs[0].Stack), "witness.reverseHereDefault")
	require.Contains(t, ShowLocks(7), "exclusive sleep mutex b (pkg B)")
	ThreadExit(7)
	require.Equal(t, ReportThreadExit, Reports()[1].Kind)
}

func TestOrderListReportedFirstTime(t *testing.T) {
	x := newTW(t)
	require.NoError(t, x.AddOrder("first", "second", "third"))
	f, th := x.obj("first", Sleep, 0), x.obj("third", Sleep, 0)
	x.lu(1, th, f) // never seen first→third, but declared transitively
	r := x.only(ReportReversal)
	require.True(t, r.Order[0].Declared)
	require.Contains(t, r.Text, `"first" -> "second" declared in witness.Order`)
	require.Error(t, x.AddOrder("third", "first"), "contradicting lists are refused")
}

func TestOrderTable(t *testing.T) {
	w := New()
	w.SetPrinter(nil)
	require.Empty(t, w.Reports(), "Order lists contradict each other")
	for _, l := range Order {
		require.GreaterOrEqual(t, len(l), 2)
	}
	// The built-in lists are enforced: so_rcv after so_snd.
	x := &tw{Witness: w, t: t}
	snd, rcv := x.obj("so_snd", Sleep, 0), x.obj("so_rcv", Sleep, 0)
	x.lu(1, rcv, snd)
	require.Equal(t, []ReportKind{ReportReversal}, x.kinds())
	require.Contains(t, w.ShowGraph(), "so_snd (type: sleep mutex, depth: ")
}

func TestBlessedPair(t *testing.T) {
	x := newTW(t)
	x.Bless("A", "B")
	a, b := x.obj("A", Sleep, 0), x.obj("B", Sleep, 0)
	x.lu(1, a, b)
	x.lu(1, b, a)
	require.Empty(t, x.Reports())
}

func TestReversalReportedOnceAndCounted(t *testing.T) {
	x := newTW(t)
	a, b := x.obj("A", Spin, 0), x.obj("B", Spin, 0)
	x.lu(1, a, b)
	for i := 0; i < 3; i++ {
		x.lu(2, b, a)
	}
	r := x.only(ReportReversal)
	require.EqualValues(t, 3, r.Count)
	require.Len(t, x.printed, 1)
	require.EqualValues(t, 3, x.Stats().Reported[ReportReversal])
	require.Contains(t, x.ShowBadStacks(), `Lock order reversal between "B"(spin mutex) and "A"(spin mutex)! (seen 3 times)`)
	require.Contains(t, x.ShowBadStacks(), `Lock order "A" -> "B" first seen at:`)
}

func TestFastPathSkipsGraphLock(t *testing.T) {
	x := newTW(t)
	a, b, c := x.obj("A", Sleep, 0), x.obj("B", Sleep, 0), x.obj("C", Sleep, 0)
	x.lu(1, a, b, c)
	slow := x.Stats().SlowPaths
	for i := 0; i < 100; i++ {
		x.lu(uint64(i), a, b, c)
	}
	require.Equal(t, slow, x.Stats().SlowPaths)
	require.Empty(t, x.Reports())
}

func TestTryLockRecordsEdgeNeverReports(t *testing.T) {
	x := newTW(t)
	a, b := x.obj("A", Sleep, 0), x.obj("B", Sleep, 0)
	x.lock(1, a, 0)
	x.TryLock(1, b, 0, stack())
	x.Unlock(1, b, 0)
	x.Unlock(1, a, 0)
	require.Equal(t, 1, x.Stats().Edges)
	x.lock(1, b, 0)
	x.TryLock(1, a, 0, stack()) // reversed, but a try cannot deadlock
	x.Unlock(1, a, 0)
	require.Empty(t, x.Reports())
	x.lock(1, a, 0) // a blocking acquisition in the same order is reported
	require.Equal(t, []ReportKind{ReportReversal}, x.kinds())
}

func TestRecursionAndDuplicates(t *testing.T) {
	x := newTW(t)
	a := x.obj("A", Sleep, 0)
	x.lock(1, a, 0)
	x.CheckOrder(1, a, 0)
	r := x.only(ReportRecursion)
	require.Equal(t, "exclusive recursion", r.Why)

	x = newTW(t)
	r1 := x.obj("R", Sleep, Recursable)
	x.lock(1, r1, 0)
	x.lock(1, r1, 0)
	x.Unlock(1, r1, 0)
	require.Contains(t, x.ShowLocks(1), "r = 0")
	x.Unlock(1, r1, 0)
	require.Empty(t, x.ShowLocks(1))
	require.Empty(t, x.Reports())

	x = newTW(t)
	v1 := x.obj("vnode", Sleep, 0)
	v2 := x.objIn("vnode", "vnode 2")
	x.lock(1, v1, 0)
	x.lock(1, v2, DupOKOp)
	require.Empty(t, x.Reports())
	x.Unlock(1, v2, 0)
	x.lock(1, v2, 0)
	r = x.only(ReportDuplicate)
	require.Equal(t, "vnode", r.Other)
	require.Equal(t, "vnode 2", r.Lock)

	x = newTW(t)
	d1 := x.obj("dup", Spin, DupOK)
	x.lock(1, d1, 0)
	x.lock(1, x.objIn("dup", "dup 2"), 0)
	require.Empty(t, x.Reports())
}

func TestSharedExclusiveRules(t *testing.T) {
	x := newTW(t)
	s := x.obj("S", SX, 0)
	x.lock(1, s, Shared)
	x.CheckOrder(1, s, 0) // exclusive while share locked: deadlock
	require.Equal(t, "exclusive lock while share locked", x.only(ReportModeMismatch).Why)

	x = newTW(t)
	rw := x.obj("RW", RW, Recursable|Upgradable)
	x.lock(1, rw, Shared)
	x.lock(1, rw, Shared) // shared recursion allowed: recursable
	x.Unlock(1, rw, Shared)
	x.Upgrade(1, rw)
	require.Contains(t, x.ShowLocks(1), "exclusive rw RW")
	x.Unlock(1, rw, Shared) // mismatch
	require.Equal(t, "shared unlock while exclusively locked", x.only(ReportUnlockMismatch).Why)

	x = newTW(t)
	rw = x.obj("RW", RW, 0)
	x.lock(1, rw, 0)
	x.Downgrade(1, rw)
	require.Equal(t, "downgrade of non-upgradable lock", x.only(ReportBadUpgrade).Why)
	require.Contains(t, x.ShowLocks(1), "shared rw RW", "the downgrade still happened")
	x.Upgrade(2, rw)
	require.Len(t, x.Reports(), 2)
	require.Equal(t, "upgrade of unlocked lock", x.Reports()[1].Why)
}

func TestUnlockErrors(t *testing.T) {
	x := newTW(t)
	a := x.obj("A", Sleep, 0)
	x.Unlock(1, a, 0)
	x.only(ReportUnlockNotHeld)
	x.lock(1, a, 0)
	x.Unlock(2, a, 0)
	require.Equal(t, []ReportKind{ReportUnlockNotHeld, ReportUnlockNotOwner}, x.kinds())
	require.Equal(t, "held by owner 0x1", x.Reports()[1].Why)
	require.EqualValues(t, 2, x.Reports()[1].Owner)
	// A zero Object is not watched at all.
	var z Object
	x.Unlock(1, &z, 0)
	x.lock(1, &z, 0)
	require.Len(t, x.Reports(), 2)
}

func TestSleepLockContexts(t *testing.T) {
	x := newTW(t)
	sp, m := x.obj("sched lock", Spin, 0), x.obj("M", Sleep, 0)
	x.lock(1, sp, 0)
	x.lock(1, m, 0)
	r := x.only(ReportSleepUnderSpin)
	require.Equal(t, "sched lock", r.OtherClass)
	require.Equal(t, "M", r.Class)

	x = newTW(t)
	m = x.obj("M", Sleep, 0)
	x.CriticalEnter(1)
	x.CriticalEnter(1)
	x.CriticalExit(1)
	x.TryLock(1, m, 0, nil) // a try does not block: allowed
	x.Unlock(1, m, 0)
	require.Empty(t, x.Reports())
	x.lock(1, m, 0)
	x.only(ReportSleepInCritical)
	x.Unlock(1, m, 0)
	x.CriticalExit(1)
	x.CriticalExit(1) // unbalanced exit is clamped
	x.lock(1, m, 0)
	require.Len(t, x.Reports(), 1)
	require.EqualValues(t, 1, x.Reports()[0].Count)

	x = newTW(t)
	x.lock(1, x.obj("M", Sleep, 0), Interrupt)
	x.only(ReportSleepInInterrupt)
}

func TestWarnSleep(t *testing.T) {
	x := newTW(t)
	sx, m, g := x.obj("S", SX, 0), x.obj("M", Sleep, 0), x.obj(GiantName, Sleep, 0)
	x.lock(1, g, 0)
	x.lock(1, sx, 0)
	require.Zero(t, x.WarnSleep(1, "cv_wait"), "Giant and sleepable locks may be held")
	x.lock(1, m, 0)
	require.Zero(t, x.WarnSleepExcept(1, m, 0, "cv_wait"), "the interlock is released by the sleep")
	require.Equal(t, 1, x.WarnSleep(1, "cv_wait"))
	r := x.only(ReportBlocking)
	require.Equal(t, "M", r.Class)
	require.Len(t, r.Held, 1)
	require.Contains(t, r.Text, "blocking while holding non-sleepable lock(s): cv_wait with the following non-sleepable locks held:\n exclusive sleep mutex M r = 0 locked @ ")
	require.Equal(t, 1, x.WarnSleep(1, "cv_wait"))
	require.EqualValues(t, 2, x.Reports()[0].Count)

	x = newTW(t)
	require.Equal(t, 1, x.WarnSleepExcept(5, nil, Critical, "sleepq"))
	require.Contains(t, x.only(ReportBlocking).Why, "in a critical section")
}

func TestThreadExitAndDestroy(t *testing.T) {
	x := newTW(t)
	a, b := x.obj("A", Sleep, 0), x.obj("B", Spin, 0)
	x.lock(9, a, 0)
	x.lock(9, b, 0)
	x.ThreadExit(9)
	r := x.only(ReportThreadExit)
	require.Len(t, r.Held, 2)
	require.Contains(t, r.Text, "owner 0x9 exiting with the following locks held")
	require.Empty(t, x.ShowLocks(9), "state is forgotten")
	x.ThreadExit(9)
	require.Len(t, x.Reports(), 1)

	x = newTW(t)
	a = x.obj("A", Sleep, 0)
	x.lock(1, a, 0)
	a.Class().Init(a, "renamed")
	require.Equal(t, "re-initialising held lock", x.only(ReportDestroyHeld).Why)
	require.Equal(t, "A", a.Name(), "a held lock is not re-initialised")
	x.Destroy(1, a)
	require.Len(t, x.Reports(), 2)
	require.Nil(t, a.Class())
	x.ThreadExit(1)
	require.Len(t, x.Reports(), 2, "the destroyed lock left the owner's list")
}

func TestInterruptUsage(t *testing.T) {
	x := newTW(t)
	a := x.obj("A", Spin, 0)
	x.lock(1, a, Interrupt)
	x.Unlock(1, a, 0)
	x.lock(2, a, IntrEnabled)
	r := x.only(ReportIntrUnsafe)
	require.Contains(t, r.Why, `"A" is taken in interrupt context and with interrupts enabled`)

	// safe-A → unsafe-B, the edge coming last.
	x = newTW(t)
	a, b := x.obj("A", Spin, 0), x.obj("B", Spin, 0)
	x.lu(1, b) // plain use
	x.lock(1, b, IntrEnabled)
	x.Unlock(1, b, 0)
	x.lock(1, a, Interrupt)
	x.Unlock(1, a, 0)
	require.Empty(t, x.Reports())
	x.lu(1, a, b)
	r = x.only(ReportIntrUnsafe)
	require.Equal(t, "A", r.OtherClass)
	require.Equal(t, "B", r.Class)
	require.Len(t, r.Order, 1)
}

func TestGiantRules(t *testing.T) {
	x := newTW(t)
	g, sx, m := x.obj(GiantName, Sleep, 0), x.obj("S", SX, 0), x.obj("M", Sleep, 0)
	x.lu(1, g, sx) // Giant before sx: fine, but no edge Giant→sx
	x.lu(1, sx, g) // sx before Giant: fine
	require.Empty(t, x.Reports())
	x.lu(1, m, g) // Giant after a mutex
	r := x.only(ReportReversal)
	require.Equal(t, "Giant after non-sleepable", r.Why)
	x.lu(1, m, sx)
	require.Equal(t, "sleepable after non-sleepable", x.Reports()[1].Why)
}

func TestBadClass(t *testing.T) {
	x := newTW(t)
	c := x.NewClass("K", Sleep, 0)
	require.Same(t, c, x.NewClass("K", Sleep, 0))
	require.Empty(t, x.Reports())
	require.Same(t, c, x.NewClass("K", Spin, 0))
	require.Contains(t, x.only(ReportBadClass).Why, `class "K" registered as sleep mutex (), now as spin mutex ()`)
	sp := x.NewClass("SP", Spin, Sleepable|Upgradable)
	require.Equal(t, ClassFlags(0), sp.Flags())
	require.Equal(t, Sleepable, x.NewClass("SX", SX, 0).Flags(), "sx implies sleepable")
	require.Nil(t, x.NewClass("bad", Kind(9), 0))
	require.Len(t, x.Reports(), 3)
	require.NoError(t, x.AddOrder("only declared", "K"))
	var o Object
	x.LookupClass("only declared").Init(&o, "o")
	require.Nil(t, o.Class(), "an unregistered class does not watch")
	require.Len(t, x.Reports(), 4)
}

func TestModes(t *testing.T) {
	x := newTW(t)
	a, b := x.obj("A", Sleep, 0), x.obj("B", Sleep, 0)
	var hooked []*Report
	x.SetPanicHook(func(r *Report) { hooked = append(hooked, r) })
	x.SetMode(Panic)
	x.lu(1, a, b)
	x.lu(1, b, a)
	require.Len(t, hooked, 1)
	require.Len(t, x.printed, 1)

	// Off: nothing is tracked. A lock taken while off and released after
	// re-enabling is ignored; state from before Off is forgotten.
	x.SetMode(Off)
	x.lock(1, a, 0)
	x.Unlock(2, b, 0)
	x.SetMode(Warn)
	require.Equal(t, Warn, x.Mode())
	x.Unlock(1, a, 0)
	x.lock(3, b, 0)
	x.SetMode(Off)
	x.SetMode(Warn)
	x.ThreadExit(3)
	require.Len(t, x.Reports(), 1)

	m, err := ParseMode("panic")
	require.NoError(t, err)
	require.Equal(t, Panic, m)
	_, err = ParseMode("loud")
	require.Error(t, err)
	require.Equal(t, "warn", Warn.String())
}

func TestSymbolizerAndHooks(t *testing.T) {
	x := newTW(t)
	x.SetSymbolizer(func(pcs []uintptr) []Frame {
		out := make([]Frame, len(pcs))
		for i, pc := range pcs {
			out[i] = Frame{PC: pc, Func: "fake.func", File: "/k/fake/file.go", Line: 42}
		}
		return out
	})
	var mu sync.Mutex
	depth, maxDepth, calls := 0, 0, 0
	x.SetHooks(Hooks{
		Enter: func() { mu.Lock(); depth++; calls++; maxDepth = max(maxDepth, depth); mu.Unlock() },
		Exit:  func() { mu.Lock(); depth--; mu.Unlock() },
	})
	a := x.obj("A", Sleep, 0)
	x.lock(1, a, 0)
	x.Unlock(1, a, 0)
	x.Unlock(1, a, 0)
	require.Contains(t, x.only(ReportUnlockNotHeld).Text, "@ fake.func (fake/file.go:42)")
	require.Zero(t, depth)
	require.Positive(t, calls)
	require.LessOrEqual(t, maxDepth, 2)
}

func TestShowDumps(t *testing.T) {
	x := newTW(t)
	require.NoError(t, x.AddOrder("decl1", "decl2"))
	a, b, c := x.obj("A", Sleep, 0), x.obj("B", Sleep, 0), x.obj("C", Spin, 0)
	x.NewClass("idle", RW, 0)
	x.lu(1, a, b)
	x.lu(1, a, c)
	x.lock(5, a, 0)
	x.lock(6, c, 0)
	x.CriticalEnter(6)
	require.Regexp(t, `^exclusive sleep mutex A r = 0 locked @ .*TestShowDumps \(witness/witness_test.go:\d+\)\n$`, x.ShowLocks(5))
	all := x.ShowAllLocks()
	require.Contains(t, all, "owner 0x5\n exclusive sleep mutex A")
	require.Contains(t, all, "owner 0x6\n exclusive spin mutex C r = 0")
	require.Contains(t, all, " critical section nesting 1\n")
	g := x.ShowGraph()
	t.Log("\n" + g)
	require.Contains(t, g, "Sleep locks:\nA (type: sleep mutex, depth: 0) -- last acquired @ ")
	require.Contains(t, g, "\n B (type: sleep mutex, depth: 1) -- last acquired @ ")
	require.Contains(t, g, "Spin locks:\nC (type: spin mutex, depth: 0)")
	require.Contains(t, g, "Unregistered classes (order lists only):\ndecl1 (type: unregistered, depth: 0) -- never acquired\n decl2")
	require.Contains(t, g, "Locks which were never acquired:\nidle (type: rw)\n")
	require.True(t, strings.HasPrefix(x.ShowBadStacks(), "Number of known direct relationships is 2\n"))
}

func TestConcurrentOwners(t *testing.T) {
	x := newTW(t)
	const n = 5
	var objs [n]*Object
	for i := range objs {
		objs[i] = x.obj(fmt.Sprintf("L%d", i), Sleep, 0)
	}
	spin := x.obj("spin", Spin, 0)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			owner := uint64(1000 + g)
			for i := 0; i < 300; i++ {
				// A subset of the locks, always in index order.
				var held []*Object
				for j := range objs {
					if (i+g+j)%3 != 0 {
						x.lock(owner, objs[j], 0)
						held = append(held, objs[j])
					}
				}
				x.lock(owner, spin, 0)
				x.WarnSleep(owner, "never") // reported, once
				x.Unlock(owner, spin, 0)
				for j := len(held) - 1; j >= 0; j-- {
					x.Unlock(owner, held[j], 0)
				}
				if g == 3 && i == 150 {
					x.lu(owner, objs[4], objs[0]) // the one reversal
				}
				if i%50 == 0 {
					_ = x.ShowAllLocks()
					_ = x.ShowGraph()
				}
			}
			x.ThreadExit(owner)
		}(g)
	}
	wg.Wait()
	var rev, blk int
	for _, r := range x.Reports() {
		switch r.Kind {
		case ReportReversal:
			rev++
			require.Equal(t, "L0", r.Class)
			require.Equal(t, "L4", r.Other)
		case ReportBlocking:
			blk++
		default:
			t.Fatalf("unexpected report %s", r.Text)
		}
	}
	require.Equal(t, 1, rev)
	require.Positive(t, blk)
	require.Empty(t, x.ShowAllLocks())
}

func TestSelftestDetectsWrongVerdict(t *testing.T) {
	sc := scenario{name: "wrong", expect: ExpectAll(ExpectNone), run: func(e *env) { e.L("A"); e.L("A") }}
	ok, detail := runCase(&sc, MatrixColumns[0])
	require.False(t, ok)
	require.Contains(t, detail, "want no report, got [recursed on non-recursive lock (x1)]")
	sc = scenario{name: "panics", expect: ExpectAll(ExpectNone), run: func(e *env) { panic("boom") }}
	ok, detail = runCase(&sc, MatrixColumns[0])
	require.False(t, ok)
	require.Equal(t, "panic: boom", detail)
}

func fastPathPair(w *Witness, a, c *Object, stk []uintptr) {
	w.CheckOrder(1, a, 0)
	w.Lock(1, a, 0, stk)
	w.CheckOrder(1, c, 0)
	w.Lock(1, c, 0, stk)
	w.Unlock(1, c, 0)
	w.Unlock(1, a, 0)
}

func TestFastPathDoesNotAllocate(t *testing.T) {
	x := newTW(t)
	a, c := x.obj("A", Sleep, 0), x.obj("C", Sleep, 0)
	stk := stack()
	fastPathPair(x.Witness, a, c, stk)
	require.Zero(t, testing.AllocsPerRun(100, func() { fastPathPair(x.Witness, a, c, stk) }))
	require.Empty(t, x.Reports())
}

// BenchmarkFastPath measures an already-known A→C nesting: six calls.
func BenchmarkFastPath(b *testing.B) {
	w := newWitness()
	a, c := new(Object), new(Object)
	w.NewClass("A", Sleep, 0).Init(a, "a")
	w.NewClass("C", Sleep, 0).Init(c, "c")
	stk := make([]uintptr, 8)
	b.ReportAllocs()
	for b.Loop() {
		fastPathPair(w, a, c, stk)
	}
}
