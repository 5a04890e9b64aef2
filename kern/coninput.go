package kern

import "sync/atomic"

// Console input from devices other than COM1 (the PS/2 keyboard): a
// single-producer ring that conGetc drains before the UART, so keyboard
// bytes reach standard input (and the shell) exactly like serial ones.
// The producer is one device's filter (trap context) or thread; the
// consumer is pollConsoleLocked under sched.lock.
var conInject struct {
	buf        [256]byte
	head, tail atomic.Uint32
	dropped    atomic.Uint64 // bytes that found the ring full
}

// injectGetc takes the oldest injected byte, if any.
func injectGetc() (byte, bool) {
	t := conInject.tail.Load()
	if t == conInject.head.Load() {
		return 0, false
	}
	b := conInject.buf[t%uint32(len(conInject.buf))]
	conInject.tail.Store(t + 1)
	return b, true
}

// ConsoleInputTrap queues p as console input and completes blocked reads
// of standard input. It is for a device's interrupt filter (trap context,
// interrupts off: it takes sched.lock, allocates nothing); one producer
// at a time. Bytes that do not fit are dropped and counted.
func ConsoleInputTrap(p []byte) {
	for _, b := range p {
		h := conInject.head.Load()
		if h-conInject.tail.Load() >= uint32(len(conInject.buf)) {
			conInject.dropped.Add(1)
			continue
		}
		conInject.buf[h%uint32(len(conInject.buf))] = b
		conInject.head.Store(h + 1)
	}
	echoInput(p)
	lockSched()
	pollConsoleLocked()
	unlockSched()
}

// echoInput shows typed input on the console (serial and screen), as a
// terminal line discipline would: printable characters, Enter as a new
// line, Backspace/DEL as erase; escape sequences are not shown.
func echoInput(p []byte) {
	var buf [64]byte
	n, esc := 0, false
	for _, b := range p {
		if n+3 > len(buf) {
			break
		}
		switch {
		case b == 0x1b:
			esc = true
		case esc:
			esc = b == '[' || b >= '0' && b <= '9' || b == ';' // still inside the sequence
		case b == '\r' || b == '\n':
			buf[n] = '\n'
			n++
		case b == 0x7f || b == '\b':
			n += copy(buf[n:], "\b \b")
		case b >= 0x20 && b < 0x7f || b == '\t':
			buf[n] = b
			n++
		}
	}
	if n == 0 {
		return
	}
	conLock.Acquire(thisCPU())
	conWrite(buf[:n])
	conLock.Release()
}

// ConsoleInputDropped reports how many injected bytes were dropped.
func ConsoleInputDropped() uint64 { return conInject.dropped.Load() }
