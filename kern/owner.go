package kern

import (
	"sync/atomic"

	"github.com/smpgo/smpgo/arch/amd64"
)

// OwnerRunning reports whether goroutine owner (an Owner() value) is
// running on a CPU right now: some CPU's current thread has owner as the g
// in its TLS slot (-8 from its FS base, where the runtime keeps g on
// linux/amd64). Sleep mutexes spin while it is true (FreeBSD's adaptive
// spinning on TD_IS_RUNNING(owner)) and block otherwise. The answer is a
// racy snapshot, good for a spin decision and nothing else.
func OwnerRunning(owner uint64) bool {
	for i := 0; i < ncpu; i++ {
		idx := atomic.LoadInt32(&cpus[i].curIdx)
		t := &threads[idx]
		if t.idle {
			continue
		}
		fs := uintptr(atomic.LoadUint64(&t.fsbase))
		if fs < 4096 {
			continue
		}
		if amd64.Load64(fs-8) == owner {
			return true
		}
	}
	return false
}

// Blocking inside a critical section. Trap context cannot call witness
// (it allocates), so blockLocked records the offence in the thread: a
// thread that blocks in a system call (futex wait, nanosleep, epoll wait,
// console or pipe read, pipe write) while its goroutine is inside a critical section (which
// every spin mutex holds) counts it and names the blocking point. The
// goroutine collects the record in goroutine context with
// TakeBlockedInCritical when it leaves the section (the lock package does
// so before releasing a spin mutex, while witness still lists it, and
// through OnCriticalBlock at CriticalExit) and reports it.

// blockPoints names the blocking points for witness reports.
var blockPoints = [...]string{waitNone: "", waitFutex: "futex wait", waitSleep: "nanosleep", waitEpoll: "epoll wait",
	waitRead: "console read", waitPipeRead: "pipe read", waitPipeWrite: "pipe write",
	waitExt: "file or socket call"}

// critBlocks counts blocks inside critical sections, all threads (a).
var critBlocks atomic.Uint64

// CriticalBlocks returns how many times a thread blocked in a system call
// while inside a critical section.
func CriticalBlocks() uint64 { return critBlocks.Load() }

// quietBlocks counts blocks inside bookkeeping sections
// (CriticalEnterQuiet), which are not recorded (a).
var quietBlocks atomic.Uint64

// QuietCriticalBlocks returns how many times a thread blocked in a system
// call inside a bookkeeping section (CriticalEnterQuiet): the Go runtime
// waiting for one of its own locks while witness allocated.
func QuietCriticalBlocks() uint64 { return quietBlocks.Load() }

// noteCriticalBlock records that t blocks for why inside a critical
// section. Trap context, sched.lock held.
func noteCriticalBlock(t *Thread, why int32) {
	if t.critNest == 0 || t.idle {
		return
	}
	if t.critQuiet > 0 {
		// Lock-checking bookkeeping (witness's internal locks) blocked
		// in the runtime, typically a contended runtime lock while it
		// allocates: not the blocking of the code it checks.
		quietBlocks.Add(1)
		return
	}
	t.critBlockWhy = why
	critBlocks.Add(1)
}

// TakeBlockedInCritical returns the blocking point at which the calling
// thread blocked while in its current critical section, or "", and
// clears the record. Call it inside the critical section.
func TakeBlockedInCritical() string {
	t := curThread()
	why := t.critBlockWhy
	if why == 0 {
		return ""
	}
	t.critBlockWhy = 0
	return blockPoints[why]
}

// OnCriticalBlock, if set, is called by the outermost CriticalExit with the
// blocking point when the thread blocked inside the section and nobody
// collected the record before (set once at init by the lock package, which
// reports it to witness).
var OnCriticalBlock func(why string)

// Booted reports whether the code runs in the booted kernel (false in a
// host test binary, where kern's hardware paths must not be called).
func Booted() bool { return ncpu > 0 }
