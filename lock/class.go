package lock

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// Opt qualifies a lock at creation (FreeBSD's MTX_RECURSE, MTX_DUPOK,
// SX_UPGRADABLE-like flags, MTX_NOWITNESS, MTX_NOPROFILE).
type Opt uint32

// Lock options.
const (
	// Recursive lets the owner acquire the lock again while holding it.
	Recursive Opt = 1 << iota
	// DupOK: several locks of the class may be held at once.
	DupOK
	// NoWitness: witness does not watch the lock.
	NoWitness
	// NoProfile: lock profiling skips the lock.
	NoProfile
	// Sleepable: a sleep mutex that may be held across a sleep.
	Sleepable
)

// class is a lock class: a name shared by every lock created under it,
// its witness class and its profile.
type class struct {
	name string           // (c)
	kind witness.Kind     // (c)
	opts Opt              // (c)
	w    *witness.Witness // (c) the witness that watches it
	wc   *witness.Class   // (c) nil if not watched
	prof profile          // (a)

	// KTR formats (c): a waiter blocks, an unlock wakes waiters.
	ktrBlock, ktrWake uint32
}

var classes struct {
	mu     sync.Mutex
	byName map[string]*class // (mu)
}

// classFor returns the class called name of kind, registering it with w
// (Default when nil). Locks created with the same name share a class.
func classFor(w *witness.Witness, name string, kind witness.Kind, opts Opt) *class {
	if w == nil {
		w = witness.Default
	}
	classes.mu.Lock()
	defer classes.mu.Unlock()
	if classes.byName == nil {
		classes.byName = make(map[string]*class)
	}
	key := name
	if w != witness.Default {
		// Private witnesses (self-tests) get private classes.
		key = fmt.Sprintf("%s@%p", name, w)
	}
	if c := classes.byName[key]; c != nil && c.kind == kind {
		return c
	}
	c := &class{name: name, kind: kind, opts: opts, w: w,
		ktrBlock: kern.KTRFormat("lock: " + kind.String() + " \"" + name + "\" %#x: blocks (queue %d), owner %#x"),
		ktrWake:  kern.KTRFormat("lock: " + kind.String() + " \"" + name + "\" %#x: wakes waiters (queue %d)")}
	if opts&NoWitness == 0 {
		var f witness.ClassFlags
		if opts&Recursive != 0 {
			f |= witness.Recursable
		}
		if opts&DupOK != 0 {
			f |= witness.DupOK
		}
		if opts&Sleepable != 0 || kind == witness.SX {
			f |= witness.Sleepable
		}
		if kind.Shareable() {
			f |= witness.Upgradable
		}
		c.wc = w.NewClass(name, kind, f)
	}
	classes.byName[key] = c
	return c
}

// watch reports whether witness checks operations on locks of c.
func (c *class) watch() bool {
	return witness.Enabled && c != nil && c.wc != nil && c.w.Mode() != witness.Off
}

// stack captures the acquiring stack for witness: up to 16 return
// addresses, from the caller of the lock method that calls stack up,
// walked along the frame-pointer chain that Go keeps on amd64 (as the
// runtime's execution tracer does). runtime.Callers decodes each frame's
// tables instead: under TCG that was 20-60 µs per lock and unlock, 80-90%
// of WITNESS's cost (tick profile of Lock/Witness). The walk may include
// frames of the exported lock method (when it was not inlined into its
// caller); Frames drops them when a stack is printed.
//
// nosplit: no asynchronous preemption (which could let the stack move
// under the walk) between reading BP and the last frame.
//
//go:nosplit
//go:noinline
func stack(pcs *[16]uintptr) []uintptr {
	lo, hi := kern.StackBounds()
	fp := framePointer()      // stack's own frame: [fp] is the lock method's frame pointer
	fp = *(*uintptr)(ptr(fp)) // the lock method's frame: [fp+8] returns into its caller
	n := 0
	// Only frames on this goroutine's stack, going up it: the chain ends
	// at the goroutine's first frame (which saved a zero), and never
	// follows a BP that trap entry or assembly left as data.
	for n < len(pcs) && fp >= lo && fp < hi-16 {
		pcs[n] = *(*uintptr)(ptr(fp + 8))
		n++
		next := *(*uintptr)(ptr(fp))
		if next <= fp {
			break
		}
		fp = next
	}
	return pcs[:n]
}

// framePointer returns its caller's frame pointer (lock_amd64.s).
func framePointer() uintptr

// ptr converts an address on the running goroutine's stack to a pointer.
// Reading the uintptr's storage keeps vet's unsafeptr check meaningful
// elsewhere.
//
//go:nosplit
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

// Frames is witness's symbolizer for stacks captured by stack: the
// frames of the lock package's methods at the top are dropped, so that a
// stack starts where the lock was taken (one frame is always kept).
func Frames(pcs []uintptr) []witness.Frame {
	f := witness.CallersFrames(pcs)
	i := 0
	for i < len(f)-1 && strings.HasPrefix(f[i].Func, lockMethodPrefix) {
		i++
	}
	return f[i:]
}

const lockMethodPrefix = "github.com/smpgo/smpgo/lock.(*"

// checking reports whether lock operations may need the checked path:
// some witness is not off or lock profiling is on (witness.Checks). It is
// all the unchecked fast paths pay for the checks: one load.
func checking() bool { return atomic.LoadInt32(&witness.Checks) != 0 }

// debugging reports whether operations on locks of c need the slow,
// checked path: witness watches c, or lock profiling is on.
func debugging(c *class) bool {
	return checking() && (profiling.Load() || c.watch())
}

// Flags for a blocking acquisition: witness checks sleep locks against
// critical sections itself only if told (kern's critical sections do not
// call witness).
func blockFlags(f witness.Flags) witness.Flags {
	if kern.CriticalNest() > 0 {
		f |= witness.Critical
	}
	return f
}

// Profiling.

var profiling atomic.Bool

// SetProfiling turns lock profiling on or off (lock_profiling(9)'s
// debug.lock.prof.enable); off costs one atomic load per operation.
func SetProfiling(on bool) {
	if old := profiling.Swap(on); old != on {
		if on {
			atomic.AddInt32(&witness.Checks, 1)
		} else {
			atomic.AddInt32(&witness.Checks, -1)
		}
	}
}

// Profiling reports whether lock profiling is on.
func Profiling() bool { return profiling.Load() }

// profile is one class's counters (a).
type profile struct {
	acquired, contended    atomic.Uint64
	spinNs, spinMax        atomic.Uint64
	waitNs, waitMax        atomic.Uint64
	holdNs, holdMax, holds atomic.Uint64
	blocks                 atomic.Uint64
}

func maxInto(a *atomic.Uint64, v uint64) {
	for {
		o := a.Load()
		if v <= o || a.CompareAndSwap(o, v) {
			return
		}
	}
}

func (p *profile) contention(spinNs, waitNs int64, blocked bool) {
	p.contended.Add(1)
	if spinNs > 0 {
		p.spinNs.Add(uint64(spinNs))
		maxInto(&p.spinMax, uint64(spinNs))
	}
	if blocked {
		p.blocks.Add(1)
		p.waitNs.Add(uint64(waitNs))
		maxInto(&p.waitMax, uint64(waitNs))
	}
}

func (p *profile) reset() {
	for _, a := range []*atomic.Uint64{&p.acquired, &p.contended, &p.spinNs, &p.spinMax,
		&p.waitNs, &p.waitMax, &p.holdNs, &p.holdMax, &p.holds, &p.blocks} {
		a.Store(0)
	}
}

func (p *profile) hold(ns int64) {
	if ns < 0 {
		return
	}
	p.holds.Add(1)
	p.holdNs.Add(uint64(ns))
	maxInto(&p.holdMax, uint64(ns))
}

// ClassStat is one class's lock profile (times in ns).
type ClassStat struct {
	Name                string
	Kind                string
	Acquired, Contended uint64
	Blocked             uint64
	SpinTotal, SpinMax  uint64
	WaitTotal, WaitMax  uint64
	HoldTotal, HoldMax  uint64
	Holds               uint64
}

// Stats returns the lock profile of every class of the kernel's witness,
// sorted by name.
func Stats() []ClassStat {
	classes.mu.Lock()
	var out []ClassStat
	for _, c := range classes.byName {
		if c.w != witness.Default {
			continue
		}
		p := &c.prof
		out = append(out, ClassStat{Name: c.name, Kind: c.kind.String(),
			Acquired: p.acquired.Load(), Contended: p.contended.Load(), Blocked: p.blocks.Load(),
			SpinTotal: p.spinNs.Load(), SpinMax: p.spinMax.Load(),
			WaitTotal: p.waitNs.Load(), WaitMax: p.waitMax.Load(),
			HoldTotal: p.holdNs.Load(), HoldMax: p.holdMax.Load(), Holds: p.holds.Load()})
	}
	classes.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ResetStats zeroes every class's profile.
func ResetStats() {
	classes.mu.Lock()
	defer classes.mu.Unlock()
	for _, c := range classes.byName {
		c.prof.reset()
	}
}

// ktrBlock and ktrWake trace lock contention (KTR's lock class).
func ktrBlock(c *class, key uintptr, q int8, owner uint64) {
	if c != nil && kern.KTREnabled(kern.KTRLock) {
		kern.KTR(kern.KTRLock, c.ktrBlock, uint64(key), uint64(q), owner, 0)
	}
}

func ktrWake(c *class, key uintptr, q int8) {
	if c != nil && kern.KTREnabled(kern.KTRLock) {
		kern.KTR(kern.KTRLock, c.ktrWake, uint64(key), uint64(q), 0, 0)
	}
}
