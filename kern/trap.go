package kern

import (
	"sync/atomic"

	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Exception vectors (SDM vol. 3A table 6-1).
const (
	excDE  = 0
	excDB  = 1
	excNMI = 2
	excBP  = 3
	excOF  = 4
	excBR  = 5
	excUD  = 6
	excNM  = 7
	excDF  = 8
	excGP  = 13
	excPF  = 14
	excMF  = 16
	excAC  = 17
	excMC  = 18
	excXM  = 19
)

// Counters of trap context (p): per-vector totals on CPU 0's view are
// enough for the shell; they are approximate across CPUs.
var (
	vectorCount  [257]uint64
	demandFaults uint64
)

// trap is called by entry_amd64.s on the CPU's kernel stack with
// interrupts off, the interrupted thread's state saved in CPU.cur. It
// handles the event, may switch CPU.cur to another thread, and returns;
// the entry code then resumes CPU.cur.
//
//lint:ignore U1000 called from entry_amd64.s
func trap() {
	c := curCPU()
	t := &threads[c.curIdx]
	now := nanotime()
	t.runNs += now - t.startNs
	serviceTLB()
	v := t.Frame.Vector
	if v < uint64(len(vectorCount)) {
		vectorCount[v]++
	}
	if v >= vecResched && v < vecResched+nIPITypes {
		c.ipis[v-vecResched]++
	}
	if v >= 32 && v != vecTimer && v != vecSyscall {
		ktrTrap(c, t, KTRIntr, ktrIntr, v, 0, 0)
	}
	switch {
	case v == vecSyscall:
		c.syscalls++
		t.syscalls++
		doSyscall(c, t)
	case v == vecTimer:
		apic.EOI()
		tick(c, t, now)
	case v == vecResched:
		apic.EOI()
		lockSched()
		preemptBetterLocked(c)
		unlockSched()
	case v == vecTLB:
		apic.EOI() // serviceTLB above did the work
	case v == vecPing:
		apic.EOI()
		pingAck.Add(1)
	case v == vecRendezvous:
		apic.EOI()
		serviceRendezvous()
	case v == vecSpurious:
		// no EOI for the spurious vector (SDM §10.9)
		intrSpurious[c.id]++
	case v >= apic.VecDeviceFirst && v <= apic.VecDeviceLast:
		deviceIntr(c, v)
	case v == excPF:
		pageFault(c, t)
	case v < 32:
		exception(c, t, v)
	default:
		apic.EOI()
	}
	if c.needResched && threads[c.curIdx].Frame.RFLAGS&amd64.IF != 0 {
		// Something this trap made runnable is better than what runs.
		// Not while the thread runs with interrupts off (a system call
		// or fault inside a spin lock's section): it may not be switched
		// away there, and its next tick or trap with interrupts on
		// does it.
		lockSched()
		c.needResched = false
		preemptBetterLocked(c)
		unlockSched()
	}
	t = &threads[c.curIdx]
	// A system call that blocked its thread and then woke another (a
	// provider request, see extfile.go) leaves this CPU on its idle
	// thread with work queued; kickIdleLocked never IPIs its own CPU, so
	// take the work now rather than at the next tick. (sched.head is read
	// unlocked as a hint; preemptLocked decides under the lock.)
	if t.idle && atomic.LoadInt32(&sched.head) >= 0 {
		lockSched()
		preemptLocked(c)
		unlockSched()
		t = &threads[c.curIdx]
	}
	if !t.idle && t.pending&^t.sigmask != 0 {
		deliverSignals(c, t)
		t = &threads[c.curIdx]
	}
	t.startNs = nanotime()
}

// tick is the per-CPU scheduler clock: wake expired sleepers, poll the
// console for readers, and round-robin.
func tick(c *CPU, t *Thread, now int64) {
	c.ticks++
	if profOn.Load() {
		profTick(c, t)
	}
	windup()
	if t.idle {
		c.idleTicks++
	}
	if h := tickHook.Load(); h != nil {
		h.fn(int(c.id), now) // may wake a softclock thread: before the pick
	}
	lockSched()
	expireLocked(now)
	if c.id == 0 && consolePollDue(c.ticks) {
		if n := pollConsoleLocked(); n > 0 && conIRQ.Load() {
			conRxRescued.Add(uint64(n))
		}
	}
	preemptLocked(c)
	unlockSched()
}

// pageFault backs demand-zero memory, or turns the fault into SIGSEGV.
func pageFault(c *CPU, t *Thread) {
	addr := uintptr(amd64.ReadCR2())
	// Only a missing page can be demand-zero; a present one faulted on
	// its rights (a write to read-only, a fetch from non-executable).
	if t.Frame.Error&pfPresent == 0 && vm.Fault(addr) {
		demandFaults++
		return
	}
	threadStackOverflow(c, t, addr)
	code := int32(segvMAPERR)
	if t.Frame.Error&1 != 0 {
		code = segvACCERR
	}
	forceSignal(c, t, SIGSEGV, code, uint64(addr))
}

// exception maps a CPU exception in a thread to the signal Linux sends.
func exception(c *CPU, t *Thread, v uint64) {
	switch v {
	case excDE:
		forceSignal(c, t, SIGFPE, fpeINTDIV, t.Frame.RIP)
	case excDB, excBP:
		forceSignal(c, t, SIGTRAP, trapBRKPT, t.Frame.RIP)
	case excUD:
		forceSignal(c, t, SIGILL, illILLOPN, t.Frame.RIP)
	case excMF, excXM, excNM:
		forceSignal(c, t, SIGFPE, 0, t.Frame.RIP)
	case excAC:
		forceSignal(c, t, SIGBUS, 0, 0)
	default: // #GP, #OF, #BR, #SS, #NP, ...
		forceSignal(c, t, SIGSEGV, siKERNEL, 0)
	}
}
