// Package callout runs functions at a later tick: FreeBSD's callout(9)
// on smpgo's execution model. Each CPU has a callout wheel (wheel.go)
// and a software interrupt thread, its softclock (ithread.SWI), pinned
// to it. The LAPIC timer's tick on each CPU (kern.SetTickHook, trap
// context) schedules that CPU's softclock when its earliest callout is
// due; the softclock runs the due handlers in thread context, one at a
// time, with the callout's lock held if it has one.
//
// Semantics (callout_init_mtx, callout_reset_on, callout_stop,
// callout_drain):
//
//   - A callout is pending from Reset until its handler starts, Stop or
//     Drain. Reset of a pending callout reschedules it (one run, not
//     two). A handler never runs concurrently with itself.
//   - Stop cancels a pending callout and reports whether it did. It does
//     not wait for a running handler. Called with the callout's lock held
//     (Init(lk)), it also cancels a handler that is due and waiting for
//     that lock: the handler then does not run, and Stop reports true.
//   - Drain is Stop that also waits until a running handler has
//     returned: when Drain returns, no handler of the callout runs, and
//     none will unless it is Reset again. A handler that reschedules
//     itself is cancelled too. Drain must not be called with the
//     callout's lock held while the handler runs under it; from the
//     handler itself it does not wait.
//   - A callout lives on one CPU's wheel and its handler runs on that
//     CPU (ResetOn binds it). Rebinding a callout whose handler is
//     running is deferred until it next fires, as FreeBSD's
//     CALLOUT_DFRMIGRATION: the handler never runs on two CPUs at once.
//
// Locking: each CPU's state is protected by its mutex (class "callout");
// a callout's fields by the mutex of the CPU it is on. Moving a callout
// between CPUs marks it in transit (FreeBSD's CPUBLOCK) while neither
// mutex is held, so that no two callout mutexes are ever held together;
// anyone who finds it in transit waits for the move to finish. Lock order:
// a callout's own lock, then the callout mutex.
package callout

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/ithread"
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/lock"
)

// Locker is the lock a callout's handler runs under (a *lock.Mutex, or
// lock.Giant). If it also has Owned() bool, Stop called with it held
// cancels a handler waiting for it.
type Locker interface {
	Lock()
	Unlock()
}

type owner interface{ Owned() bool }

// Callout is one scheduled function. Initialise with Init before use; do
// not copy.
type Callout struct {
	nd      node[*Callout]      // (cc.mu) wheel link and due tick
	cc      atomic.Pointer[cpu] // the CPU it is on; inTransit while moving
	fn      func()              // (cc.mu)
	lk      Locker              // (c)
	active  bool                // (cc.mu) set by Reset, cleared by Stop/Drain/Deactivate
	migrate int32               // (cc.mu) -1, or the CPU a deferred ResetOn asked for
}

// cpu is one CPU's callout state (FreeBSD's callout_cpu).
type cpu struct {
	id  int
	mu  lock.Mutex
	w   wheel[*Callout] // (mu)
	swi *ithread.SWI

	curr        *Callout // (mu) whose handler the softclock is running
	currOwner   uint64   // (mu) the softclock's kern.Owner while curr != nil
	currStarted bool     // (mu) curr's handler has its lock and started
	cancelled   bool     // (mu) curr was stopped before it started
	drainers    int      // (mu) Drain calls waiting for curr
	done        lock.Cond

	nextDue atomic.Int64 // earliest due tick on the wheel (read in trap context)

	// Statistics (a).
	resets, fired, stops, cancels, drainWaits, migrations, runs, late, maxLate atomic.Int64
}

var (
	cpus      [kern.MaxCPU]*cpu
	ncpu      int
	inTransit = new(cpu) // sentinel: the callout is moving between CPUs
)

func init() {
	ncpu = kern.NumCPU() // 0 in a host test binary: no wheels, no threads
	now := kern.Ticks()
	for i := 0; i < ncpu; i++ {
		cc := &cpu{id: i}
		cc.mu.Init("callout")
		cc.w.init(now)
		cc.nextDue.Store(maxTick)
		swi, err := ithread.NewSWI(fmt.Sprintf("softclock%d", i), i, ithread.MPSAFE, cc.softclock)
		if err != nil {
			panic("callout: " + err.Error())
		}
		cc.swi = swi
		cpus[i] = cc
	}
	kern.SetTickHook(tick)
}

// tick runs on every CPU's scheduler tick in trap context: it schedules
// the CPU's softclock when a callout is due. No allocation.
func tick(cpuID int, now int64) {
	if cpuID >= ncpu {
		return
	}
	cc := cpus[cpuID]
	if now/kern.TickNs >= cc.nextDue.Load() {
		cc.swi.Schedule()
	}
}

// Init initialises c; its handler runs with lk held if lk is not nil
// (callout_init_mtx; lock.Giant for a callout that is not MPSAFE). The
// callout starts on CPU 0.
func (c *Callout) Init(lk Locker) {
	*c = Callout{lk: lk, migrate: -1}
	c.nd.bucket = -1
	c.nd.val = c
	c.cc.Store(cpus[0])
}

// lock returns c's CPU with its mutex held.
func (c *Callout) lock() *cpu {
	for {
		cc := c.cc.Load()
		if cc == nil {
			panic("callout: used before Init")
		}
		if cc == inTransit {
			runtime.Gosched()
			continue
		}
		cc.mu.Lock()
		if c.cc.Load() == cc {
			return cc
		}
		cc.mu.Unlock()
	}
}

// moveTo moves c, on no wheel and not running, from old (held) to to; it
// returns with to's mutex held and old's released.
func (c *Callout) moveTo(old, to *cpu) *cpu {
	c.cc.Store(inTransit)
	old.mu.Unlock()
	to.mu.Lock()
	c.cc.Store(to)
	return to
}

func (cc *cpu) insert(c *Callout, due int64) {
	cc.w.insert(&c.nd, due)
	if due < cc.nextDue.Load() {
		cc.nextDue.Store(due)
	}
}

// lockOwned reports whether the caller holds c's lock.
func (c *Callout) lockOwned() bool {
	o, ok := c.lk.(owner)
	return ok && o.Owned()
}

// cancelWaitingLocked cancels c's handler if it is due and waiting for
// c's lock, which the caller holds. cc.mu held.
func (c *Callout) cancelWaitingLocked(cc *cpu) bool {
	if cc.curr == c && !cc.currStarted && !cc.cancelled && c.lk != nil && c.lockOwned() {
		cc.cancelled = true
		return true
	}
	return false
}

// Reset schedules c to run fn in ticks ticks (at least 1) on its CPU and
// reports whether it was pending (or due and waiting for its lock) and so
// cancelled first (callout_reset).
func (c *Callout) Reset(ticks int, fn func()) bool { return c.reset(-1, ticks, fn) }

// ResetOn is Reset that also binds c to CPU cpuID (callout_reset_on).
func (c *Callout) ResetOn(cpuID, ticks int, fn func()) bool {
	if cpuID < 0 || cpuID >= ncpu {
		panic(fmt.Sprintf("callout: ResetOn: no CPU %d", cpuID))
	}
	return c.reset(cpuID, ticks, fn)
}

// ResetAfter is Reset with a duration, rounded up to whole ticks.
func (c *Callout) ResetAfter(d time.Duration, fn func()) bool {
	return c.reset(-1, DurationTicks(d), fn)
}

// DurationTicks converts d to ticks, rounding up (at least 1).
func DurationTicks(d time.Duration) int {
	t := int((d + kern.TickNs - 1) / kern.TickNs)
	return max(t, 1)
}

func (c *Callout) reset(target, ticks int, fn func()) (cancelled bool) {
	if fn == nil {
		panic("callout: Reset with a nil function")
	}
	ticks = max(ticks, 1)
	cc := c.lock()
	if c.nd.onWheel() {
		cc.w.remove(&c.nd)
		cancelled = true
	} else if c.cancelWaitingLocked(cc) {
		cancelled = true
	}
	c.fn = fn
	c.active = true
	if target >= 0 && target != cc.id {
		if cc.curr == c {
			c.migrate = int32(target) // deferred until it fires: never two CPUs at once
		} else {
			c.migrate = -1
			cc = c.moveTo(cc, cpus[target])
			cc.migrations.Add(1)
		}
	} else if target == cc.id {
		c.migrate = -1
	}
	cc.resets.Add(1)
	cc.insert(c, kern.Ticks()+int64(ticks))
	cc.mu.Unlock()
	return cancelled
}

// Stop cancels c if it is pending and reports whether it was (or whether
// its handler, due and waiting for c's lock held by the caller, was
// cancelled). It does not wait for a running handler (callout_stop).
func (c *Callout) Stop() bool {
	cc := c.lock()
	cancelled := false
	if c.nd.onWheel() {
		cc.w.remove(&c.nd)
		cancelled = true
	} else if c.cancelWaitingLocked(cc) {
		cancelled = true
	}
	c.active = false
	if cancelled {
		cc.stops.Add(1)
	}
	cc.mu.Unlock()
	return cancelled
}

// Drain is Stop, then waits until a running handler of c has returned
// (callout_drain). When it returns, no handler of c runs until c is Reset
// again. It reports whether a pending run was cancelled.
func (c *Callout) Drain() bool {
	me := kern.Owner()
	cancelled := false
	for {
		cc := c.lock()
		if c.nd.onWheel() {
			cc.w.remove(&c.nd)
			cancelled = true
			cc.stops.Add(1)
		} else if c.cancelWaitingLocked(cc) {
			cancelled = true
			cc.stops.Add(1)
		}
		c.active = false
		if cc.curr != c || cc.currOwner == me || cc.cancelled {
			cc.mu.Unlock()
			return cancelled
		}
		// Running (or about to): wait, then look again — the handler may
		// have rescheduled itself, or been moved.
		cc.drainers++
		cc.drainWaits.Add(1)
		cc.done.Wait(&cc.mu)
		cc.drainers--
		cc.mu.Unlock()
	}
}

// Pending reports whether c is scheduled and has not started.
func (c *Callout) Pending() bool {
	cc := c.lock()
	defer cc.mu.Unlock()
	return c.nd.onWheel()
}

// Active reports whether c was Reset and not Stopped, Drained or
// Deactivated since (callout_active; a handler may clear it).
func (c *Callout) Active() bool {
	cc := c.lock()
	defer cc.mu.Unlock()
	return c.active
}

// Deactivate clears c's active flag (callout_deactivate).
func (c *Callout) Deactivate() {
	cc := c.lock()
	c.active = false
	cc.mu.Unlock()
}

// CPU returns the CPU c is bound to (where its handler runs next).
func (c *Callout) CPU() int {
	cc := c.lock()
	defer cc.mu.Unlock()
	if c.migrate >= 0 {
		return int(c.migrate)
	}
	return cc.id
}

// inSoftclock reports whether a softclock has taken c off its wheel and
// not finished with it (running it, or waiting for its lock).
func (c *Callout) inSoftclock() bool {
	cc := c.lock()
	defer cc.mu.Unlock()
	return cc.curr == c
}

// softclock runs this CPU's due handlers: the CPU's software interrupt
// thread.
func (cc *cpu) softclock() {
	now := kern.Ticks()
	me := kern.Owner()
	cc.runs.Add(1)
	cc.mu.Lock()
	for {
		nd := cc.w.popDue(now)
		if nd == nil {
			break
		}
		c := nd.val
		if c.migrate >= 0 && int(c.migrate) != cc.id {
			// A rebind that waited for the handler to finish: it is due,
			// so the other CPU's next tick runs it.
			to := cpus[c.migrate]
			c.migrate = -1
			n := c.moveTo(cc, to)
			n.insert(c, nd.due)
			n.migrations.Add(1)
			n.mu.Unlock()
			cc.mu.Lock()
			continue
		}
		fn, lk := c.fn, c.lk
		cc.curr, cc.currOwner, cc.currStarted, cc.cancelled = c, me, false, false
		if l := now - nd.due; l > 0 {
			cc.late.Add(l)
			if l > cc.maxLate.Load() {
				cc.maxLate.Store(l)
			}
		}
		cc.mu.Unlock()
		ran := true
		if lk != nil {
			lk.Lock()
			cc.mu.Lock()
			if cc.cancelled {
				ran = false
				cc.cancels.Add(1)
			} else {
				cc.currStarted = true
			}
			cc.mu.Unlock()
		}
		if ran {
			fn()
			cc.fired.Add(1)
		}
		if lk != nil {
			lk.Unlock()
		}
		cc.mu.Lock()
		cc.curr, cc.currOwner = nil, 0
		if cc.drainers > 0 {
			cc.done.Broadcast()
		}
	}
	cc.nextDue.Store(cc.w.nextDue())
	cc.mu.Unlock()
}

// Stats are one CPU's callout counters.
type Stats struct {
	CPU        int
	Pending    int   // on the wheel now
	NextDue    int64 // ticks from now to the earliest (-1: none)
	Resets     int64 // Reset calls that put a callout here
	Fired      int64 // handlers run
	Stops      int64 // pending callouts cancelled by Stop or Drain
	Cancels    int64 // due handlers cancelled while waiting for their lock
	DrainWaits int64 // times Drain waited for a running handler
	Migrations int64 // callouts moved here from another CPU
	Runs       int64 // softclock thread runs
	LateTicks  int64 // total ticks handlers started after their due tick
	MaxLate    int64 // worst lateness, ticks
}

// CPUStats returns every CPU's callout counters.
func CPUStats() []Stats {
	out := make([]Stats, 0, ncpu)
	now := kern.Ticks()
	for i := 0; i < ncpu; i++ {
		cc := cpus[i]
		cc.mu.Lock()
		n := cc.w.len()
		cc.mu.Unlock()
		next := int64(-1)
		if d := cc.nextDue.Load(); d != maxTick {
			next = max(d-now, 0)
		}
		out = append(out, Stats{CPU: i, Pending: n, NextDue: next, Resets: cc.resets.Load(),
			Fired: cc.fired.Load(), Stops: cc.stops.Load(), Cancels: cc.cancels.Load(),
			DrainWaits: cc.drainWaits.Load(), Migrations: cc.migrations.Load(), Runs: cc.runs.Load(),
			LateTicks: cc.late.Load(), MaxLate: cc.maxLate.Load()})
	}
	return out
}
