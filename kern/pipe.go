package kern

import (
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Pipes (pipe2): a fixed table of byte rings, each with a read end and a
// write end in the file table. The Go runtime cannot poll them (epoll_ctl
// answers EPERM, as Linux does for regular files), so os.File uses them
// in blocking mode: a read of an empty pipe and a write to a full one block
// their thread in continuation style, and the other end's write, read or
// close completes the call from the blocked thread's saved arguments (RSI
// buffer, RDX length). The testing package needs them to run examples
// (it captures os.Stdout through os.Pipe).
//
// Everything here is guarded by sched.lock and runs in trap context.
const (
	maxPipes  = 16
	pipeSize  = 4096
	oCloexec  = 0x80000
	oNonblock = 0x800
	EPIPE     = 32
)

type pipe struct {
	buf              [pipeSize]byte
	head, tail       uint32 // bytes written, read (mod 2^32)
	readers, writers int32  // open ends; both 0: the slot is free
}

var pipes [maxPipes]pipe

func (p *pipe) used() uint32 { return p.head - p.tail }

// sysPipe2Call creates a pipe and stores its two fds at fds.
func sysPipe2Call(fds uintptr, flags uint64) int64 {
	if flags&^(oCloexec|oNonblock) != 0 {
		return -EINVAL
	}
	if !vm.Ensure(fds, 8) {
		return -EFAULT
	}
	lockSched()
	defer unlockSched()
	pi := -1
	for i := range pipes {
		if pipes[i].readers == 0 && pipes[i].writers == 0 {
			pi = i
			break
		}
	}
	if pi < 0 {
		return -ENFILE
	}
	r, w := freeFdLocked(3), -1
	if r >= 0 {
		files[r].kind = fdPipeR // reserve it while looking for the second
		w = freeFdLocked(r + 1)
		files[r].kind = fdFree
	}
	if r < 0 || w < 0 {
		return -EMFILE
	}
	pipes[pi] = pipe{readers: 1, writers: 1}
	files[r] = file{kind: fdPipeR, pipe: int32(pi), nonblock: flags&oNonblock != 0}
	files[w] = file{kind: fdPipeW, pipe: int32(pi), nonblock: flags&oNonblock != 0}
	amd64.Store32(fds, uint32(r))
	amd64.Store32(fds+4, uint32(w))
	return 0
}

const ENFILE = 23

// pipeReadLocked reads from the pipe of f into buf, blocking the caller
// on an empty pipe with writers.
func pipeReadLocked(c *CPU, f *file, buf, n uintptr) int64 {
	p := &pipes[f.pipe]
	if n == 0 {
		return 0
	}
	if p.used() == 0 {
		if p.writers == 0 {
			return 0 // end of file
		}
		if f.nonblock {
			return -EAGAIN
		}
		blockLocked(c, waitPipeRead, uintptr(f.pipe), 0)
		return blocked
	}
	r := p.copyOut(buf, n)
	wakePipeWritersLocked(int(f.pipe))
	return r
}

// pipeWriteLocked writes buf to the pipe of f: as much as fits, blocking
// the caller on a full pipe with readers.
func pipeWriteLocked(c *CPU, f *file, buf, n uintptr) int64 {
	p := &pipes[f.pipe]
	if p.readers == 0 {
		return -EPIPE
	}
	if n == 0 {
		return 0
	}
	if p.used() == pipeSize {
		if f.nonblock {
			return -EAGAIN
		}
		blockLocked(c, waitPipeWrite, uintptr(f.pipe), 0)
		return blocked
	}
	r := p.copyIn(buf, n)
	wakePipeReadersLocked(int(f.pipe))
	return r
}

func (p *pipe) copyOut(buf, n uintptr) int64 {
	var i uintptr
	for ; i < n && p.used() > 0; i++ {
		amd64.Store8(buf+i, p.buf[p.tail%pipeSize])
		p.tail++
	}
	return int64(i)
}

func (p *pipe) copyIn(buf, n uintptr) int64 {
	var i uintptr
	for ; i < n && p.used() < pipeSize; i++ {
		p.buf[p.head%pipeSize] = amd64.Load8(buf + i)
		p.head++
	}
	return int64(i)
}

// wakePipeReadersLocked completes blocked reads of pipe pi: with data, or
// 0 (end of file) once no writer is left.
func wakePipeReadersLocked(pi int) {
	p := &pipes[pi]
	for i := range threads {
		t := &threads[i]
		if t.state != tBlocked || t.waitFor != waitPipeRead || t.waitKey != uintptr(pi) {
			continue
		}
		switch {
		case p.used() > 0:
			wakeLocked(t, p.copyOut(uintptr(t.Frame.RSI), uintptr(t.Frame.RDX)))
		case p.writers == 0:
			wakeLocked(t, 0)
		}
	}
}

// wakePipeWritersLocked completes blocked writes to pipe pi: with the
// bytes that now fit, or EPIPE once no reader is left.
func wakePipeWritersLocked(pi int) {
	p := &pipes[pi]
	for i := range threads {
		t := &threads[i]
		if t.state != tBlocked || t.waitFor != waitPipeWrite || t.waitKey != uintptr(pi) {
			continue
		}
		switch {
		case p.readers == 0:
			wakeLocked(t, -EPIPE)
		case p.used() < pipeSize:
			wakeLocked(t, p.copyIn(uintptr(t.Frame.RSI), uintptr(t.Frame.RDX)))
		}
	}
}

// pipeCloseLocked drops one end of f's pipe and wakes the other side when
// it was the last of its kind.
func pipeCloseLocked(f *file) {
	pi := int(f.pipe)
	p := &pipes[pi]
	if f.kind == fdPipeR {
		if p.readers--; p.readers == 0 {
			wakePipeWritersLocked(pi)
		}
	} else if p.writers--; p.writers == 0 {
		wakePipeReadersLocked(pi)
	}
}
