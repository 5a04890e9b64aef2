package lock

import (
	"sync/atomic"
	"unsafe"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// rwcore is the lock word and the waiting of SX and RW (sx(9), rwlock(9)):
// shared holders are counted in the word, an exclusive holder is named in
// it (word.go). The two differ in what they may be held across (an sx
// lock across a sleep, an rw lock not: witness's Sleepable flag) and in
// where they wait: an rw lock on a turnstile (kern.Turnstiles), an sx lock
// on a sleep queue (kern.SleepQueues). Writers are preferred: a reader
// does not join while a writer waits, unless the lock is Recursive.
type rwcore struct {
	word    atomic.Uint64 // (a) see word.go
	recurse uint32        // (o) exclusive recursion depth
	acqNs   int64         // (o) exclusive acquisition time, while profiling
	cls     *class        // (c)
	obj     witness.Object
	table   *kern.WaitTable // (c)
	what    string          // (c) "sx" or "rw", for messages
}

func (l *rwcore) init(w *witness.Witness, name string, kind witness.Kind, o Opt) {
	l.table, l.what = kern.Turnstiles, "rw"
	if kind == witness.SX {
		l.table, l.what = kern.SleepQueues, "sx"
	}
	c := classFor(w, name, kind, o)
	if v := l.word.Load(); c.watch() && v != 0 && !rwIsUnlocked(v) {
		c.wc.Init(&l.obj, name)
		return
	}
	l.word.Store(rwUnlocked)
	l.cls = c
	if c.wc != nil {
		c.wc.Init(&l.obj, name)
	}
}

func (l *rwcore) name() string {
	if l.cls == nil {
		return "(unnamed " + l.what + ")"
	}
	return l.cls.name
}

func (l *rwcore) key() uintptr { return uintptr(unsafe.Pointer(l)) }

func (l *rwcore) readersPass() bool { return l.cls != nil && l.cls.opts&Recursive != 0 }

// lends reports whether the lock's waiters lend priority: an rw lock's
// do, to its write owner (FreeBSD's turnstile propagation for rwlock(9);
// readers are not tracked, so a lock held shared has nobody to lend to);
// an sx lock's do not (sleep queues do not propagate).
func (l *rwcore) lends() bool { return l.table == kern.Turnstiles }

// lentLocked reports whether a bound waiter queued on the lock (either
// queue) may have lent its priority to the write owner. Chain locked.
func (l *rwcore) lentLocked(ch *kern.WaitChain) bool {
	return l.lends() && (ch.Lending(l.key(), kern.QExclusive) || ch.Lending(l.key(), kern.QShared))
}

// lazyInit makes a zero value usable: word 0 means "never initialised".
func (l *rwcore) lazyInit() {
	l.word.CompareAndSwap(0, rwUnlocked)
}

// xlock acquires exclusively.
func (l *rwcore) xlock() {
	me := kern.Owner()
	if debugging(l.cls) {
		l.xlockDebug(me)
		return
	}
	if !l.word.CompareAndSwap(rwUnlocked, me) {
		l.xlockSlow(me)
	}
}

func (l *rwcore) xlockDebug(me uint64) {
	c := l.cls
	if c.watch() {
		c.w.CheckOrder(me, &l.obj, blockFlags(0))
	}
	if !l.word.CompareAndSwap(rwUnlocked, me) {
		l.xlockSlow(me)
	}
	if c.watch() {
		var pcs [16]uintptr
		c.w.Lock(me, &l.obj, 0, stack(&pcs))
	}
	if profiling.Load() {
		l.profAcquire(true)
	}
}

func (l *rwcore) profAcquire(excl bool) {
	if l.cls == nil || l.cls.opts&NoProfile != 0 {
		return
	}
	l.cls.prof.acquired.Add(1)
	if excl && l.recurse == 0 {
		l.acqNs = kern.Nanotime()
	}
}

func (l *rwcore) xlockSlow(me uint64) {
	l.lazyInit()
	if rwOwner(l.word.Load()) == me {
		if l.cls == nil || l.cls.opts&Recursive == 0 {
			violation(l.cls, "lock."+l.what+": recursed on non-recursive "+l.what+" "+l.name())
		}
		l.recurse++
		return
	}
	l.wait(me, true)
}

// wait is the contested acquisition for both modes: adaptive spin while an
// exclusive owner runs, then block on the lock's queue.
func (l *rwcore) wait(me uint64, excl bool) {
	prof := profiling.Load() && l.cls != nil
	var t0, spinNs int64
	if prof {
		t0 = kern.Nanotime()
	}
	blocked := false
	backoff, spins := 1, 0
	q := int8(kern.QShared)
	bit := uint64(rwSharedWait)
	if excl {
		q, bit = kern.QExclusive, rwExclWait
	}
	for {
		v := l.word.Load()
		if excl && rwIsUnlocked(v) {
			if l.word.CompareAndSwap(v, me|v&rwWaiters) {
				break
			}
			continue
		}
		if !excl && rwCanShare(v, l.readersPass()) {
			if l.word.CompareAndSwap(v, v+rwOneSharer) {
				break
			}
			continue
		}
		if spins < maxSpins {
			if o := rwOwner(v); o != 0 && kern.OwnerRunning(o) || o == 0 && spins < 8 {
				for i := 0; i < backoff; i++ {
					pause()
				}
				backoff = min(backoff<<1, maxBackoff)
				spins++
				continue
			}
		}
		prio := int32(0) // sleep queues: FIFO
		if l.lends() {
			prio = kern.WaiterPriority() // turnstiles: by priority, FIFO among equals
		}
		w := kern.NewWaiter(prio) // before the chain lock (see kern.NewWaiter)
		ch := l.table.Lock(l.key())
		v = l.word.Load()
		free := excl && rwIsUnlocked(v) || !excl && rwCanShare(v, l.readersPass())
		if free || v&bit == 0 && !l.word.CompareAndSwap(v, v|bit) {
			ch.Unlock()
			kern.FreeWaiter(w)
			continue
		}
		ch.Add(l.key(), q, w)
		// A bound thread lends its priority to the write owner's thread
		// and down its chain while it waits (kern/prio.go), reader or
		// writer. With the waiter bit set and the chain locked, the owner
		// cannot release before this (its unlock takes the chain lock).
		o := rwOwner(v)
		lends := l.lends() && o != 0 && w.Bound() && kern.TurnstileBlock(l.key(), o)
		ch.Unlock()
		ktrBlock(l.cls, l.key(), q, o)
		if prof && !blocked {
			spinNs = kern.Nanotime() - t0
		}
		blocked = true
		l.table.Park(w)
		if lends {
			kern.TurnstileUnblock(l.key())
		}
		backoff, spins = 1, 0
	}
	if prof {
		total := kern.Nanotime() - t0
		if blocked {
			l.cls.prof.contention(spinNs, total-spinNs, true)
		} else {
			l.cls.prof.contention(total, 0, false)
		}
	}
}

// xunlock releases an exclusive hold.
func (l *rwcore) xunlock() {
	if !debugging(l.cls) && l.recurse == 0 {
		// Fast path without the owner lookup: a word with no waiter
		// bits and no shared count is an exclusive hold.
		if v := l.word.Load(); v&rwFlags == 0 && v != 0 && l.word.CompareAndSwap(v, rwUnlocked) {
			return
		}
	}
	me := kern.Owner()
	c := l.cls
	if c.watch() {
		c.w.Unlock(me, &l.obj, 0)
	}
	v := l.word.Load()
	if rwOwner(v) != me {
		violation(c, "lock."+l.what+": exclusive unlock of "+l.what+" "+l.name()+" not owned by the caller ("+rwWordString(v)+")")
		return
	}
	if l.recurse > 0 {
		l.recurse--
		return
	}
	if l.acqNs != 0 {
		if profiling.Load() && c != nil {
			c.prof.hold(kern.Nanotime() - l.acqNs)
		}
		l.acqNs = 0
	}
	if l.word.CompareAndSwap(me, rwUnlocked) {
		return
	}
	// Waiters: only this owner and blockers (under the queue lock) change
	// the word now, so the release below succeeds at the first try.
	for {
		ch := l.table.Lock(l.key())
		lent := l.lentLocked(ch)
		ok := l.releaseLocked(ch, l.word.Load())
		ch.Unlock()
		if ok {
			if lent {
				// After the woken waiters have their tokens: the
				// priority lent to us drops only once they can run.
				kern.TurnstileDisown(l.key())
			}
			return
		}
	}
}

// releaseLocked turns word v (the last hold, with waiters) into unlocked
// and wakes a writer if one waits, else every reader; the bits of queues
// still non-empty stay set, and woken waiters race for the lock like
// newcomers. It reports false, waking nobody, if the word is no longer v.
// The queue chain is locked, so the queues cannot change meanwhile.
func (l *rwcore) releaseLocked(ch *kern.WaitChain, v uint64) bool {
	nx := ch.Count(l.key(), kern.QExclusive)
	ns := ch.Count(l.key(), kern.QShared)
	nv := uint64(rwUnlocked)
	if nx > 1 {
		nv |= rwExclWait
	}
	if nx > 0 && ns > 0 {
		nv |= rwSharedWait
	}
	if !l.word.CompareAndSwap(v, nv) {
		return false
	}
	if nx > 0 {
		ch.Wake(l.key(), kern.QExclusive)
		ktrWake(l.cls, l.key(), kern.QExclusive)
	} else {
		ch.Broadcast(l.key(), kern.QShared)
		ktrWake(l.cls, l.key(), kern.QShared)
	}
	return true
}

// slock acquires shared.
func (l *rwcore) slock() {
	if !debugging(l.cls) {
		v := l.word.Load()
		if !(rwCanShare(v, l.readersPass()) && l.word.CompareAndSwap(v, v+rwOneSharer)) {
			l.slockSlow(kern.Owner())
		}
		return
	}
	l.slockDebug()
}

func (l *rwcore) slockDebug() {
	me := kern.Owner()
	c := l.cls
	if c.watch() {
		c.w.CheckOrder(me, &l.obj, blockFlags(witness.Shared))
	}
	v := l.word.Load()
	if !(rwCanShare(v, l.readersPass()) && l.word.CompareAndSwap(v, v+rwOneSharer)) {
		l.slockSlow(me)
	}
	if c.watch() {
		var pcs [16]uintptr
		c.w.Lock(me, &l.obj, witness.Shared, stack(&pcs))
	}
	if profiling.Load() {
		l.profAcquire(false)
	}
}

// tryslock acquires shared if that needs no wait.
func (l *rwcore) tryslock() bool {
	for {
		v := l.word.Load()
		if v == 0 {
			l.lazyInit()
			continue
		}
		if !rwCanShare(v, l.readersPass()) {
			return false
		}
		if l.word.CompareAndSwap(v, v+rwOneSharer) {
			break
		}
	}
	if c := l.cls; c.watch() {
		var pcs [16]uintptr
		c.w.TryLock(kern.Owner(), &l.obj, witness.Shared, stack(&pcs))
	}
	if profiling.Load() {
		l.profAcquire(false)
	}
	return true
}

// tryxlock acquires exclusively if that needs no wait.
func (l *rwcore) tryxlock() bool {
	me := kern.Owner()
	l.lazyInit()
	if !l.word.CompareAndSwap(rwUnlocked, me) {
		if rwOwner(l.word.Load()) != me || l.cls == nil || l.cls.opts&Recursive == 0 {
			return false
		}
		l.recurse++
	}
	if c := l.cls; c.watch() {
		var pcs [16]uintptr
		c.w.TryLock(me, &l.obj, 0, stack(&pcs))
	}
	if profiling.Load() {
		l.profAcquire(true)
	}
	return true
}

func (l *rwcore) slockSlow(me uint64) {
	l.lazyInit()
	if rwOwner(l.word.Load()) == me {
		panic("lock." + l.what + ": shared lock of " + l.what + " " + l.name() + " exclusively held by the caller")
	}
	l.wait(me, false)
}

// sunlock releases a shared hold; the last reader out with waiters queued
// releases under the queue lock.
func (l *rwcore) sunlock() {
	c := l.cls
	if debugging(c) {
		if c.watch() {
			c.w.Unlock(kern.Owner(), &l.obj, witness.Shared)
		}
	} else if v := l.word.Load(); rwSharers(v) > 1 || rwSharers(v) == 1 && v&rwWaiters == 0 {
		if l.word.CompareAndSwap(v, v-rwOneSharer) {
			return
		}
	}
	if v := l.word.Load(); v&rwShared == 0 || rwSharers(v) == 0 {
		violation(c, "lock."+l.what+": shared unlock of "+l.what+" "+l.name()+" not share-locked ("+rwWordString(v)+")")
		return
	}
	for {
		v := l.word.Load()
		if rwSharers(v) > 1 || v&rwWaiters == 0 {
			if l.word.CompareAndSwap(v, v-rwOneSharer) {
				return
			}
			continue
		}
		ch := l.table.Lock(l.key())
		ok := l.releaseLocked(ch, v)
		ch.Unlock()
		if ok {
			return
		}
	}
}

// tryUpgrade turns the caller's shared hold into an exclusive one if it is
// the only reader (sx_try_upgrade).
func (l *rwcore) tryUpgrade() bool {
	me := kern.Owner()
	for {
		v := l.word.Load()
		if v&rwShared == 0 || rwSharers(v) != 1 {
			return false
		}
		if l.word.CompareAndSwap(v, me|v&rwWaiters) {
			break
		}
	}
	if c := l.cls; c.watch() {
		c.w.Upgrade(me, &l.obj)
	}
	return true
}

// downgrade turns the caller's exclusive hold into a shared one and lets
// waiting readers in (sx_downgrade).
func (l *rwcore) downgrade() {
	me := kern.Owner()
	v := l.word.Load()
	if rwOwner(v) != me || l.recurse > 0 {
		violation(l.cls, "lock."+l.what+": downgrade of "+l.what+" "+l.name()+" not exclusively held once by the caller")
		return
	}
	if c := l.cls; c.watch() {
		c.w.Downgrade(me, &l.obj)
	}
	l.acqNs = 0
	ch := l.table.Lock(l.key())
	v = l.word.Load()
	nv := rwUnlocked + rwOneSharer | v&rwExclWait
	l.word.Store(nv)
	lent := l.lentLocked(ch)
	if v&rwSharedWait != 0 {
		ch.Broadcast(l.key(), kern.QShared)
	}
	ch.Unlock()
	if lent {
		// A reader is not lent to (readers are not tracked): give back
		// what the waiters lent the write owner (rw_downgrade's
		// turnstile_disown).
		kern.TurnstileDisown(l.key())
	}
}

func (l *rwcore) xlocked() bool { return rwOwner(l.word.Load()) == kern.Owner() }
func (l *rwcore) slocked() bool { return rwSharers(l.word.Load()) > 0 }

func (l *rwcore) destroy() {
	if c := l.cls; c.watch() {
		c.w.Destroy(kern.Owner(), &l.obj)
	}
}
