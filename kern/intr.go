package kern

import (
	"errors"
	"sync/atomic"

	"github.com/smpgo/smpgo/apic"
)

// Device interrupts: the hook between trap context and package ithread.
//
// Vectors apic.VecDeviceFirst..VecDeviceLast (0x30–0xef) are device
// vectors, allocated per CPU: the handler table is indexed by (CPU,
// vector), so one vector number can serve different sources on different
// CPUs. trap() calls the installed handler in trap context
// (docs/execution-model.md §2: no allocation, no blocking, no heap pointer
// stores, raw spin locks only), then sends the LAPIC EOI: the handler runs
// before the EOI, so a level-triggered source masked by its handler cannot
// re-assert in between. A vector with no handler is counted as stray and
// EOIed. The LAPIC spurious vector (0xff) is counted and never EOIed (SDM
// vol. 3A §10.9).
//
// Waking an interrupt thread: a handler stores to a per-event word and
// calls WakeAddr on it; the interrupt thread sleeps in futex(FUTEX_WAIT)
// on that word. The futex check of the word and the sleep happen under
// sched.lock, which WakeAddr takes too, so a wake-up between the thread's
// last look and its sleep is never lost, and no Go channel or runtime
// call is touched from trap context.

// intrSlot is one installed handler.
type intrSlot struct{ fn func() }

var (
	intrTable [MaxCPU][256]atomic.Pointer[intrSlot]

	// Per-CPU counters (p): written by their CPU in trap context.
	intrSpurious [MaxCPU]uint64 // LAPIC spurious vector
	intrStray    [MaxCPU]uint64 // device vectors with no handler
	intrDevice   [MaxCPU]uint64 // device interrupts dispatched
)

// SetIntrHandler installs fn for vector vec on CPU cpu (nil removes it).
// fn runs in trap context on that CPU for every interrupt delivered there
// with that vector.
func SetIntrHandler(cpu int, vec uint8, fn func()) error {
	if cpu < 0 || cpu >= NumCPU() {
		return errors.New("kern.SetIntrHandler: no such CPU")
	}
	if vec < apic.VecDeviceFirst || vec > apic.VecDeviceLast {
		return errors.New("kern.SetIntrHandler: not a device vector")
	}
	if fn == nil {
		intrTable[cpu][vec].Store(nil)
		return nil
	}
	intrTable[cpu][vec].Store(&intrSlot{fn})
	return nil
}

// deviceIntr dispatches device vector v on c (trap context).
func deviceIntr(c *CPU, v uint64) {
	if s := intrTable[c.id][v].Load(); s != nil {
		intrDevice[c.id]++
		s.fn()
	} else {
		intrStray[c.id]++
	}
	apic.EOI()
	// A woken interrupt thread better than the interrupted one runs at
	// the end of the trap (needResched, set by the wake-up), or on
	// another CPU it may use that runs something worse (an IPI).
}

// WakeAddr wakes one thread blocked in futex(FUTEX_WAIT) on addr and
// reports whether there was one. Trap context only (interrupts off, on the
// CPU's kernel stack): it takes sched.lock.
func WakeAddr(addr uintptr) bool {
	lockSched()
	defer unlockSched()
	for i := range threads {
		w := &threads[i]
		if w.state == tBlocked && w.waitFor == waitFutex && w.waitKey == addr {
			wakeLocked(w, 0)
			return true
		}
	}
	return false
}

// APICID returns the local APIC ID of CPU cpu.
func APICID(cpu int) uint32 { return cpus[cpu].apicID }

// CPUOfAPICID returns the CPU whose local APIC has ID id, or -1.
func CPUOfAPICID(id uint32) int {
	for i := 0; i < ncpu; i++ {
		if cpus[i].apicID == id {
			return i
		}
	}
	return -1
}

// SendVector sends a fixed interrupt with vector vec to CPU cpu, as a
// device would (software-triggered interrupts for tests and benchmarks).
// Interrupts are off while the ICR is written, so this CPU's own IPIs
// cannot interleave with it.
func SendVector(cpu int, vec uint8) bool {
	if cpu < 0 || cpu >= NumCPU() {
		return false
	}
	f := IntrDisable()
	ok := apic.SendIPI(cpus[cpu].apicID, apic.ICR_DLV_FIXED|uint32(vec))
	IntrRestore(f)
	return ok
}

// IntrCounts are the kernel's per-CPU interrupt counters.
type IntrCounts struct {
	Device, Stray, Spurious uint64
}

// IntrCountsOf returns CPU cpu's counters.
func IntrCountsOf(cpu int) IntrCounts {
	return IntrCounts{Device: intrDevice[cpu], Stray: intrStray[cpu], Spurious: intrSpurious[cpu]}
}

// KernelDemandFaults returns how many page faults trap-context code took
// on reserved, not yet backed memory (resolved, not panics).
func KernelDemandFaults() uint64 { return kernelDemandFaults }
