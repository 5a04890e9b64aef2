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
// of standard input (no echo: the reader echoes, as the shell does). It is for a device's interrupt filter (trap context,
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
	lockSched()
	pollConsoleLocked()
	unlockSched()
}

// ConsoleInputDropped reports how many injected bytes were dropped.
func ConsoleInputDropped() uint64 { return conInject.dropped.Load() }
