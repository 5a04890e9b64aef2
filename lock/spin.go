package lock

import (
	"sync/atomic"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// SpinMutex is a spin mutex (FreeBSD's MTX_SPIN): Lock disables interrupts
// and enters a critical section (the goroutine is pinned to its CPU and not
// preempted), then takes the owner word with a CAS, spinning with PAUSE
// and bounded exponential back-off while another CPU holds it. While it
// waits, interrupts are enabled again between probes (the critical section
// stays), so a CPU spinning here still takes IPIs. Nothing may block,
// allocate from a path that may block, or use channels while one is held.
//
// Word layout: as Mutex (word.go), without the contested bit (nobody
// queues).
type SpinMutex struct {
	word    atomic.Uint64 // (a) owner | mtxRecursed
	recurse uint32        // (o)
	saved   uint64        // (o) RFLAGS before the outermost Lock
	acqNs   int64         // (o) while profiling
	cls     *class        // (c)
	obj     witness.Object
}

// NewSpinMutex returns a spin mutex of class name.
func NewSpinMutex(name string, opts ...Opt) *SpinMutex {
	s := new(SpinMutex)
	s.Init(name, opts...)
	return s
}

// Init initialises s as a spin mutex of class name.
func (s *SpinMutex) Init(name string, opts ...Opt) { s.initIn(nil, name, orOpts(opts)) }

func (s *SpinMutex) initIn(w *witness.Witness, name string, o Opt) {
	c := classFor(w, name, witness.Spin, o&^Sleepable)
	if c.watch() && s.word.Load() != 0 {
		c.wc.Init(&s.obj, name)
		return
	}
	s.cls = c
	if c.wc != nil {
		c.wc.Init(&s.obj, name)
	}
}

// Name returns the class name.
func (s *SpinMutex) Name() string {
	if s.cls == nil {
		return "(unnamed spin mutex)"
	}
	return s.cls.name
}

// Lock acquires s.
func (s *SpinMutex) Lock() {
	fl := kern.IntrDisable()
	kern.CriticalEnter()
	me := kern.Owner()
	c := s.cls
	if c.watch() {
		c.w.CheckOrder(me, &s.obj, 0)
	}
	if !s.word.CompareAndSwap(0, me) {
		if s.lockSlow(me, fl) {
			return // recursed
		}
	}
	s.saved = fl
	if c.watch() {
		var pcs [16]uintptr
		c.w.Lock(me, &s.obj, 0, stack(&pcs))
	}
	if profiling.Load() {
		s.profAcquire()
	}
}

func (s *SpinMutex) profAcquire() {
	if s.cls == nil || s.cls.opts&NoProfile != 0 {
		return
	}
	s.cls.prof.acquired.Add(1)
	if s.recurse == 0 {
		s.acqNs = kern.Nanotime()
	}
}

// lockSlow spins for s (_mtx_lock_spin_cookie). It reports true if the
// caller recursed (the interrupt state of the outermost Lock stays).
func (s *SpinMutex) lockSlow(me uint64, fl uint64) bool {
	if mtxOwner(s.word.Load()) == me {
		if s.cls == nil || s.cls.opts&Recursive == 0 {
			// Spinning would never end. The goroutine is pinned, so
			// this cannot be a recoverable panic: outside warn mode it
			// is fatal; in warn mode it is reported and taken as a
			// recursion, which keeps the caller's unlocks balanced.
			violation(s.cls, "lock.SpinMutex.Lock: recursed on non-recursive spin mutex "+s.Name())
		}
		s.recurse++
		s.word.Or(mtxRecursed)
		if c := s.cls; c.watch() {
			var pcs [16]uintptr
			c.w.Lock(me, &s.obj, 0, stack(&pcs))
		}
		return true
	}
	prof := profiling.Load() && s.cls != nil
	var t0 int64
	if prof {
		t0 = kern.Nanotime()
	}
	backoff := 1
	for {
		kern.IntrRestore(fl)
		for i := 0; i < backoff; i++ {
			pause()
		}
		backoff = min(backoff<<1, maxBackoff)
		kern.IntrDisable()
		if s.word.Load() == 0 && s.word.CompareAndSwap(0, me) {
			break
		}
	}
	if prof {
		s.cls.prof.contention(kern.Nanotime()-t0, 0, false)
	}
	return false
}

// TryLock acquires s if it is free (or recurses on a Recursive one the
// caller holds); on failure interrupts and the critical section are as
// before.
func (s *SpinMutex) TryLock() bool {
	fl := kern.IntrDisable()
	kern.CriticalEnter()
	me := kern.Owner()
	if !s.word.CompareAndSwap(0, me) {
		if mtxOwner(s.word.Load()) != me || s.cls == nil || s.cls.opts&Recursive == 0 {
			kern.CriticalExit()
			kern.IntrRestore(fl)
			return false
		}
		s.recurse++
		s.word.Or(mtxRecursed)
	} else {
		s.saved = fl
	}
	if c := s.cls; c.watch() {
		var pcs [16]uintptr
		c.w.TryLock(me, &s.obj, 0, stack(&pcs))
	}
	if profiling.Load() {
		s.profAcquire()
	}
	return true
}

// Unlock releases s, leaves the critical section and restores interrupts
// as they were before the outermost Lock.
func (s *SpinMutex) Unlock() {
	me := kern.Owner()
	v := s.word.Load()
	c := s.cls
	if mtxOwner(v) != me {
		if c.watch() {
			c.w.Unlock(me, &s.obj, 0)
		}
		violation(c, "lock.SpinMutex.Unlock: spin mutex "+s.Name()+" not owned by the caller ("+mtxWordString(v)+")")
		return
	}
	if c.watch() {
		// A block inside the section (futex wait, nanosleep: recorded by
		// the kernel in trap context) is reported now, while witness
		// still lists this lock as held.
		if why := kern.TakeBlockedInCritical(); why != "" {
			c.w.WarnSleep(me, why)
		}
		c.w.Unlock(me, &s.obj, 0)
	}
	if v&mtxRecursed != 0 {
		if s.recurse--; s.recurse == 0 {
			s.word.And(^uint64(mtxRecursed))
		}
		kern.CriticalExit()
		return
	}
	if s.acqNs != 0 {
		if profiling.Load() && c != nil {
			c.prof.hold(kern.Nanotime() - s.acqNs)
		}
		s.acqNs = 0
	}
	fl := s.saved
	s.word.Store(0)
	kern.CriticalExit()
	kern.IntrRestore(fl)
}

// Owned reports whether the caller holds s.
func (s *SpinMutex) Owned() bool { return mtxOwner(s.word.Load()) == kern.Owner() }

// AssertOwned panics unless the caller holds s.
func (s *SpinMutex) AssertOwned() {
	if !s.Owned() {
		panic("lock.SpinMutex.AssertOwned: spin mutex " + s.Name() + " not owned (" + mtxWordString(s.word.Load()) + ")")
	}
}

// AssertNotOwned panics if the caller holds s.
func (s *SpinMutex) AssertNotOwned() {
	if s.Owned() {
		panic("lock.SpinMutex.AssertNotOwned: spin mutex " + s.Name() + " owned by the caller")
	}
}

// String describes s's state.
func (s *SpinMutex) String() string { return s.Name() + ": " + mtxWordString(s.word.Load()) }
