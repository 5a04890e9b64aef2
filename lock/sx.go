package lock

import (
	"github.com/smpgo/smpgo/witness"
)

// SX is a shared/exclusive lock (sx(9)): many readers or one writer, and
// unlike a mutex it may be held across a sleep (a Cond wait, Sleep, a
// blocking channel operation). Waiters queue on kern.SleepQueues. The
// class is Upgradable: TryUpgrade and Downgrade work on every SX.
type SX struct{ l rwcore }

// NewSX returns an sx lock of class name.
func NewSX(name string, opts ...Opt) *SX {
	s := new(SX)
	s.Init(name, opts...)
	return s
}

// Init initialises s (sx_init).
func (s *SX) Init(name string, opts ...Opt) { s.l.init(nil, name, witness.SX, orOpts(opts)) }

// Name returns the class name.
func (s *SX) Name() string { return s.l.name() }

// XLock acquires s exclusively.
func (s *SX) XLock() { s.l.xlock() }

// XUnlock releases an exclusive hold.
func (s *SX) XUnlock() { s.l.xunlock() }

// SLock acquires s shared.
func (s *SX) SLock() { s.l.slock() }

// SUnlock releases a shared hold.
func (s *SX) SUnlock() { s.l.sunlock() }

// TryXLock and TrySLock acquire without waiting, or report false.
func (s *SX) TryXLock() bool { return s.l.tryxlock() }

// TrySLock acquires shared without waiting, or reports false.
func (s *SX) TrySLock() bool { return s.l.tryslock() }

// TryUpgrade turns the caller's shared hold into an exclusive one if no
// other reader holds s.
func (s *SX) TryUpgrade() bool { return s.l.tryUpgrade() }

// Downgrade turns the caller's exclusive hold into a shared one.
func (s *SX) Downgrade() { s.l.downgrade() }

// XLocked reports whether the caller holds s exclusively (sx_xlocked).
func (s *SX) XLocked() bool { return s.l.xlocked() }

// AssertXLocked panics unless the caller holds s exclusively (SA_XLOCKED).
func (s *SX) AssertXLocked() {
	if !s.l.xlocked() {
		panic("lock.SX.AssertXLocked: sx " + s.Name() + " not exclusively locked by the caller (" + rwWordString(s.l.word.Load()) + ")")
	}
}

// AssertSLocked panics unless s is share-locked (SA_SLOCKED: without
// per-reader tracking, any reader satisfies it; witness knows which).
func (s *SX) AssertSLocked() {
	if !s.l.slocked() {
		panic("lock.SX.AssertSLocked: sx " + s.Name() + " not share-locked (" + rwWordString(s.l.word.Load()) + ")")
	}
}

// AssertLocked panics unless the caller holds s exclusively or s is
// share-locked (SA_LOCKED).
func (s *SX) AssertLocked() {
	if !s.l.xlocked() && !s.l.slocked() {
		panic("lock.SX.AssertLocked: sx " + s.Name() + " not locked (" + rwWordString(s.l.word.Load()) + ")")
	}
}

// AssertUnlocked panics if the caller holds s exclusively (SA_UNLOCKED).
func (s *SX) AssertUnlocked() {
	if s.l.xlocked() {
		panic("lock.SX.AssertUnlocked: sx " + s.Name() + " exclusively locked by the caller")
	}
}

// Destroy marks s destroyed; destroying a held lock is reported.
func (s *SX) Destroy() { s.l.destroy() }

// String describes s's state.
func (s *SX) String() string { return s.Name() + ": " + rwWordString(s.l.word.Load()) }

func (s *SX) witnessObject() *witness.Object { return &s.l.obj }
func (s *SX) sleepUnlock()                   { s.l.xunlock() }
func (s *SX) sleepLock()                     { s.l.xlock() }

// RW is a reader/writer lock (rwlock(9)): many readers or one writer,
// held for short sections and never across a sleep; waiters queue on a
// turnstile (kern.Turnstiles).
type RW struct{ l rwcore }

// NewRW returns an rw lock of class name.
func NewRW(name string, opts ...Opt) *RW {
	r := new(RW)
	r.Init(name, opts...)
	return r
}

// Init initialises r (rw_init).
func (r *RW) Init(name string, opts ...Opt) { r.l.init(nil, name, witness.RW, orOpts(opts)) }

// Name returns the class name.
func (r *RW) Name() string { return r.l.name() }

// WLock acquires r for writing.
func (r *RW) WLock() { r.l.xlock() }

// WUnlock releases a write hold.
func (r *RW) WUnlock() { r.l.xunlock() }

// RLock acquires r for reading.
func (r *RW) RLock() { r.l.slock() }

// RUnlock releases a read hold.
func (r *RW) RUnlock() { r.l.sunlock() }

// TryWLock acquires for writing without waiting, or reports false.
func (r *RW) TryWLock() bool { return r.l.tryxlock() }

// TryRLock acquires for reading without waiting, or reports false.
func (r *RW) TryRLock() bool { return r.l.tryslock() }

// TryUpgrade turns the caller's read hold into a write hold if it is the
// only reader.
func (r *RW) TryUpgrade() bool { return r.l.tryUpgrade() }

// Downgrade turns the caller's write hold into a read hold.
func (r *RW) Downgrade() { r.l.downgrade() }

// WOwned reports whether the caller holds r for writing (rw_wowned).
func (r *RW) WOwned() bool { return r.l.xlocked() }

// AssertWLocked panics unless the caller holds r for writing (RA_WLOCKED).
func (r *RW) AssertWLocked() {
	if !r.l.xlocked() {
		panic("lock.RW.AssertWLocked: rw " + r.Name() + " not write-locked by the caller (" + rwWordString(r.l.word.Load()) + ")")
	}
}

// AssertRLocked panics unless r is read-locked (RA_RLOCKED).
func (r *RW) AssertRLocked() {
	if !r.l.slocked() {
		panic("lock.RW.AssertRLocked: rw " + r.Name() + " not read-locked (" + rwWordString(r.l.word.Load()) + ")")
	}
}

// AssertLocked panics unless the caller write-holds r or r is read-locked.
func (r *RW) AssertLocked() {
	if !r.l.xlocked() && !r.l.slocked() {
		panic("lock.RW.AssertLocked: rw " + r.Name() + " not locked (" + rwWordString(r.l.word.Load()) + ")")
	}
}

// AssertUnlocked panics if the caller holds r for writing.
func (r *RW) AssertUnlocked() {
	if r.l.xlocked() {
		panic("lock.RW.AssertUnlocked: rw " + r.Name() + " write-locked by the caller")
	}
}

// Destroy marks r destroyed.
func (r *RW) Destroy() { r.l.destroy() }

// String describes r's state.
func (r *RW) String() string { return r.Name() + ": " + rwWordString(r.l.word.Load()) }

func (r *RW) witnessObject() *witness.Object { return &r.l.obj }
func (r *RW) sleepUnlock()                   { r.l.xunlock() }
func (r *RW) sleepLock()                     { r.l.xlock() }
