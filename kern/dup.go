package kern

// Duplicating descriptors: dup, dup2, dup3 and fcntl(F_DUPFD,
// F_DUPFD_CLOEXEC), as Go's os and net use them (net.Conn's File,
// net.FileListener, net.FileConn, os.NewFile of a dup'd descriptor).
//
// A duplicate refers to the same object as the original:
//
//   - the console: another console descriptor;
//   - a pipe end: the pipe's reader or writer count goes up, so the pipe
//     sees EOF (or EPIPE) only when every copy is closed;
//   - a provider's object (fdExt: a socket, a file of the in-memory file
//     system): the same provider handle, so a file's offset is shared as
//     on Linux. Copies are marked dupped; closing one that is not the last
//     copy only frees the number, and the provider drops the object when
//     the last one closes. The open file's status flags (O_NONBLOCK,
//     O_APPEND: F_SETFL) and a socket's addresses are kept alike on every
//     copy, and readiness (Notify) reaches every copy that epoll watches.
//
// The runtime's own eventfd, epoll and request-queue descriptors are not
// duplicated (EINVAL, counted as refused), and dup2 over one of them is
// refused (EBUSY). Their state is not an object descriptors could share:
// an eventfd's counter, an epoll instance's index and each descriptor's
// epoll registration live in the descriptor's own file-table slot, and
// readiness is posted to that one slot. Sharing them would take an object
// table with reference counts under the netpoller's hot path, for no
// user: the runtime never duplicates them, and a program cannot name them
// (Go's os and net never hand them out). Close-on-exec is accepted and
// ignored: there is no exec. Guarded by sched.lock, like the file table.

const (
	sysDup  = 32
	sysDup2 = 33
	sysDup3 = 292

	fDupfd        = 0
	fDupfdCloexec = 1030

	EBUSY = 16
)

// dupCounts counts the duplicates made (sched.lock).
var dupCounts struct {
	made, refused uint64
}

// DupCounts returns how many descriptors were duplicated and how many
// duplications were refused.
func DupCounts() (made, refused uint64) {
	lockSched()
	defer unlockSched()
	return dupCounts.made, dupCounts.refused
}

// dupOKLocked reports whether fd's kind can be duplicated.
func dupOKLocked(f *file) bool {
	switch f.kind {
	case fdConsole, fdPipeR, fdPipeW, fdExt:
		return true
	}
	return false
}

// dupIntoLocked makes the free slot nfd a copy of old.
func dupIntoLocked(old, nfd int) {
	o, n := &files[old], &files[nfd]
	*n = file{kind: o.kind, pipe: o.pipe, nonblock: o.nonblock, prov: o.prov, handle: o.handle,
		flags: o.flags, pollable: o.pollable, sockLocal: o.sockLocal, sockPeer: o.sockPeer, epQueued: n.epQueued}
	switch o.kind {
	case fdPipeR:
		pipes[o.pipe].readers++
	case fdPipeW:
		pipes[o.pipe].writers++
	case fdExt:
		o.dupped, n.dupped = true, true
		unixNames[nfd] = unixNames[old]
	}
	dupCounts.made++
}

// sameObject reports whether f is a descriptor of the provider object
// (prov, handle).
func (f *file) sameObject(prov int32, handle uint64) bool {
	return f.kind == fdExt && f.prov == prov && f.handle == handle
}

// copiesLocked calls fn for every descriptor of fd's provider object but
// fd itself (none unless fd was ever duplicated).
func copiesLocked(fd int, fn func(i int, f *file)) {
	x := &files[fd]
	if x.kind != fdExt || !x.dupped {
		return
	}
	for i := range files {
		if i != fd && files[i].sameObject(x.prov, x.handle) {
			fn(i, &files[i])
		}
	}
}

// lastCopyLocked reports whether fd is the only descriptor of its
// provider object.
func lastCopyLocked(fd int) bool {
	last := true
	copiesLocked(fd, func(int, *file) { last = false })
	return last
}

// sysDupCall serves dup, dup2 and dup3. It may block the caller (dup2
// over the last descriptor of a provider object: the provider drops the
// object first), returning blocked.
func sysDupCall(c *CPU, t *Thread, nr uint64, old, nfd, flags int) int64 {
	lockSched()
	defer unlockSched()
	o := fileLocked(old)
	switch {
	case nr == sysDup3 && flags&^oCloexec != 0:
		return dupRefusedLocked(-EINVAL)
	case o == nil:
		return dupRefusedLocked(-EBADF)
	case !dupOKLocked(o):
		return dupRefusedLocked(-EINVAL)
	case nr == sysDup:
		return dupLowestLocked(old, 0)
	case nfd < 0 || nfd >= maxFds:
		return dupRefusedLocked(-EBADF)
	case nfd == old && nr == sysDup3:
		return dupRefusedLocked(-EINVAL)
	case nfd == old:
		return int64(nfd)
	}
	// dup2, dup3: what nfd held is closed first, silently.
	n := &files[nfd]
	switch n.kind {
	case fdFree, fdConsole:
	case fdPipeR, fdPipeW:
		pipeCloseLocked(n)
	case fdExt:
		if !lastCopyLocked(nfd) {
			break
		}
		// The provider drops the object; the caller waits for it and
		// then gets nfd (extDone, retFd), whatever the close answered.
		prov, h, fl := int(n.prov), n.handle, n.flags
		*n = file{epQueued: n.epQueued}
		dupIntoLocked(old, nfd)
		ext.slots[threadIndex(t)].retFd = int32(nfd) + 1
		extQueueLocked(c, t, sysClose, prov, -1, h, fl)
		return blocked
	default:
		return dupRefusedLocked(-EBUSY) // the runtime's own descriptors
	}
	*n = file{epQueued: n.epQueued}
	dupIntoLocked(old, nfd)
	return int64(nfd)
}

// dupLowestLocked copies old into the lowest free descriptor from min on
// (dup, F_DUPFD).
func dupLowestLocked(old, min int) int64 {
	i := freeFdLocked(max(min, 3))
	if i < 0 {
		return dupRefusedLocked(-EMFILE)
	}
	dupIntoLocked(old, i)
	return int64(i)
}

func dupRefusedLocked(e int64) int64 {
	dupCounts.refused++
	return e
}

// fcntlDupLocked serves F_DUPFD and F_DUPFD_CLOEXEC.
func fcntlDupLocked(fd int, arg uint64) int64 {
	f := fileLocked(fd)
	switch {
	case f == nil:
		return dupRefusedLocked(-EBADF)
	case arg >= maxFds:
		return dupRefusedLocked(-EINVAL)
	case !dupOKLocked(f):
		return dupRefusedLocked(-EINVAL)
	}
	return dupLowestLocked(fd, int(arg))
}
