package lock

import (
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// Interlock is a lock a sleep releases while it waits and takes back
// after: a *Mutex, or an *SX or *RW held exclusively (cv_wait's and
// msleep's interlock).
type Interlock interface {
	witnessObject() *witness.Object
	sleepUnlock()
	sleepLock()
}

// qSleep is the queue number of condition variables and wait channels on
// kern.SleepQueues (sx locks use QExclusive and QShared there).
const qSleep = 2

// Cond is a condition variable (condvar(9)): goroutines wait for a
// condition with an interlock held; Wait releases the interlock while it
// sleeps. Waiters queue on kern.SleepQueues in FIFO order.
type Cond struct {
	name string // (c)
}

// NewCond returns a condition variable described by name (its wmesg).
func NewCond(name string) *Cond { return &Cond{name: name} }

// Name returns the description.
func (cv *Cond) Name() string { return cv.name }

func (cv *Cond) key() uintptr { return uintptr(unsafe.Pointer(cv)) }

// Wait releases lk, sleeps until Signal or Broadcast, and takes lk back
// (cv_wait). Giant, if held, is dropped for the sleep and taken back.
func (cv *Cond) Wait(lk Interlock) { sleepOn(cv.key(), lk, "cv_wait", 0) }

// TimedWait is Wait for at most d; it reports false if d passed first
// (cv_timedwait's EWOULDBLOCK).
func (cv *Cond) TimedWait(lk Interlock, d time.Duration) bool {
	return sleepOn(cv.key(), lk, "cv_timedwait", max(d, 1))
}

// Signal wakes the longest waiter, if any (cv_signal).
func (cv *Cond) Signal() { wakeup(cv.key(), false) }

// Broadcast wakes every waiter (cv_broadcast).
func (cv *Cond) Broadcast() { wakeup(cv.key(), true) }

// Waiters returns the number of goroutines waiting.
func (cv *Cond) Waiters() int {
	ch := kern.SleepQueues.Lock(cv.key())
	n := ch.Count(cv.key(), qSleep)
	ch.Unlock()
	return n
}

// Sleep waits on the wait channel wchan, any address, until Wakeup or
// WakeupOne on it, or until timeout (0: none), releasing lk (may be nil)
// meanwhile (sleep(9)'s msleep). It reports false on timeout. Like
// msleep it may also return early on a wake-up meant for another
// condition: callers re-check what they wait for.
func Sleep(wchan unsafe.Pointer, lk Interlock, wmesg string, timeout time.Duration) bool {
	return sleepOn(uintptr(wchan), lk, wmesg, timeout)
}

// Wakeup wakes every goroutine sleeping on wchan.
func Wakeup(wchan unsafe.Pointer) { wakeup(uintptr(wchan), true) }

// WakeupOne wakes the longest sleeper on wchan.
func WakeupOne(wchan unsafe.Pointer) { wakeup(uintptr(wchan), false) }

func wakeup(key uintptr, all bool) {
	ch := kern.SleepQueues.Lock(key)
	if all {
		ch.Broadcast(key, qSleep)
	} else {
		ch.Wake(key, qSleep)
	}
	ch.Unlock()
}

// sleepOn is the common sleep: witness is asked first whether a lock that
// may not be held across a sleep is held (the interlock excepted), then
// Giant is dropped, the goroutine queued, the interlock released, and the
// goroutine parked. The waiter is queued before the interlock is released,
// so a wake-up issued under the interlock cannot be missed.
func sleepOn(key uintptr, lk Interlock, why string, timeout time.Duration) bool {
	return sleepOnIn(witness.Default, key, lk, why, timeout)
}

// sleepOnIn is sleepOn checked by witness w (the self-test matrix uses
// private witnesses).
func sleepOnIn(wit *witness.Witness, key uintptr, lk Interlock, why string, timeout time.Duration) bool {
	me := kern.Owner()
	giant := isGiant(lk)
	if witness.Enabled && wit.Mode() != witness.Off {
		var obj *witness.Object
		if lk != nil {
			obj = lk.witnessObject()
		}
		wit.WarnSleepExcept(me, obj, blockFlags(0), why)
	}
	n := DropGiant()
	w := kern.NewWaiter(0) // before the chain lock (see kern.NewWaiter)
	ch := kern.SleepQueues.Lock(key)
	ch.Add(key, qSleep, w)
	ch.Unlock()
	if lk != nil && !giant {
		lk.sleepUnlock()
	}
	ok := true
	if timeout > 0 {
		ok = kern.SleepQueues.ParkTimeout(w, timeout)
	} else {
		kern.SleepQueues.Park(w)
	}
	// Giant first, then the interlock, as FreeBSD's _sleep does:
	// Giant comes before every non-sleepable lock.
	PickupGiant(n)
	if lk != nil && !giant {
		lk.sleepLock()
	}
	return ok
}

func isGiant(lk Interlock) bool {
	m, ok := lk.(*Mutex)
	return ok && m == Giant
}
