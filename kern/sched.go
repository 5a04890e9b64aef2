package kern

import (
	"math"

	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/kern/spin"
)

// Interrupt vectors owned by the kernel.
const (
	vecTimer    = 0x20
	vecResched  = 0xf0 // IPIs: 0xf0 resched, 0xf1 TLB, 0xf2 rendezvous, 0xf3 ping
	nIPITypes   = 4
	vecSpurious = 0xff
)

// The scheduler. One global run queue under one raw spin lock
// (sched_lock) shared by every CPU; all of it runs in trap context with
// interrupts off. Every thread has a priority (prio.go; lower is better):
// a CPU runs the best runnable thread allowed on it, threads of equal
// priority round-robin with a one-tick slice, and a thread made runnable
// preempts the worst-priority thread running on a CPU it may use (this
// CPU at the end of the trap, another by a reschedule IPI). Blocked
// threads with a deadline are found by a scan on each tick (the thread
// table is small: Go creates a few Ms per CPU).
var sched struct {
	lock spin.Lock
	// Guarded by lock:
	head, tail int32 // run queue (thread indices), -1 = empty
	nrun       int32
	nextTid    int32
	nthreads   int32
}

func schedInit() {
	sched.head, sched.tail = -1, -1
	ext.head, ext.tail, ext.queueFd = -1, -1, -1
	sched.nextTid = 1
	for i := range threads {
		threads[i].next = -1
	}
}

func lockSched()   { sched.lock.Acquire(thisCPU()) }
func unlockSched() { sched.lock.Release() }

// allocThreadLocked takes a free thread slot. Thread ids start at 1 (the
// runtime's first thread is the process: getpid() == 1); idle threads
// have negative ids and take none. A thread's id is congruent to its slot
// index modulo MaxThreads (tidSlot), so code holding only the id (the Go
// runtime's m.procid, read by the inlined critical section) finds its
// thread with a mask; ids still grow and are never reused while a thread
// with the same id lives.
func allocThreadLocked(idle bool) *Thread {
	for i := range threads {
		t := &threads[i]
		if t.state == tFree {
			*t = Thread{}
			t.next = -1
			if !idle {
				t.tid = nextTidLocked(i)
			}
			t.state = tBlocked
			t.basePri, t.lendPri = PriDefault, priNone
			if idle {
				t.basePri = priIdleThread
			}
			t.initFX()
			sched.nthreads++
			return t
		}
	}
	return nil
}

// nextTidLocked returns the id for a new thread in slot i: the smallest
// id from sched.nextTid on that is congruent to i modulo MaxThreads (at
// most MaxThreads-1 ids are skipped). No live thread can have it: a live
// thread with an id congruent to i would be in slot i, which is free. When
// the ids run past int32 they start again from 1.
func nextTidLocked(i int) int32 {
	for {
		next := int64(sched.nextTid)
		tid := next + int64((i-int(next))&(MaxThreads-1))
		if tid > math.MaxInt32 {
			sched.nextTid = 1
			continue
		}
		sched.nextTid = int32(min(tid+1, math.MaxInt32))
		return int32(tid)
	}
}

// tidSlot returns the slot index of the thread with id tid (> 0).
func tidSlot(tid uint64) uintptr { return uintptr(tid) & (MaxThreads - 1) }

// enqueueLocked makes t runnable at the tail of the run queue, and
// preempts the CPU running the worst-priority thread t may replace.
func enqueueLocked(t *Thread) {
	t.state = tRunnable
	t.next = -1
	i := int32(threadIndex(t))
	if sched.tail < 0 {
		sched.head = i
	} else {
		threads[sched.tail].next = i
	}
	sched.tail = i
	sched.nrun++
	kickLocked(t)
}

// allowedOn reports whether t may run on CPU cpu.
func (t *Thread) allowedOn(cpu int) bool {
	return t.affinity == 0 || t.affinity&(1<<uint(cpu)) != 0
}

// dequeueLocked removes and returns the best-priority queued thread
// allowed on CPU cpu, the longest queued among equals (round robin).
func dequeueLocked(cpu int) *Thread {
	best, bestPrev := int32(-1), int32(-1)
	bp := int32(priNone)
	prev := int32(-1)
	for i := sched.head; i >= 0; prev, i = i, threads[i].next {
		t := &threads[i]
		if p := t.pri(); p < bp && t.allowedOn(cpu) {
			best, bestPrev, bp = i, prev, p
		}
	}
	if best < 0 {
		return nil
	}
	t := &threads[best]
	if bestPrev < 0 {
		sched.head = t.next
	} else {
		threads[bestPrev].next = t.next
	}
	if sched.tail == best {
		sched.tail = bestPrev
	}
	t.next = -1
	sched.nrun--
	return t
}

// bestQueuedLocked returns the priority of the best queued thread allowed
// on CPU cpu, or priNone.
func bestQueuedLocked(cpu int) int32 {
	bp := int32(priNone)
	for i := sched.head; i >= 0; i = threads[i].next {
		if t := &threads[i]; t.pri() < bp && t.allowedOn(cpu) {
			bp = t.pri()
		}
	}
	return bp
}

// kickLocked finds the online CPU, allowed for the runnable thread t,
// whose current thread has the worst priority, worse than t's (an idle
// CPU first of all; this CPU among equals), and makes it reschedule:
// this CPU at the end of the trap (needResched), another by a reschedule
// IPI.
func kickLocked(t *Thread) {
	me := thisCPU()
	target, worst := -1, t.pri()
	for i := 0; i < ncpu; i++ {
		c := &cpus[i]
		if !c.online || !t.allowedOn(i) {
			continue
		}
		if p := threads[c.curIdx].pri(); p > worst || p == worst && target >= 0 && i == me {
			target, worst = i, p
		}
	}
	switch {
	case target < 0:
	case target == me:
		cpus[me].needResched = true
	default:
		apicSendResched(&cpus[target])
	}
}

// apicSendResched sends c a reschedule IPI.
func apicSendResched(c *CPU) {
	c.kicks++
	apic.SendIPI(c.apicID, apic.ICR_DLV_FIXED|vecResched)
}

// switchLocked makes t current on c (t may be c's idle thread).
func switchLocked(c *CPU, t *Thread) {
	old := c.curIdx
	t.state = tRunning
	t.cpu = int32(c.id)
	c.curIdx = int32(threadIndex(t))
	c.cur = t.addr()
	if c.curIdx != old {
		c.switches++
		ktrTrap(c, t, KTRSched, ktrSwitch, uint64(threads[old].tid), uint64(t.tid), 0)
	}
}

// reschedLocked picks the next thread for c after the current one stopped
// running (blocked, exited or was requeued).
func reschedLocked(c *CPU) {
	if t := dequeueLocked(int(c.id)); t != nil {
		switchLocked(c, t)
		return
	}
	switchLocked(c, &threads[c.idleIdx])
}

// preemptLocked is the tick's round robin: c's current thread is
// requeued if a queued thread allowed here is at least as good (or if it
// may no longer run here). A thread inside a critical section is not
// preempted: the CPU remembers, and CriticalExit yields.
func preemptLocked(c *CPU) {
	cur := &threads[c.curIdx]
	if cur.allowedOn(int(c.id)) && bestQueuedLocked(int(c.id)) > cur.pri() {
		return
	}
	switchAwayLocked(c, cur)
}

// preemptBetterLocked switches c away from its current thread only if a
// queued thread allowed here is strictly better (a wake-up's preemption,
// the reschedule IPI), or if the current one may no longer run here.
func preemptBetterLocked(c *CPU) {
	cur := &threads[c.curIdx]
	if cur.allowedOn(int(c.id)) && bestQueuedLocked(int(c.id)) >= cur.pri() {
		return
	}
	if !cur.idle {
		c.prioPreempts++
	}
	switchAwayLocked(c, cur)
}

func switchAwayLocked(c *CPU, cur *Thread) {
	if cur.critNest > 0 && !cur.idle {
		cur.preemptPending = 1
		return
	}
	if !cur.idle {
		enqueueLocked(cur)
	}
	reschedLocked(c)
}

// yieldLocked is sched_yield: c's current thread goes behind the best
// other runnable thread allowed here, whatever that thread's priority,
// until the next tick or wake-up preemption gives the CPU back. The Go
// runtime yields in spin-waits for other threads (casgstatus, runqgrab);
// a strict yield that never ran a worse thread would livelock a
// higher-priority thread waiting for a lower one on the same CPU.
func yieldLocked(c *CPU) {
	cur := &threads[c.curIdx]
	if cur.critNest > 0 && !cur.idle {
		cur.preemptPending = 1
		return
	}
	t := dequeueLocked(int(c.id))
	if t == nil {
		if !cur.allowedOn(int(c.id)) {
			switchAwayLocked(c, cur)
		}
		return
	}
	if !cur.idle {
		enqueueLocked(cur)
	}
	switchLocked(c, t)
}

// blockLocked stops the current thread until wakeLocked (or its deadline:
// deadline 0 = none) and runs another.
func blockLocked(c *CPU, why int32, key uintptr, deadline int64) {
	t := &threads[c.curIdx]
	noteCriticalBlock(t, why)
	ktrTrap(c, t, KTRSched, ktrBlock, uint64(t.tid), uint64(why), uint64(key))
	t.state = tBlocked
	t.waitFor = why
	t.waitKey = key
	t.wakeAt = deadline
	t.timedOut = false
	reschedLocked(c)
}

// wakeLocked makes a blocked thread runnable with syscall result ret.
func wakeLocked(t *Thread, ret int64) {
	if t.state != tBlocked {
		return
	}
	ktrTrap(curCPU(), t, KTRSched, ktrWake, uint64(t.tid), uint64(ret), 0)
	t.Frame.RAX = uint64(ret)
	t.waitFor = waitNone
	t.waitKey = 0
	t.wakeAt = 0
	enqueueLocked(t)
}

// expireLocked wakes blocked threads whose deadline has passed, with the
// result their system call gives on timeout.
func expireLocked(now int64) {
	for i := range threads {
		t := &threads[i]
		if t.state != tBlocked || t.wakeAt == 0 || t.wakeAt > now {
			continue
		}
		t.timedOut = true
		switch t.waitFor {
		case waitFutex:
			wakeLocked(t, -ETIMEDOUT)
		default: // nanosleep, epoll_pwait: 0 (no events)
			wakeLocked(t, 0)
		}
	}
}

// threadByTid finds a live thread.
func threadByTidLocked(tid int32) *Thread {
	for i := range threads {
		t := &threads[i]
		if t.tid == tid && t.state != tFree && t.state != tDead && !t.idle {
			return t
		}
	}
	return nil
}
