//go:build !nowitness

package witness

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Enabled reports whether witness is compiled in (false with -tags nowitness).
const Enabled = true

// MaxClasses bounds the number of lock classes (FreeBSD's WITNESS_COUNT).
// Classes beyond it are not watched; witness says so once.
const MaxClasses = 1024

// maxStack is the number of frames kept for each held lock.
const maxStack = 16

// nShards is the number of owner-table shards; owners hash onto them so
// that CPUs working for different threads rarely share an internal lock.
const nShards = 64

type config struct {
	printer   Printer
	panicHook PanicHook
	sym       Symbolizer
	hooks     Hooks
}

// Witness is one lock-order verifier: classes, order graph, per-owner held
// locks and reports. Default is the kernel's; self-tests use fresh ones.
//
// Locking: w.mu (the graph lock) guards fields marked (g); each shard's mu
// guards its owners and their held lists; w.rmu guards the reports (r).
// Order: shard.mu before w.mu; w.rmu is never held with either. Fields
// marked (a) are atomic and read without locks on the fast path.
type Witness struct {
	mode  atomic.Int32           // (a) Mode
	epoch atomic.Uint32          // (a) bumped when leaving Off: older state is stale
	cfg   atomic.Pointer[config] // (a) copy-on-write configuration
	slow  atomic.Uint64          // (a) order checks that took the graph lock

	mu        sync.Mutex
	classes   []*Class           // (g) by index
	byName    map[string]*Class  // (g)
	edges     map[[2]int32]*edge // (g) direct edges, keyed by (from, to)
	blessed   map[[2]string]bool // (g) unordered pairs, stored both ways
	intrSet   bitset             // (g) spin classes taken in interrupt context
	intrOnSet bitset             // (g) spin classes taken with interrupts enabled
	overflow  bool               // (g) MaxClasses reached

	shards [nShards]shard

	rmu     sync.Mutex
	reports []*Report             // (r) in first-seen order
	rkeys   map[reportKey]*Report // (r)
	counts  [numReportKinds]atomic.Uint64
}

// shard is one slice of the owner table, padded to a cache line.
type shard struct {
	mu     sync.Mutex
	owners map[uint64]*ownerState // (mu)
	_      [48]byte
}

// ownerState is what witness knows about one owner: FreeBSD keeps sleep
// locks per thread and spin locks per CPU; here both belong to the owner,
// since a goroutine holding a spin mutex is pinned to its CPU anyway.
type ownerState struct {
	id       uint64
	epoch    uint32
	critnest int32
	sleep    []held // blocking locks, in acquisition order
	spin     []held // spin locks, in acquisition order
}

// held is one lock instance held by an owner (FreeBSD's lock_instance).
type held struct {
	obj       *Object
	class     *Class
	exclusive bool
	recurse   int32
	nstk      uint8
	stk       [maxStack]uintptr
}

// stack returns a copy of where h was acquired: reports outlive the entry,
// whose storage moves as the owner's list changes.
func (h *held) stack() []uintptr { return clonePCs(h.stk[:h.nstk]) }

func (o *ownerState) list(k Kind) *[]held {
	if k == Spin {
		return &o.spin
	}
	return &o.sleep
}

func findHeld(list []held, obj *Object) int {
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].obj == obj {
			return i
		}
	}
	return -1
}

// Default is the kernel's witness, with Order and Blessed enrolled, in Warn
// mode until the boot option says otherwise.
var Default = New()

// New returns a witness in Warn mode with the Order lists and Blessed pairs
// enrolled.
func New() *Witness {
	w := newWitness()
	for _, l := range Order {
		if err := w.AddOrder(l...); err != nil {
			w.emit([]pending{{key: reportKey{kind: ReportBadClass, why: err.Error()},
				r: &Report{Kind: ReportBadClass, Why: err.Error()}}})
		}
	}
	for _, b := range Blessed {
		w.Bless(b[0], b[1])
	}
	return w
}

// newWitness returns an empty witness: no order lists, nothing blessed.
func newWitness() *Witness {
	w := &Witness{
		byName:  make(map[string]*Class),
		edges:   make(map[[2]int32]*edge),
		blessed: make(map[[2]string]bool),
		rkeys:   make(map[reportKey]*Report),
	}
	for i := range w.shards {
		w.shards[i].owners = make(map[uint64]*ownerState)
	}
	w.cfg.Store(&config{printer: StderrPrinter, panicHook: PanicPanics, sym: CallersFrames})
	w.mode.Store(int32(Warn))
	atomic.AddInt32(&Checks, 1)
	return w
}

// SetMode switches checking off, to warnings, or to panics. Leaving Off
// starts a new epoch: held-lock state from before is forgotten (locks taken
// or released while off were not seen), and unlocks of locks acquired
// before the switch are ignored rather than reported.
func (w *Witness) SetMode(m Mode) {
	old := Mode(w.mode.Swap(int32(m)))
	if old == Off && m != Off {
		w.epoch.Add(1)
		atomic.AddInt32(&Checks, 1)
	}
	if old != Off && m == Off {
		atomic.AddInt32(&Checks, -1)
	}
}

// Mode returns the current mode.
func (w *Witness) Mode() Mode { return Mode(w.mode.Load()) }

func (w *Witness) update(f func(c *config)) {
	for {
		old := w.cfg.Load()
		c := *old
		f(&c)
		if w.cfg.CompareAndSwap(old, &c) {
			return
		}
	}
}

// SetPrinter sets where reports are printed (nil: discard).
func (w *Witness) SetPrinter(p Printer) {
	if p == nil {
		p = func(string, ...any) {}
	}
	w.update(func(c *config) { c.printer = p })
}

// SetPanicHook sets what Panic mode calls after printing (nil: PanicPanics).
func (w *Witness) SetPanicHook(h PanicHook) {
	if h == nil {
		h = PanicPanics
	}
	w.update(func(c *config) { c.panicHook = h })
}

// SetSymbolizer sets how stacks are symbolised (nil: CallersFrames).
func (w *Witness) SetSymbolizer(s Symbolizer) {
	if s == nil {
		s = CallersFrames
	}
	w.update(func(c *config) { c.sym = s })
}

// SetHooks installs the kernel's hooks for witness's internal locks.
func (w *Witness) SetHooks(h Hooks) { w.update(func(c *config) { c.hooks = h }) }

// lock takes one of witness's internal locks without ever parking the
// goroutine: TryLock in a loop, calling the Relax hook (default
// runtime.Gosched) between attempts, all inside the Enter hook.
func (w *Witness) lock(m *sync.Mutex) *config {
	c := w.cfg.Load()
	if c.hooks.Enter != nil {
		c.hooks.Enter()
	}
	for !m.TryLock() {
		if c.hooks.Relax != nil {
			c.hooks.Relax()
		} else {
			runtime.Gosched()
		}
	}
	return c
}

func (w *Witness) unlock(m *sync.Mutex, c *config) {
	m.Unlock()
	if c.hooks.Exit != nil {
		c.hooks.Exit()
	}
}

func (w *Witness) shard(owner uint64) *shard {
	return &w.shards[(owner*0x9E3779B97F4A7C15)>>(64-6)]
}

// ownerLocked returns the owner's state, creating it if create is set, and
// forgets state from an earlier epoch. The shard lock is held.
func (w *Witness) ownerLocked(sh *shard, owner uint64, create bool) *ownerState {
	ep := w.epoch.Load()
	o := sh.owners[owner]
	if o == nil {
		if !create {
			return nil
		}
		o = &ownerState{id: owner, epoch: ep}
		sh.owners[owner] = o
	}
	if o.epoch != ep {
		o.epoch, o.critnest = ep, 0
		o.sleep, o.spin = o.sleep[:0], o.spin[:0]
	}
	return o
}

// Package-level API on Default. Each wrapper calls the same internal
// function as the method, so stack trimming sees the same frames.

// SetMode sets Default's mode (the witness= boot option).
func SetMode(m Mode) { Default.SetMode(m) }

// CurrentMode returns Default's mode.
func CurrentMode() Mode { return Default.Mode() }

// NewClass returns Default's class for name, creating it.
func NewClass(name string, kind Kind, flags ClassFlags) *Class {
	return Default.NewClass(name, kind, flags)
}

// CheckOrder checks an acquisition on Default before it blocks.
func CheckOrder(owner uint64, o *Object, flags Flags) { Default.checkOrder(owner, o, flags) }

// Lock records an acquisition on Default.
func Lock(owner uint64, o *Object, flags Flags, stack []uintptr) {
	Default.lockOp(owner, o, flags, stack)
}

// TryLock records a successful try-acquisition on Default.
func TryLock(owner uint64, o *Object, flags Flags, stack []uintptr) {
	Default.lockOp(owner, o, flags|Try, stack)
}

// Unlock records a release on Default.
func Unlock(owner uint64, o *Object, flags Flags) { Default.unlockOp(owner, o, flags) }

// Upgrade records a shared-to-exclusive upgrade on Default.
func Upgrade(owner uint64, o *Object) { Default.upgradeOp(owner, o, true) }

// Downgrade records an exclusive-to-shared downgrade on Default.
func Downgrade(owner uint64, o *Object) { Default.upgradeOp(owner, o, false) }

// Destroy records the destruction of a lock on Default.
func Destroy(owner uint64, o *Object) { Default.destroyOp(owner, o) }

// CriticalEnter records that owner entered a critical section.
func CriticalEnter(owner uint64) { Default.critical(owner, 1) }

// CriticalExit records that owner left a critical section.
func CriticalExit(owner uint64) { Default.critical(owner, -1) }

// WarnSleep reports blocking with non-sleepable locks held on Default.
func WarnSleep(owner uint64, why string) int { return Default.warnSleep(owner, nil, 0, why) }

// WarnSleepExcept is WarnSleep with an interlock that the sleep releases.
func WarnSleepExcept(owner uint64, interlock *Object, flags Flags, why string) int {
	return Default.warnSleep(owner, interlock, flags, why)
}

// ThreadExit reports locks still held by an exiting owner on Default and
// forgets the owner.
func ThreadExit(owner uint64) { Default.threadExit(owner) }

// Reports returns Default's reports.
func Reports() []Report { return Default.Reports() }

// ShowLocks lists the locks owner holds on Default.
func ShowLocks(owner uint64) string { return Default.ShowLocks(owner) }

// ShowAllLocks lists every owner's held locks on Default.
func ShowAllLocks() string { return Default.ShowAllLocks() }

// ShowGraph prints Default's order graph.
func ShowGraph() string { return Default.ShowGraph() }

// ShowBadStacks prints Default's reversals with both stacks.
func ShowBadStacks() string { return Default.ShowBadStacks() }

// GetStats returns Default's counters.
func GetStats() Stats { return Default.Stats() }
