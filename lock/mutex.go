package lock

import (
	"sync/atomic"
	"unsafe"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// Mutex is a sleep mutex (FreeBSD's MTX_DEF mutex): owned by a goroutine,
// held for short sections, never across a sleep (unless Sleepable). The
// fast path is one CAS of the owner word (word.go); a contended Lock spins
// while the owner runs on a CPU, with bounded exponential back-off, and
// otherwise blocks on the mutex's turnstile (kern.Turnstiles). Unlock
// hands the lock to the longest-waiting, highest-priority waiter's retry:
// it leaves the word unowned but contested while more waiters remain.
//
// Create with NewMutex or Init. A zero Mutex works, unwatched and
// unprofiled.
type Mutex struct {
	word    atomic.Uint64 // (a) owner | mtxContested | mtxRecursed
	recurse uint32        // (o) extra acquisitions by the owner
	acqNs   int64         // (o) when acquired, while profiling
	cls     *class        // (c)
	obj     witness.Object
}

// NewMutex returns a mutex of class name.
func NewMutex(name string, opts ...Opt) *Mutex {
	m := new(Mutex)
	m.Init(name, opts...)
	return m
}

// Init initialises m as a mutex of class name (mtx_init). Re-initialising
// a held mutex is reported by witness and leaves it alone.
func (m *Mutex) Init(name string, opts ...Opt) { m.initIn(nil, name, orOpts(opts)) }

func (m *Mutex) initIn(w *witness.Witness, name string, o Opt) {
	c := classFor(w, name, witness.Sleep, o)
	if c.watch() && m.word.Load() != 0 {
		c.wc.Init(&m.obj, name) // reports "re-initialising held lock"
		return
	}
	m.cls = c
	if c.wc != nil {
		c.wc.Init(&m.obj, name)
	}
}

func orOpts(opts []Opt) Opt {
	var o Opt
	for _, x := range opts {
		o |= x
	}
	return o
}

// Name returns the mutex's class name.
func (m *Mutex) Name() string {
	if m.cls == nil {
		return "(unnamed mutex)"
	}
	return m.cls.name
}

func (m *Mutex) key() uintptr { return uintptr(unsafe.Pointer(m)) }

// Lock acquires m, blocking if another goroutine holds it. Its fast path
// (checks off) inlines into the caller: two loads, the owner id (one
// instruction, kern.Owner) and one CAS.
func (m *Mutex) Lock() {
	// checking() spelled out, and the word's uint64 taken for
	// sync/atomic's function (cheaper to the inliner than the method):
	// the inliner's budget of 80 has no room for more.
	if atomic.LoadInt32(&witness.Checks) != 0 || !atomic.CompareAndSwapUint64((*uint64)(unsafe.Pointer(&m.word)), 0, kern.Owner()) {
		m.lockHard()
	}
}

// lockHard is Lock past the fast path: checks, profiling, contention.
func (m *Mutex) lockHard() {
	me := kern.Owner()
	if debugging(m.cls) {
		m.lockDebug(me)
		return
	}
	if !m.word.CompareAndSwap(0, me) {
		m.lockSlow(me)
	}
}

// lockDebug is Lock with witness checks and profiling.
func (m *Mutex) lockDebug(me uint64) {
	c := m.cls
	if c.watch() {
		c.w.CheckOrder(me, &m.obj, blockFlags(0))
	}
	if !m.word.CompareAndSwap(0, me) {
		m.lockSlow(me)
	}
	if c.watch() {
		var pcs [16]uintptr
		c.w.Lock(me, &m.obj, 0, stack(&pcs))
	}
	if profiling.Load() {
		m.profAcquire()
	}
}

// TryLock acquires m if that needs no wait (or recurses on a Recursive
// mutex the caller holds).
func (m *Mutex) TryLock() bool {
	me := kern.Owner()
	if !m.word.CompareAndSwap(0, me) {
		v := m.word.Load()
		if mtxOwner(v) != me || m.cls == nil || m.cls.opts&Recursive == 0 {
			return false
		}
		m.recurse++
		m.word.Or(mtxRecursed)
	}
	if c := m.cls; c.watch() {
		var pcs [16]uintptr
		c.w.TryLock(me, &m.obj, 0, stack(&pcs))
	}
	if profiling.Load() {
		m.profAcquire()
	}
	return true
}

func (m *Mutex) profAcquire() {
	if m.cls == nil || m.cls.opts&NoProfile != 0 {
		return
	}
	m.cls.prof.acquired.Add(1)
	if m.recurse == 0 {
		m.acqNs = kern.Nanotime()
	}
}

// Spin limits: back-off doubles from 1 to maxBackoff PAUSEs per probe;
// after maxSpins probes the waiter blocks even if the owner still runs
// (2 host cores may run 8 vCPUs: the "running" owner may be descheduled).
const (
	maxBackoff = 1024
	maxSpins   = 64
)

// lockSlow is the contested path (__mtx_lock_sleep): recursion, adaptive
// spinning, then the turnstile.
func (m *Mutex) lockSlow(me uint64) {
	v := m.word.Load()
	if mtxOwner(v) == me {
		if m.cls == nil || m.cls.opts&Recursive == 0 {
			// Waiting would never end: a panic outside warn mode; in
			// warn mode reported, counted and taken as a recursion.
			violation(m.cls, "lock.Mutex.Lock: recursed on non-recursive mutex "+m.Name())
		}
		m.recurse++
		m.word.Or(mtxRecursed)
		return
	}
	prof := profiling.Load() && m.cls != nil
	var t0, spinNs, waitNs int64
	if prof {
		t0 = kern.Nanotime()
	}
	blocked := false
	backoff, spins := 1, 0
	for {
		v = m.word.Load()
		o := mtxOwner(v)
		if o == 0 {
			if m.word.CompareAndSwap(v, me|v&mtxContested) {
				break
			}
			continue
		}
		if spins < maxSpins && kern.OwnerRunning(o) {
			for i := 0; i < backoff; i++ {
				pause()
			}
			backoff = min(backoff<<1, maxBackoff)
			spins++
			continue
		}
		// Block on the turnstile. Under the chain lock, re-check: the
		// owner may have released it, and the contested bit must be set
		// before we queue so that its Unlock takes the slow path.
		w := kern.NewWaiter(kern.WaiterPriority()) // before the chain lock (see NewWaiter)
		q := kern.Turnstiles.Lock(m.key())
		v = m.word.Load()
		if mtxOwner(v) == 0 || v&mtxContested == 0 && !m.word.CompareAndSwap(v, v|mtxContested) {
			q.Unlock()
			kern.FreeWaiter(w)
			continue
		}
		q.Add(m.key(), kern.QExclusive, w)
		// A bound thread lends its priority to the owner's thread (and
		// down its chain) while it waits: kern/prio.go.
		lends := w.Bound() && kern.TurnstileBlock(m.key(), mtxOwner(v))
		q.Unlock()
		ktrBlock(m.cls, m.key(), kern.QExclusive, mtxOwner(v))
		if prof && !blocked {
			spinNs = kern.Nanotime() - t0
		}
		blocked = true
		kern.Turnstiles.Park(w)
		if lends {
			kern.TurnstileUnblock(m.key())
		}
		backoff, spins = 1, 0
	}
	if prof {
		total := kern.Nanotime() - t0
		if blocked {
			waitNs = total - spinNs
		} else {
			spinNs = total
		}
		m.cls.prof.contention(spinNs, waitNs, blocked)
	}
}

// Unlock releases m. Releasing a mutex the caller does not hold is
// reported (witness=warn) or panics, checks on or off: the fast path
// (mtx_unlock's) is one CAS from the caller's owner id to unowned, and a
// word that is not exactly that (contested, recursed, another owner's)
// goes to the checked path. It inlines into the caller.
func (m *Mutex) Unlock() {
	if atomic.LoadInt32(&witness.Checks) != 0 || !atomic.CompareAndSwapUint64((*uint64)(unsafe.Pointer(&m.word)), kern.Owner(), 0) {
		m.unlockHard()
	}
}

// unlockHard is Unlock's checked path: witness, profiling, recursion,
// waiters, misuse.
func (m *Mutex) unlockHard() {
	me := kern.Owner()
	c := m.cls
	if c.watch() {
		c.w.Unlock(me, &m.obj, 0)
	}
	if profiling.Load() && m.recurse == 0 && m.acqNs != 0 && mtxOwner(m.word.Load()) == me {
		if c != nil {
			c.prof.hold(kern.Nanotime() - m.acqNs)
		}
		m.acqNs = 0
	}
	if !m.word.CompareAndSwap(me, 0) {
		m.unlockSlow(me)
	}
}

// unlockSlow handles recursion, misuse and waiters (__mtx_unlock_sleep).
func (m *Mutex) unlockSlow(me uint64) {
	v := m.word.Load()
	if mtxOwner(v) != me {
		violation(m.cls, "lock.Mutex.Unlock: mutex "+m.Name()+" not owned by the caller ("+mtxWordString(v)+")")
		return
	}
	if v&mtxRecursed != 0 {
		if m.recurse--; m.recurse == 0 {
			m.word.And(^uint64(mtxRecursed))
		}
		return
	}
	ktrWake(m.cls, m.key(), kern.QExclusive)
	q := kern.Turnstiles.Lock(m.key())
	lent := q.Lending(m.key(), kern.QExclusive)
	q.Wake(m.key(), kern.QExclusive)
	if q.First(m.key(), kern.QExclusive) != nil {
		m.word.Store(mtxContested)
	} else {
		m.word.Store(0)
	}
	q.Unlock()
	if lent {
		// After Unlock has handed the woken waiter its token: the
		// priority we were lent drops only once it can run.
		kern.TurnstileDisown(m.key())
	}
}

// Owned reports whether the caller holds m (mtx_owned).
func (m *Mutex) Owned() bool { return mtxOwner(m.word.Load()) == kern.Owner() }

// Recursed reports whether the owner holds m more than once.
func (m *Mutex) Recursed() bool { return m.word.Load()&mtxRecursed != 0 }

// AssertOwned panics unless the caller holds m (MA_OWNED).
func (m *Mutex) AssertOwned() {
	if !m.Owned() {
		panic("lock.Mutex.AssertOwned: mutex " + m.Name() + " not owned (" + mtxWordString(m.word.Load()) + ")")
	}
}

// AssertNotOwned panics if the caller holds m (MA_NOTOWNED).
func (m *Mutex) AssertNotOwned() {
	if m.Owned() {
		panic("lock.Mutex.AssertNotOwned: mutex " + m.Name() + " owned by the caller")
	}
}

// Destroy marks m destroyed (mtx_destroy); destroying a held mutex is
// reported by witness.
func (m *Mutex) Destroy() {
	if c := m.cls; c.watch() {
		c.w.Destroy(kern.Owner(), &m.obj)
	}
}

// String describes m's state for the shell and reports.
func (m *Mutex) String() string { return m.Name() + ": " + mtxWordString(m.word.Load()) }

// witnessObject and the sleep hooks make a Mutex an Interlock.
func (m *Mutex) witnessObject() *witness.Object { return &m.obj }
func (m *Mutex) sleepUnlock()                   { m.Unlock() }
func (m *Mutex) sleepLock()                     { m.Lock() }
