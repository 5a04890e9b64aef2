package kern

import (
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// The file table: the console on 0-2, the eventfd and epoll objects the
// runtime's network poller creates, pipe ends (pipe.go), and files served
// by providers in goroutine context (fdExt: the in-memory file system,
// sockets; extfile.go). Guarded by sched.lock.
const (
	fdFree = iota
	fdConsole
	fdEventfd
	fdEpoll
	fdPipeR    // read end of pipes[pipe]
	fdPipeW    // write end of pipes[pipe]
	fdExt      // a provider's object (prov, handle)
	fdExtQueue // requests for providers (extfile.go)

	maxFds    = 1024
	maxEpolls = 8

	epollIn    = 0x1
	epollOut   = 0x4
	epollErr   = 0x8
	epollHup   = 0x10
	epollRdhup = 0x2000
	epollET    = 1 << 31
)

type file struct {
	kind     int
	count    uint64 // eventfd counter
	pipe     int32  // pipe ends: index into pipes
	nonblock bool   // pipe ends: O_NONBLOCK
	ep       int32  // epoll objects: index into epolls

	// Registration of this descriptor with an epoll instance (one
	// instance per descriptor; Go's runtime has one).
	epIn     int32  // instance index + 1, 0 = not registered
	epEvents uint32 // registered events (EPOLLET included)
	epData   uint64
	epPend   uint32 // events waiting to be reported
	epQueued bool   // on the instance's ready ring (kept across close)

	// fdExt.
	prov     int32
	handle   uint64
	flags    uint32 // open flags: access mode, O_APPEND, O_NONBLOCK
	pollable bool   // epoll_ctl allowed (sockets; not regular files)
	dupped   bool   // another descriptor may share the object (dup.go)

	// Sockets: addresses for getsockname/getpeername (SockAddr).
	sockLocal, sockPeer uint64
}

// epollInst is an epoll instance: a ring of descriptors that may have
// events, each queued at most once (file.epQueued).
type epollInst struct {
	used       bool
	ring       [maxFds]int16
	head, tail uint32
}

var epolls [maxEpolls]epollInst

var files = [maxFds]file{{kind: fdConsole}, {kind: fdConsole}, {kind: fdConsole}}

// console input ring, filled by pollConsoleLocked: from COM1's receive
// interrupt once it is enabled (EnableConsoleRxIntr), else on CPU 0's tick.
var conIn struct {
	buf        [256]byte
	head, tail uint32
}

func newFd(kind int, count uint64) int64 {
	lockSched()
	defer unlockSched()
	i := freeFdLocked(3)
	if i < 0 {
		return -EMFILE
	}
	q := files[i].epQueued
	files[i] = file{kind: kind, count: count, epQueued: q}
	if kind == fdEpoll {
		e := -1
		for k := range epolls {
			if !epolls[k].used {
				e = k
				break
			}
		}
		if e < 0 {
			files[i] = file{epQueued: q}
			return -ENFILE
		}
		epolls[e] = epollInst{used: true}
		files[i].ep = int32(e)
	}
	return int64(i)
}

// freeFdLocked returns the lowest free descriptor from from on, or -1.
func freeFdLocked(from int) int {
	for i := from; i < maxFds; i++ {
		if files[i].kind == fdFree {
			return i
		}
	}
	return -1
}

func fileLocked(fd int) *file {
	if fd < 0 || fd >= maxFds || files[fd].kind == fdFree {
		return nil
	}
	return &files[fd]
}

func closeFd(fd int) int64 {
	lockSched()
	defer unlockSched()
	f := fileLocked(fd)
	if f == nil {
		return -EBADF
	}
	if fd > 2 {
		switch f.kind {
		case fdPipeR, fdPipeW:
			pipeCloseLocked(f)
		case fdEpoll:
			// Each descriptor is on at most one ring: release the ones
			// queued here.
			in := &epolls[f.ep]
			for ; in.tail != in.head; in.tail++ {
				files[in.ring[in.tail%maxFds]].epQueued = false
			}
			in.used = false
		}
		*f = file{epQueued: f.epQueued}
	}
	return 0
}

func sysFcntlCall(fd, cmd int, arg uint64) int64 {
	lockSched()
	defer unlockSched()
	f := fileLocked(fd)
	if f == nil {
		return -EBADF
	}
	switch cmd {
	case fDupfd, fDupfdCloexec:
		return fcntlDupLocked(fd, arg)
	case 1: // F_GETFD
		return 0
	case 3: // F_GETFL
		switch f.kind {
		case fdExt:
			return int64(f.flags)
		case fdConsole:
			return 2 // O_RDWR
		case fdPipeR, fdPipeW:
			fl := int64(0) // O_RDONLY
			if f.kind == fdPipeW {
				fl = 1 // O_WRONLY
			}
			if f.nonblock {
				fl |= oNonblock
			}
			return fl
		}
		return 2 | oNonblock
	case 4: // F_SETFL
		if f.kind == fdPipeR || f.kind == fdPipeW {
			f.nonblock = arg&oNonblock != 0
		}
		if f.kind == fdExt {
			// The open file's flags: alike on every copy (dup.go).
			const settable = oNonblock | oAppend
			f.flags = f.flags&^settable | uint32(arg)&settable
			copiesLocked(fd, func(_ int, c *file) { c.flags = f.flags })
		}
		return 0
	case 2: // F_SETFD
		return 0
	}
	return -EINVAL
}

func sysWriteFd(c *CPU, fd int, buf, n uintptr) int64 {
	if n > 0 && !vm.Ensure(buf, n) {
		return -EFAULT
	}
	lockSched()
	f := fileLocked(fd)
	if f == nil {
		unlockSched()
		return -EBADF
	}
	switch f.kind {
	case fdEventfd:
		if n < 8 {
			unlockSched()
			return -EINVAL
		}
		f.count += amd64.Load64(buf)
		postEpollLocked(fd, epollIn)
		unlockSched()
		return 8
	case fdConsole:
		unlockSched()
		conLock.Acquire(thisCPU())
		var chunk [64]byte
		for i := uintptr(0); i < n; i += uintptr(len(chunk)) {
			k := int(min(n-i, uintptr(len(chunk))))
			for j := range k {
				chunk[j] = amd64.Load8(buf + i + uintptr(j))
			}
			conWrite(chunk[:k])
		}
		conLock.Release()
		return int64(n)
	case fdPipeW:
		r := pipeWriteLocked(c, f, buf, n)
		unlockSched()
		return r
	}
	unlockSched()
	return -EINVAL
}

func sysReadFd(c *CPU, fd int, buf, n uintptr) int64 {
	if n > 0 && !vm.Ensure(buf, n) {
		return -EFAULT
	}
	lockSched()
	defer unlockSched()
	f := fileLocked(fd)
	if f == nil {
		return -EBADF
	}
	switch f.kind {
	case fdEventfd:
		if n < 8 {
			return -EINVAL
		}
		if f.count == 0 {
			return -EAGAIN
		}
		amd64.Store64(buf, f.count)
		f.count = 0
		return 8
	case fdConsole:
		if conIn.head == conIn.tail {
			blockLocked(c, waitRead, 0, 0)
			return blocked
		}
		return readConsoleLocked(buf, n)
	case fdPipeR:
		return pipeReadLocked(c, f, buf, n)
	case fdExtQueue:
		return extReadLocked(buf, n)
	}
	return -EINVAL
}

func readConsoleLocked(buf, n uintptr) int64 {
	var i uintptr
	for i < n && conIn.head != conIn.tail {
		amd64.Store8(buf+i, conIn.buf[conIn.tail%uint32(len(conIn.buf))])
		conIn.tail++
		i++
	}
	return int64(i)
}

// pollConsoleLocked moves received bytes into the input ring and completes
// blocked reads of fd 0 (their arguments are still in their frames). It
// returns how many bytes it moved.
func pollConsoleLocked() int {
	got := 0
	for conIn.head-conIn.tail < uint32(len(conIn.buf)) {
		b, ok := conGetc()
		if !ok {
			break
		}
		if b == '\r' {
			b = '\n'
		}
		conIn.buf[conIn.head%uint32(len(conIn.buf))] = b
		conIn.head++
		got++
	}
	if got == 0 {
		return 0
	}
	for i := range threads {
		t := &threads[i]
		if t.state == tBlocked && t.waitFor == waitRead && conIn.head != conIn.tail {
			buf, n := uintptr(t.Frame.RSI), uintptr(t.Frame.RDX)
			wakeLocked(t, readConsoleLocked(buf, n))
		}
	}
	return got
}

func sysEpollCtlCall(epfd, op, fd int, ev uintptr) int64 {
	const add, del, mod = 1, 2, 3
	if op != del && !vm.Ensure(ev, 12) {
		return -EFAULT
	}
	lockSched()
	defer unlockSched()
	ep := fileLocked(epfd)
	f := fileLocked(fd)
	if ep == nil || ep.kind != fdEpoll || f == nil {
		return -EBADF
	}
	switch f.kind {
	case fdPipeR, fdPipeW, fdConsole, fdEpoll:
		return -EPERM // not pollable: the runtime uses them in blocking mode
	case fdExt:
		if !f.pollable {
			return -EPERM // regular files, as on Linux
		}
	}
	in := ep.ep + 1
	switch op {
	case add, mod:
		if op == add && f.epIn != 0 {
			return -EEXIST
		}
		if op == mod && f.epIn != in {
			return -ENOENT
		}
		// struct epoll_event is packed: events(4) then data(8) at +4.
		f.epIn = in
		f.epEvents = amd64.Load32(ev)
		f.epData = uint64(amd64.Load32(ev+4)) | uint64(amd64.Load32(ev+8))<<32
		f.epPend = 0
		// As on Linux, a descriptor that is ready when it is added reports
		// it: a provider's object is assumed ready once (the runtime
		// tolerates spurious events and retries the call).
		switch f.kind {
		case fdEventfd:
			if f.count > 0 {
				postEpollLocked(fd, epollIn)
			}
		case fdExt:
			postEpollLocked(fd, epollIn|epollOut)
		case fdExtQueue:
			if ext.head >= 0 {
				postEpollLocked(fd, epollIn)
			}
		}
	case del:
		if f.epIn != in {
			return -ENOENT
		}
		f.epIn, f.epEvents, f.epData, f.epPend = 0, 0, 0, 0
	default:
		return -EINVAL
	}
	return 0
}

const (
	EEXIST = 17
	ENOSPC = 28
)

// postEpollLocked records events on fd for the epoll instance watching it
// and completes epoll_pwait calls waiting on that instance. Error and
// hang-up events are always reported, as on Linux.
func postEpollLocked(fd int, events uint32) {
	f := fileLocked(fd)
	if f == nil || f.epIn == 0 {
		return
	}
	ev := events & (f.epEvents | epollErr | epollHup)
	if ev == 0 {
		return
	}
	f.epPend |= ev
	e := int(f.epIn - 1)
	if !f.epQueued {
		f.epQueued = true
		in := &epolls[e]
		in.ring[in.head%maxFds] = int16(fd)
		in.head++
	}
	for i := range threads {
		t := &threads[i]
		if t.state != tBlocked || t.waitFor != waitEpoll || t.waitKey != uintptr(e) {
			continue
		}
		if n := collectLocked(e, uintptr(t.Frame.RSI), int(t.Frame.RDX)); n > 0 {
			wakeLocked(t, n)
		}
	}
}

// collectLocked writes up to max ready events of instance e to out and
// returns how many. Edge-triggered registrations report each posted event
// once; level-triggered eventfds stay queued while their counter is
// non-zero.
func collectLocked(e int, out uintptr, max int) int64 {
	in := &epolls[e]
	n := 0
	var again [8]int16 // level-triggered descriptors to requeue
	na := 0
	for n < max && in.tail != in.head {
		fd := int(in.ring[in.tail%maxFds])
		in.tail++
		f := &files[fd]
		f.epQueued = false
		if f.kind == fdFree || f.epIn == 0 {
			continue
		}
		if f.epIn != int32(e+1) { // moved to another instance: queue it there
			if o := &epolls[f.epIn-1]; f.epPend != 0 {
				f.epQueued = true
				o.ring[o.head%maxFds] = int16(fd)
				o.head++
			}
			continue
		}
		ev := f.epPend
		if f.kind == fdEventfd {
			ev = 0
			if f.count > 0 {
				ev = epollIn & f.epEvents
			}
		}
		f.epPend = 0
		if ev == 0 {
			continue
		}
		p := out + uintptr(n)*12
		amd64.Store32(p, ev)
		amd64.Store32(p+4, uint32(f.epData))
		amd64.Store32(p+8, uint32(f.epData>>32))
		n++
		if f.epEvents&epollET == 0 && f.kind == fdEventfd && na < len(again) {
			again[na] = int16(fd)
			na++
		}
	}
	for _, fd := range again[:na] {
		f := &files[fd]
		if !f.epQueued {
			f.epQueued = true
			in.ring[in.head%maxFds] = fd
			in.head++
		}
	}
	return int64(n)
}

func sysEpollWaitCall(c *CPU, t *Thread, epfd int, out uintptr, max, timeoutMs int) int64 {
	if max <= 0 {
		return -EINVAL
	}
	if !vm.Ensure(out, uintptr(max)*12) {
		return -EFAULT
	}
	lockSched()
	defer unlockSched()
	ep := fileLocked(epfd)
	if ep == nil || ep.kind != fdEpoll {
		return -EBADF
	}
	if n := collectLocked(int(ep.ep), out, max); n > 0 || timeoutMs == 0 {
		return n
	}
	var deadline int64
	if timeoutMs > 0 {
		deadline = nanotime() + int64(timeoutMs)*1e6
	}
	blockLocked(c, waitEpoll, uintptr(ep.ep), deadline)
	return blocked
}
