package kern

import (
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// The file table: the console on 0-2, the eventfd and epoll objects the
// runtime's network poller creates, and pipe ends (pipe.go). Guarded by
// sched.lock.
const (
	fdFree = iota
	fdConsole
	fdEventfd
	fdEpoll
	fdPipeR // read end of pipes[pipe]
	fdPipeW // write end of pipes[pipe]

	maxFds      = 64
	maxEpollReg = 16
	epollIn     = 0x1
)

type epollReg struct {
	fd     int32
	events uint32
	data   uint64
}

type file struct {
	kind     int
	count    uint64 // eventfd counter
	pipe     int32  // pipe ends: index into pipes
	nonblock bool   // pipe ends: O_NONBLOCK
	reg      [maxEpollReg]epollReg
	nreg     int
}

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
	files[i] = file{kind: kind, count: count}
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
		if f.kind == fdPipeR || f.kind == fdPipeW {
			pipeCloseLocked(f)
		}
		*f = file{}
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
	case 1: // F_GETFD
		return 0
	case 3: // F_GETFL
		switch f.kind {
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
		wakeEpollLocked(fd)
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
	if ep == nil || ep.kind != fdEpoll || fileLocked(fd) == nil {
		return -EBADF
	}
	if k := fileLocked(fd).kind; k == fdPipeR || k == fdPipeW {
		return -EPERM // not pollable: the runtime uses the pipe in blocking mode
	}
	i := 0
	for i < ep.nreg && ep.reg[i].fd != int32(fd) {
		i++
	}
	switch op {
	case add, mod:
		if op == add && i < ep.nreg {
			return -EEXIST
		}
		if op == mod && i == ep.nreg {
			return -ENOENT
		}
		if i == ep.nreg {
			if ep.nreg == maxEpollReg {
				return -ENOSPC
			}
			ep.nreg++
		}
		// struct epoll_event is packed: events(4) then data(8) at +4.
		ep.reg[i] = epollReg{fd: int32(fd), events: amd64.Load32(ev),
			data: uint64(amd64.Load32(ev+4)) | uint64(amd64.Load32(ev+8))<<32}
	case del:
		if i == ep.nreg {
			return -ENOENT
		}
		ep.nreg--
		ep.reg[i] = ep.reg[ep.nreg]
	default:
		return -EINVAL
	}
	return 0
}

const (
	EEXIST = 17
	ENOSPC = 28
)

// collectLocked writes the ready events of ep (eventfds with a non-zero
// counter are readable) and returns how many.
func collectLocked(ep *file, out uintptr, max int) int64 {
	n := 0
	for i := 0; i < ep.nreg && n < max; i++ {
		r := &ep.reg[i]
		f := fileLocked(int(r.fd))
		if f != nil && f.kind == fdEventfd && f.count > 0 && r.events&epollIn != 0 {
			e := out + uintptr(n)*12
			amd64.Store32(e, epollIn)
			amd64.Store32(e+4, uint32(r.data))
			amd64.Store32(e+8, uint32(r.data>>32))
			n++
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
	if n := collectLocked(ep, out, max); n > 0 || timeoutMs == 0 {
		return n
	}
	var deadline int64
	if timeoutMs > 0 {
		deadline = nanotime() + int64(timeoutMs)*1e6
	}
	blockLocked(c, waitEpoll, uintptr(epfd), deadline)
	return blocked
}

// wakeEpollLocked completes epoll_pwait calls watching fd.
func wakeEpollLocked(fd int) {
	for i := range threads {
		t := &threads[i]
		if t.state != tBlocked || t.waitFor != waitEpoll {
			continue
		}
		ep := fileLocked(int(t.waitKey))
		if ep == nil {
			continue
		}
		for k := 0; k < ep.nreg; k++ {
			if ep.reg[k].fd == int32(fd) {
				wakeLocked(t, collectLocked(ep, uintptr(t.Frame.RSI), int(t.Frame.RDX)))
				break
			}
		}
	}
}
