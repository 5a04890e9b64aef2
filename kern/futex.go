package kern

import (
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// futex(2): FUTEX_WAIT and FUTEX_WAKE, private or not (one address space),
// which is all the Go runtime uses. Waiters are blocked threads whose
// waitKey is the futex address; the check of *uaddr and the sleep happen
// under sched.lock, so a wake between them cannot be lost.
func sysFutexCall(c *CPU, t *Thread, uaddr uintptr, op int, val uint32, timeout uintptr) int64 {
	const wait, wake = 0, 1
	if uaddr%4 != 0 || !vm.Ensure(uaddr, 4) {
		return -EFAULT
	}
	switch op & 0x7f { // strip FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME
	case wait:
		var deadline int64
		if timeout != 0 {
			if !vm.Ensure(timeout, 16) {
				return -EFAULT
			}
			sec, nsec := int64(amd64.Load64(timeout)), int64(amd64.Load64(timeout+8))
			if sec < 0 || nsec < 0 || nsec >= 1e9 {
				return -EINVAL
			}
			deadline = nanotime() + sec*1e9 + nsec
			if deadline <= 0 {
				deadline = 1
			}
		}
		lockSched()
		defer unlockSched()
		if amd64.Load32(uaddr) != val {
			return -EAGAIN
		}
		blockLocked(c, waitFutex, uaddr, deadline)
		return blocked
	case wake:
		lockSched()
		defer unlockSched()
		n := int64(0)
		for i := range threads {
			if n >= int64(val) {
				break
			}
			w := &threads[i]
			if w.state == tBlocked && w.waitFor == waitFutex && w.waitKey == uaddr {
				wakeLocked(w, 0)
				n++
			}
		}
		return n
	}
	return -ENOSYS
}
