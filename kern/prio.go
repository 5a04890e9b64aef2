package kern

import (
	"errors"
	"syscall"
)

// Thread priorities and priority lending (FreeBSD's sys/priority.h,
// sched_prio/sched_lend_prio and turnstile propagate_priority, in the
// sched_lock era of FreeBSD 5: all of it under sched.lock here).
//
// Every kernel thread has a base priority; lower numbers are better. The
// classes follow FreeBSD: interrupt threads, realtime, kernel, timeshare,
// idle. Threads the Go runtime creates (its Ms) start at PriDefault, and a
// new thread does not inherit its creator's priority: the runtime creates
// Ms from whichever thread needs one, an interrupt thread included.
//
// A goroutine locked to its thread (runtime.LockOSThread) sets the
// thread's priority with SetPriority, which also binds the goroutine to
// the thread: lock ownership belongs to goroutines (Owner), and the bound
// goroutine is how a lock's owner is found as a thread to lend to.
//
// Lending. When a bound goroutine blocks on a sleep mutex's turnstile
// (TurnstileBlock, called by package lock under the turnstile chain lock),
// the kernel records the lock's owner and sets the thread's tsKey; the
// owner's thread, if the owner is bound, then runs at the best priority
// of the threads blocked on locks it owns, and so on down the chain when
// that owner is itself blocked on a turnstile (A waits for B, B for C: C
// gets A's priority). The owner gives the lent priority back when it
// releases the lock (TurnstileDisown): its lent priority is recomputed
// from the waiters of the locks it still owns. An owner that is not a
// bound goroutine (a plain goroutine, which runs on whatever M the Go
// scheduler gives it) cannot be lent to.

// Priority classes and values (lower is better).
const (
	PriMinIthread   = 0
	PriMaxIthread   = 47
	PriMinRealtime  = 48
	PriMaxRealtime  = 79
	PriMinKern      = 80
	PriMaxKern      = 119
	PriMinTimeshare = 120
	PriMaxTimeshare = 223
	PriMinIdle      = 224
	PriMaxIdle      = 255

	// PriIthread is the interrupt threads' priority (package ithread).
	PriIthread = 16
	// PriSWI is the software interrupt threads' priority (softclock,
	// ithread.NewSWI): below the hardware interrupt threads, above
	// realtime and every ordinary thread.
	PriSWI = 36
	// PriDefault is every other thread's priority until it sets one.
	PriDefault = 160

	priIdleThread = 256     // a CPU's idle loop, below every class
	priNone       = 1 << 30 // nothing lent
)

// Private system call operations (sysSmpgoDebug) of this file.
const (
	opPrioFirst  = 16
	opPreempt    = 16 // CriticalExit's deferred preemption (preemptLocked)
	opSetPrio    = 17 // a1 = priority, a2 = the goroutine to bind
	opGetPrio    = 18 // a1 = tid, 0 = the caller: base | effective<<16 | on a turnstile<<32
	opTsBlock    = 19 // a1 = lock address, a2 = its owner
	opTsUnblock  = 20 // a1 = lock address
	opTsDisown   = 21 // a1 = lock address, a2 = its (former) owner
	opLending    = 22 // a1 = 0 off, 1 on, 2 query: the previous setting
	opPrioCounts = 23 // a1 = 0 lends, 1 preemptions
)

// maxLendDepth bounds the owner chain a lend follows (a longer one is a
// lock cycle, which is a deadlock that witness reports).
const maxLendDepth = 32

// nTsRecs bounds the locks with waiting bound threads at once.
const nTsRecs = 256

// Lending state (s): the owner of each lock that bound threads wait on.
var (
	tsRecs [nTsRecs]struct {
		key   uintptr
		owner uint64
	}
	lendingOff bool
	lends      uint64 // lent priorities raised
	tsOverflow uint64 // blocks not recorded: table full
)

func prioSyscall(c *CPU, t *Thread, op, a1, a2 uint64) int64 {
	lockSched()
	defer unlockSched()
	switch op {
	case opPreempt:
		preemptLocked(c)
		return 0
	case opSetPrio:
		if a1 > PriMaxIdle {
			return -EINVAL
		}
		old := t.pri()
		t.basePri = int32(a1)
		t.boundG = a2
		// A goroutine's g is recycled once it exits, before its locked
		// thread has finished exiting: the newest binding wins.
		for i := range threads {
			if o := &threads[i]; o != t && o.boundG == a2 {
				o.boundG = 0
			}
		}
		repriLocked(t, old)
		return 0
	case opGetPrio:
		o := t
		if a1 != 0 {
			if o = threadByTidLocked(int32(a1)); o == nil {
				return -ESRCH
			}
		}
		r := int64(o.basePri) | int64(o.pri())<<16
		if o.tsKey != 0 {
			r |= 1 << 32
		}
		return r
	case opTsBlock:
		if !tsSetOwnerLocked(uintptr(a1), a2) {
			tsOverflow++
			return -ENOMEM
		}
		t.tsKey = uintptr(a1)
		propagateLocked(t)
		return 0
	case opTsUnblock:
		t.tsKey = 0
		if o := threadOfGLocked(tsOwnerLocked(uintptr(a1))); o != nil {
			old := o.pri()
			recomputeLendLocked(o)
			repriLocked(o, old)
		}
		return 0
	case opTsDisown:
		for i := range tsRecs {
			if r := &tsRecs[i]; r.key == uintptr(a1) && r.owner == a2 {
				r.key, r.owner = 0, 0
			}
		}
		old := t.pri()
		recomputeLendLocked(t)
		repriLocked(t, old)
		return 0
	case opLending:
		was := int64(1)
		if lendingOff {
			was = 0
		}
		if a1 < 2 {
			lendingOff = a1 == 0
			for i := range threads {
				if o := &threads[i]; o.state != tFree {
					old := o.pri()
					recomputeLendLocked(o)
					repriLocked(o, old)
				}
			}
		}
		return was
	case opPrioCounts:
		switch a1 {
		case 0:
			return int64(lends)
		case 2:
			return int64(tsOverflow)
		}
		n := uint64(0)
		for i := 0; i < ncpu; i++ {
			n += cpus[i].prioPreempts
		}
		return int64(n)
	}
	return -EINVAL
}

func tsOwnerLocked(key uintptr) uint64 {
	for i := range tsRecs {
		if tsRecs[i].key == key {
			return tsRecs[i].owner
		}
	}
	return 0
}

func tsSetOwnerLocked(key uintptr, owner uint64) bool {
	free := -1
	for i := range tsRecs {
		switch r := &tsRecs[i]; {
		case r.key == key:
			r.owner = owner
			return true
		case r.key == 0 && free < 0:
			free = i
		}
	}
	if free < 0 {
		return false
	}
	tsRecs[free].key, tsRecs[free].owner = key, owner
	return true
}

// threadOfGLocked returns the live thread goroutine g is bound to, or nil.
func threadOfGLocked(g uint64) *Thread {
	if g == 0 {
		return nil
	}
	for i := range threads {
		if t := &threads[i]; t.boundG == g && t.state != tFree && t.state != tDead {
			return t
		}
	}
	return nil
}

// recomputeLendLocked sets t's lent priority to the best effective
// priority of the threads blocked on turnstiles of locks t's goroutine
// owns.
func recomputeLendLocked(t *Thread) {
	best := int32(priNone)
	if t.boundG != 0 && !lendingOff {
		var keys [16]uintptr
		n := 0
		for i := range tsRecs {
			if r := &tsRecs[i]; r.key != 0 && r.owner == t.boundG && n < len(keys) {
				keys[n] = r.key
				n++
			}
		}
		for i := 0; n > 0 && i < len(threads); i++ {
			w := &threads[i]
			if w.tsKey == 0 || w.state == tFree || w.state == tDead || w == t {
				continue
			}
			for _, k := range keys[:n] {
				if w.tsKey == k && w.pri() < best {
					best = w.pri()
				}
			}
		}
	}
	if best < t.lendPri && best < t.basePri {
		lends++
	}
	t.lendPri = best
}

// propagateLocked re-evaluates the owner chain above t, whose goroutine
// waits on the turnstile t.tsKey, after t's priority changed.
func propagateLocked(t *Thread) {
	for depth := 0; depth < maxLendDepth && t.tsKey != 0; depth++ {
		o := threadOfGLocked(tsOwnerLocked(t.tsKey))
		if o == nil || o == t {
			return
		}
		old := o.pri()
		recomputeLendLocked(o)
		if o.pri() == old {
			return
		}
		repriLocked(o, old)
		t = o
	}
}

// repriLocked acts on a change of t's effective priority from old: a
// runnable thread that got better may preempt a CPU, a running one that
// got worse may have to give its CPU to a queued thread, and a blocked
// one passes the change down its owner chain.
func repriLocked(t *Thread, old int32) {
	p := t.pri()
	if p == old {
		return
	}
	switch t.state {
	case tRunnable:
		if p < old {
			kickLocked(t)
		}
	case tRunning:
		if p > old {
			if int(t.cpu) == thisCPU() {
				cpus[t.cpu].needResched = true
			} else {
				apicSendResched(&cpus[t.cpu])
			}
		}
	case tBlocked:
		propagateLocked(t)
	}
}

// SetPriority sets the calling thread's base priority (0..255, lower is
// better; see the Pri constants) and binds the calling goroutine to the
// thread for priority lending. The caller must have called
// runtime.LockOSThread and keep the thread locked: the binding and the
// priority stay with the thread until it exits or SetPriority is called
// again.
func SetPriority(pri int) error {
	if pri < 0 || pri > PriMaxIdle {
		return errors.New("kern.SetPriority: priority out of range")
	}
	if _, _, e := syscall.RawSyscall(sysSmpgoDebug, opSetPrio, uintptr(pri), uintptr(Owner())); e != 0 {
		return e
	}
	return nil
}

// Priority returns the calling thread's base and effective (possibly
// lent) priority.
func Priority() (base, eff int) { return ThreadPriority(0) }

// ThreadPriority returns thread tid's base and effective priority (tid 0:
// the caller's); -1, -1 if there is no such thread.
func ThreadPriority(tid int) (base, eff int) {
	r, _, e := syscall.RawSyscall(sysSmpgoDebug, opGetPrio, uintptr(tid), 0)
	if e != 0 {
		return -1, -1
	}
	return int(r & 0xffff), int(r >> 16 & 0xffff)
}

// ThreadOnTurnstile reports whether thread tid's bound goroutine waits
// on a lock's turnstile (TurnstileBlock) and lends its priority.
func ThreadOnTurnstile(tid int) bool {
	r, _, e := syscall.RawSyscall(sysSmpgoDebug, opGetPrio, uintptr(tid), 0)
	return e == 0 && r>>32&1 != 0
}

// Gettid returns the calling thread's id.
func Gettid() int { return int(curThread().tid) }

// BoundThread reports whether the calling goroutine is bound to its
// thread by SetPriority (so its blocking on a lock can lend priority).
func BoundThread() bool {
	t := curThread()
	return t.boundG != 0 && t.boundG == Owner()
}

// TurnstileBlock records that the calling bound goroutine is about to
// wait on the turnstile of the lock at key, owned by owner (an Owner
// value), and lends its priority down the owner chain. Called with the
// turnstile chain locked, after the waiter is queued, so the owner cannot
// have released the lock yet. It reports false if the lending table is
// full (the wait then lends nothing; counted).
func TurnstileBlock(key uintptr, owner uint64) bool {
	_, _, e := syscall.RawSyscall(sysSmpgoDebug, opTsBlock, key, uintptr(owner))
	return e == 0
}

// TurnstileUnblock records that the calling goroutine no longer waits on
// the lock at key.
func TurnstileUnblock(key uintptr) {
	syscall.RawSyscall(sysSmpgoDebug, opTsUnblock, key, 0)
}

// TurnstileDisown records that the calling goroutine released the lock
// at key and gives back what was lent to its thread for it. Called after
// the woken waiters have been handed their wake-up, so that they are
// runnable before the releaser's priority drops.
func TurnstileDisown(key uintptr) {
	syscall.RawSyscall(sysSmpgoDebug, opTsDisown, key, uintptr(Owner()))
}

// SetLending turns priority lending on or off (for tests that show what
// happens without it) and returns the previous setting.
func SetLending(on bool) bool {
	a := uintptr(0)
	if on {
		a = 1
	}
	r, _, _ := syscall.RawSyscall(sysSmpgoDebug, opLending, a, 0)
	return r != 0
}

// PrioCounts returns how many times a lent priority was raised, how
// many running threads were preempted for a better one, and how many
// turnstile blocks could not lend because the lending table was full.
func PrioCounts() (lent, preempts, overflow uint64) {
	l, _, _ := syscall.RawSyscall(sysSmpgoDebug, opPrioCounts, 0, 0)
	p, _, _ := syscall.RawSyscall(sysSmpgoDebug, opPrioCounts, 1, 0)
	o, _, _ := syscall.RawSyscall(sysSmpgoDebug, opPrioCounts, 2, 0)
	return uint64(l), uint64(p), uint64(o)
}

// PinGoroutine keeps the calling goroutine on its P and M and out of the
// Go scheduler's preemption (runtime.procPin) without a critical
// section: the kernel still preempts the thread for a better one. For
// bound high- or low-priority threads that must not wait for a Go P from
// lower-priority threads (self-tests); it must not block in Go
// (channels, sleep locks) and must be short, as it delays a GC's
// stop-the-world.
func PinGoroutine() { procPin() }

// UnpinGoroutine undoes PinGoroutine.
func UnpinGoroutine() { procUnpin() }

// PriClass names the class of priority pri.
func PriClass(pri int) string {
	switch {
	case pri <= PriMaxIthread:
		return "ithread"
	case pri <= PriMaxRealtime:
		return "realtime"
	case pri <= PriMaxKern:
		return "kernel"
	case pri <= PriMaxTimeshare:
		return "timeshare"
	case pri <= PriMaxIdle:
		return "idle"
	}
	return "idle-loop"
}
