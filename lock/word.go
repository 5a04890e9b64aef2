package lock

// Lock-word layouts. Owner ids (kern.Owner(): g addresses) are 8-byte
// aligned, so bits 0-2 of a word holding an owner are free for flags.
//
// Mutex and SpinMutex (FreeBSD's mtx_lock):
//
//	63                                   3   2   1   0
//	+-------------------------------------+---+---+---+
//	|            owner id >> 3            | 0 | R | C |
//	+-------------------------------------+---+---+---+
//	0          unowned
//	C (bit 0)  contested: goroutines wait on the turnstile; the unlock
//	           takes the slow path and hands the lock on. An unowned word
//	           may keep C (value 1) while waiters remain after a hand-off.
//	R (bit 1)  recursed: the owner holds it more than once (the depth is
//	           in the lock, owner-only); unlock takes the slow path.
//
// SX and RW (FreeBSD's sx_lock / rw_lock):
//
//	63                                   3   2   1   0
//	+-------------------------------------+---+---+---+
//	| owner id >> 3  or  sharer count     | XW| SW| S |
//	+-------------------------------------+---+---+---+
//	S  (bit 0)  shared: the upper bits count sharers (0 = unlocked);
//	            clear: the upper bits are the exclusive owner.
//	SW (bit 1)  shared waiters (readers) are queued.
//	XW (bit 2)  exclusive waiters (writers) are queued; new readers then
//	            block too (writer preference), unless the lock is
//	            Recursive (readers may then recurse without deadlocking
//	            behind a waiting writer).
//	unlocked = S with a count of 0 (value 1).
const (
	mtxContested = 1 << 0
	mtxRecursed  = 1 << 1

	rwShared     = 1 << 0
	rwSharedWait = 1 << 1
	rwExclWait   = 1 << 2
	rwWaiters    = rwSharedWait | rwExclWait
	rwFlags      = rwShared | rwWaiters
	sharerShift  = 3
	rwOneSharer  = 1 << sharerShift
	rwUnlocked   = rwShared
	ownerMask    = ^uint64(7)
)

// mtxOwner returns the owner id in a mutex word (0 if unowned).
func mtxOwner(v uint64) uint64 { return v & ownerMask }

// rwOwner returns the exclusive owner in an sx/rw word (0 if shared or
// unlocked).
func rwOwner(v uint64) uint64 {
	if v&rwShared != 0 {
		return 0
	}
	return v & ownerMask
}

// rwSharers returns the sharer count of an sx/rw word (0 if exclusive).
func rwSharers(v uint64) uint64 {
	if v&rwShared == 0 {
		return 0
	}
	return v >> sharerShift
}

// rwIsUnlocked reports whether nobody holds the sx/rw word (waiter bits
// may be set while woken waiters race for it).
func rwIsUnlocked(v uint64) bool { return v&rwShared != 0 && v>>sharerShift == 0 }

// rwCanShare reports whether a new reader may join: shared or unlocked,
// and no writer waiting unless readers may pass writers.
func rwCanShare(v uint64, readersPass bool) bool {
	return v&rwShared != 0 && (v&rwExclWait == 0 || readersPass)
}

// mtxWordString decodes a mutex word for reports and the shell.
func mtxWordString(v uint64) string {
	if v&ownerMask == 0 {
		if v&mtxContested != 0 {
			return "unowned, contested"
		}
		return "unowned"
	}
	s := "owner " + hex(mtxOwner(v))
	if v&mtxContested != 0 {
		s += ", contested"
	}
	if v&mtxRecursed != 0 {
		s += ", recursed"
	}
	return s
}

// rwWordString decodes an sx/rw word.
func rwWordString(v uint64) string {
	var s string
	switch {
	case rwIsUnlocked(v):
		s = "unlocked"
	case v&rwShared != 0:
		s = "shared by " + dec(rwSharers(v))
	default:
		s = "exclusive owner " + hex(rwOwner(v))
	}
	if v&rwSharedWait != 0 {
		s += ", shared waiters"
	}
	if v&rwExclWait != 0 {
		s += ", exclusive waiters"
	}
	return s
}

func hex(v uint64) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0x0"
	}
	var b [18]byte
	i := len(b)
	for v != 0 {
		i--
		b[i] = digits[v&15]
		v >>= 4
	}
	i -= 2
	b[i], b[i+1] = '0', 'x'
	return string(b[i:])
}

func dec(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v != 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}
