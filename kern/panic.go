package kern

import (
	"sync/atomic"
	"unsafe"

	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Exit statuses written to QEMU's isa-debug-exit (QEMU exits (v<<1)|1).
const (
	exitPanic     = 0x7f
	debugExitPort = 0xf4
)

var (
	panicking   atomic.Int32
	halting     atomic.Int32
	stoppedCPUs atomic.Int32
)

// shutdown ends the machine with status v (0..127): QEMU's isa-debug-exit,
// else, on a real board, halt every CPU.
func shutdown(v int) {
	amd64.Outl(debugExitPort, uint32(v))
	halting.Store(1)
	var l kline
	l.s("kern: exit status ").d(int64(v)).s(": halted").nl().print()
	stopOthers()
	for {
		amd64.Cli()
		amd64.Hlt()
	}
}

// stopOthers sends NMI to every other CPU (they print their state and
// halt) and waits, boundedly, for their reports.
func stopOthers() {
	if ncpu <= 1 || stopSent.Swap(1) != 0 {
		return
	}
	apic.SendIPI(0, apic.ICR_DLV_NMI|apic.ICR_DST_OTHER|apic.ICR_ASSERT)
	if panicking.Load() == 0 {
		return
	}
	end := nanotime() + 500e6
	for stoppedCPUs.Load() < int32(ncpu-1) && nanotime() < end {
		amd64.Pause()
	}
}

var stopSent atomic.Int32

// apicIPI interrupts CPU cpu with vector vec.
func apicIPI(cpu, vec int) {
	apic.SendIPI(cpus[cpu].apicID, apic.ICR_DLV_FIXED|uint32(vec))
}

// kernelFault is called by kfaultEntry on an IST stack with the frame
// (Frame layout) at f: a fault inside the kernel, a double fault, a machine
// check, or an NMI. It prints the report the qemu harness symbolises, then
// stops the machine; an NMI on a CPU while another panics only reports.
//
// It runs with the CPU's fake g and must not allocate.
//
//lint:ignore U1000 called from entry_amd64.s
func kernelFault(f uintptr) (resume bool) {
	c := curCPU()
	vec := amd64.Load64(f + 15*8)
	if c.panicking != 0 {
		return false // fault while reporting: halt (kfaultEntry)
	}
	// Trap-context code (an interrupt filter, a system call) may touch Go
	// heap memory that the runtime reserved but nothing has written yet:
	// back it as a thread's fault would be, and resume. Anything else is a
	// kernel bug.
	if vec == excPF && amd64.Load64(f+16*8)&pfPresent == 0 && vm.Fault(uintptr(amd64.ReadCR2())) {
		kernelDemandFaults++
		return true
	}
	c.panicking = 1
	msg := "fault in kernel"
	var l kline
	if vec == excPF {
		if pfMessage(&l, c, uintptr(amd64.ReadCR2()), amd64.Load64(f+16*8)) {
			msg = unsafe.String(&l.buf[0], l.n)
		}
	}
	switch vec {
	case excNMI:
		if panicking.Load() != 0 {
			reportFrame(c, "stopped by panicking CPU", f)
			stoppedCPUs.Add(1)
			return false
		}
		if halting.Load() != 0 {
			return false // shutdown on a real board: just halt
		}
		msg = "NMI"
	case excDF:
		msg = "double fault"
	case excMC:
		msg = "machine check"
	}
	panicking.Store(1)
	reportFrame(c, msg, f)
	stopOthers()
	dumpKTR(16)
	if vec == excNMI {
		dumpThreads() // the harness's timeout: what every thread was doing
	}
	shutdown(exitPanic)
	return false
}

// kernelDemandFaults counts page faults taken and resolved in trap
// context (approximate across CPUs).
var kernelDemandFaults uint64

// Panic stops the kernel from kernel (trap) context with message msg.
func Panic(msg string) {
	amd64.Cli()
	panicking.Store(1)
	var l kline
	l.s("KERNEL PANIC: ").s(msg).nl().s("cpu=").d(int64(thisCPU())).nl().s("END KERNEL PANIC").nl().print()
	stopOthers()
	dumpKTR(16)
	shutdown(exitPanic)
}

// reportFrame prints a KERNEL PANIC block (format parsed by qemu.ParsePanics).
func reportFrame(c *CPU, msg string, f uintptr) {
	var r [22]uint64
	for i := range r {
		r[i] = amd64.Load64(f + uintptr(i)*8)
	}
	// Frame order: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi vec err rip cs rflags rsp ss
	locked := panicLockConsole(c)
	var l kline
	l.s("KERNEL PANIC: ").s(msg).nl()
	l.s("cpu=").u(c.id).s(" vector=").u(r[15]).s(" error=").x(r[16]).s(" cr2=").x(amd64.ReadCR2()).s(" thread=").d(int64(threads[c.curIdx].tid)).nl()
	l.s("rip=").x(r[17]).s(" cs=").x(r[18]).s(" rflags=").x(r[19]).s(" rsp=").x(r[20]).s(" ss=").x(r[21]).nl()
	conWrite(l.buf[:l.n])
	l.n = 0
	l.s("rax=").x(r[10]).s(" rbx=").x(r[5]).s(" rcx=").x(r[11]).s(" rdx=").x(r[12]).nl()
	l.s("rsi=").x(r[13]).s(" rdi=").x(r[14]).s(" rbp=").x(r[4]).s(" r8=").x(r[9]).nl()
	l.s("r9=").x(r[8]).s(" r10=").x(r[7]).s(" r11=").x(r[6]).s(" r12=").x(r[3]).nl()
	l.s("r13=").x(r[2]).s(" r14=").x(r[1]).s(" r15=").x(r[0]).nl()
	conWrite(l.buf[:l.n])
	l.n = 0
	rip := uintptr(r[17])
	if _, ok := vm.Lookup(rip); ok {
		if _, ok2 := vm.Lookup(rip + 15); ok2 {
			l.s("code: ").x(uint64(rip)).s(":")
			for i := uintptr(0); i < 16; i++ {
				l.s(" ").x2(amd64.Load8(rip + i))
			}
			l.nl()
		}
	}
	sp := uintptr(r[20]) &^ 7
	l.s("stack: ").x(uint64(sp)).nl()
	conWrite(l.buf[:l.n])
	l.n = 0
	for row := uintptr(0); row < 8; row++ {
		a := sp + row*32
		if _, ok := vm.Lookup(a); !ok {
			break
		}
		if _, ok := vm.Lookup(a + 31); !ok {
			break
		}
		l.x(uint64(a)).s(":")
		for k := uintptr(0); k < 4; k++ {
			l.s(" ").x(amd64.Load64(a + k*8))
		}
		l.nl()
		conWrite(l.buf[:l.n])
		l.n = 0
	}
	conWrite([]byte("END KERNEL PANIC\n"))
	if locked {
		conLock.Release()
	}
}

// panicLockConsole takes the console lock for a report, unless this CPU
// holds it already (it faulted or was stopped while printing) or another
// CPU keeps it past a bound (it may be stopped mid-line): then the report
// is printed without it, interleaving being better than silence.
func panicLockConsole(c *CPU) bool {
	if conLock.Owner() == int(c.id) {
		return false
	}
	end := nanotime() + 200e6
	for !conLock.TryAcquire(int(c.id)) {
		if nanotime() > end {
			return false
		}
		amd64.Pause()
	}
	return true
}

// Page-fault error code bits (SDM §4.7).
const (
	pfPresent = 1 << 0
	pfWrite   = 1 << 1
	pfFetch   = 1 << 4
)

// pfMessage writes what a page fault at addr with error code err was, when
// it is one of the pmap's protections at work, into l: a stack overflow
// into a guard page (naming the stack and the thread), a write to a
// read-only page, an instruction fetch from a non-executable one.
func pfMessage(l *kline, c *CPU, addr uintptr, err uint64) bool {
	if kind, slot, ok := guardHit(addr); ok {
		stackOverflowMsg(l, kind, slot, threads[c.curIdx].tid)
		return true
	}
	switch {
	case err&(pfPresent|pfWrite) == pfPresent|pfWrite:
		l.s("page fault: write to a read-only page")
	case err&(pfPresent|pfFetch) == pfPresent|pfFetch:
		l.s("page fault: instruction fetch from a non-executable page")
	default:
		return false
	}
	if addr >= textLo && addr < textHi {
		l.s(" (kernel text)")
	}
	return true
}

// threadStackOverflow reports a thread's fault in a stack guard page (the
// first thread's stack, or a kernel stack reached from thread context) as
// a kernel panic: the Go runtime could only print an unexpected fault.
func threadStackOverflow(c *CPU, t *Thread, addr uintptr) {
	kind, slot, ok := guardHit(addr)
	if !ok {
		return
	}
	c.panicking = 1
	panicking.Store(1)
	var l kline
	stackOverflowMsg(&l, kind, slot, t.tid)
	reportFrame(c, unsafe.String(&l.buf[0], l.n), t.addr())
	stopOthers()
	dumpKTR(16)
	shutdown(exitPanic)
}
