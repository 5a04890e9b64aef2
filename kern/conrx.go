package kern

import (
	"sync/atomic"

	"github.com/smpgo/smpgo/arch/amd64"
)

// COM1's receive interrupt. Until a driver enables it, CPU 0's tick polls
// the UART for input (HZ times a second). Package ithread routes ISA IRQ 4
// through the I/O APIC and installs ConsoleRxIntr as a filter, then calls
// EnableConsoleRxIntr: the UART raises its line when a byte arrives
// (PC16550D §8.6.3, IER bit 0 "received data available", FIFO trigger
// level 1 byte), and the tick only looks once a second as a safety net,
// counting what it finds there (nothing, if no interrupt was lost).

const (
	ier      = 1
	fcr      = 2
	ierRDA   = 1 << 0
	fcrFIFO1 = 0x01 // FIFO enabled, receive trigger level 1 byte
)

var (
	conIRQ atomic.Bool

	conRxIntrs   atomic.Uint64 // receive interrupts taken
	conRxBytes   atomic.Uint64 // bytes the interrupt moved to the input ring
	conRxRescued atomic.Uint64 // bytes the once-a-second poll found instead
)

// consolePollDue reports whether CPU 0's tick should poll the UART.
func consolePollDue(ticks uint64) bool {
	return !conIRQ.Load() || ticks%HZ == 0
}

// ConsoleRxIntr drains COM1's receive FIFO into the console input ring and
// completes blocked reads of standard input. Trap context (a filter): it
// takes sched.lock.
func ConsoleRxIntr() {
	conRxIntrs.Add(1)
	lockSched()
	n := pollConsoleLocked()
	unlockSched()
	conRxBytes.Add(uint64(n))
}

// EnableConsoleRxIntr turns on COM1's received-data interrupt; the caller
// has routed IRQ 4 to a handler that calls ConsoleRxIntr.
func EnableConsoleRxIntr() {
	conIRQ.Store(true)
	amd64.Outb(com1+fcr, fcrFIFO1)
	amd64.Outb(com1+ier, ierRDA)
	// Bytes that arrived before the interrupt was on raised nothing.
	f := IntrDisable()
	lockSched()
	pollConsoleLocked()
	unlockSched()
	IntrRestore(f)
}

// ConsoleRxStats returns COM1's receive counters: interrupts, bytes moved
// by them, bytes the safety poll found, and whether the interrupt is on.
func ConsoleRxStats() (intrs, bytes, rescued uint64, irq bool) {
	return conRxIntrs.Load(), conRxBytes.Load(), conRxRescued.Load(), conIRQ.Load()
}
