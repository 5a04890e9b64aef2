// Package apic drives the local APIC (Intel SDM vol. 3A ch. 10, xAPIC MMIO
// mode) for the kernel's trap context: EOI, the LVT timer, inter-processor
// interrupts and the spurious vector; the I/O APICs (82093AA datasheet
// §3) with the kernel's own routing: redirection entries with the
// polarity and trigger of the MADT's interrupt source overrides (ACPI 6.x
// §5.2.12.5) and a chosen destination CPU; MSI messages (SDM §10.11); and
// per-CPU device vector allocation. Routing logic is plain data, tested
// on the host; only ioapic.go and lapic.go touch registers.
//
// Why not tamago's amd64/lapic: its accessors are not nosplit, its IPI wait
// (reg.Wait) yields with runtime.Gosched, and it has no timer
// initial-count/divide setters; trap context and pre-runtime code can use
// none of that. Register names and bit positions follow the SDM (table 10-1)
// as tamago spells them.
package apic

import "github.com/smpgo/smpgo/arch/amd64"

// Local APIC registers (SDM vol. 3A table 10-1), offsets from the base.
const (
	LAPIC_ID        = 0x020
	LAPIC_VER       = 0x030
	LAPIC_TPR       = 0x080
	LAPIC_EOI       = 0x0b0
	LAPIC_SVR       = 0x0f0
	LAPIC_ESR       = 0x280
	LAPIC_ICRL      = 0x300
	LAPIC_ICRH      = 0x310
	LAPIC_LVT_TIMER = 0x320
	LAPIC_LVT_LINT0 = 0x350
	LAPIC_LVT_LINT1 = 0x360
	LAPIC_LVT_ERR   = 0x370
	LAPIC_TIMER_ICR = 0x380
	LAPIC_TIMER_CCR = 0x390
	LAPIC_TIMER_DCR = 0x3e0

	SVR_ENABLE = 8

	LVT_MASK     = 1 << 16
	TIMER_PERIOD = 1 << 17

	// ICR delivery modes (SDM §10.6.1) and flags.
	ICR_DLV_FIXED = 0b000 << 8
	ICR_DLV_NMI   = 0b100 << 8
	ICR_DLV_INIT  = 0b101 << 8
	ICR_DLV_SIPI  = 0b110 << 8
	ICR_DLS       = 1 << 12 // delivery status: send pending
	ICR_ASSERT    = 1 << 14
	ICR_LEVEL     = 1 << 15
	ICR_DST_SELF  = 0b01 << 18
	ICR_DST_ALL   = 0b10 << 18 // all including self
	ICR_DST_OTHER = 0b11 << 18 // all excluding self

	// DefaultBase is the architectural reset value of IA32_APIC_BASE.
	DefaultBase = 0xfee00000
)

// IA32_APIC_BASE bits (SDM vol. 3A §10.4.4, §10.12.1).
const (
	APIC_BASE_BSP  = 1 << 8  // processor is the BSP
	APIC_BASE_EXTD = 1 << 10 // x2APIC mode
	APIC_BASE_EN   = 1 << 11 // xAPIC global enable
)

// CPUID.01H:ECX.x2APIC[bit 21] (SDM vol. 3A §10.12.1).
const CPUID_X2APIC = 1 << 21

// base is the LAPIC MMIO base (c) after Init.
var base uintptr = DefaultBase

// LeftX2APIC is set (c) when firmware handed a CPU over in x2APIC mode
// and Init switched it back to xAPIC mode, which this driver speaks.
var LeftX2APIC bool

func read(off uintptr) uint32     { return amd64.Load32(base + off) }
func write(off uintptr, v uint32) { amd64.Store32(base+off, v) }

// HasX2APIC reports whether the CPU supports x2APIC mode.
func HasX2APIC() bool {
	_, _, ecx, _ := amd64.Cpuid(1, 0)
	return ecx&CPUID_X2APIC != 0
}

// Init enables this CPU's LAPIC in xAPIC mode with spurious vector
// spurious, accepts all priorities, and masks LINT0/LINT1 and the timer
// until they are set up. The MMIO base is the CPU's own IA32_APIC_BASE,
// wherever firmware put it. A LAPIC left in x2APIC mode (UEFI firmware on
// machines with many CPUs does so) is taken back to xAPIC mode the only
// way the SDM allows (§10.12.5: x2APIC → disabled → xAPIC); APIC IDs
// above 254 would need x2APIC and are not supported.
func Init(spurious uint8) {
	msr := amd64.Rdmsr(amd64.IA32_APIC_BASE)
	if msr&APIC_BASE_EXTD != 0 {
		LeftX2APIC = true
		amd64.Wrmsr(amd64.IA32_APIC_BASE, msr&^(APIC_BASE_EXTD|APIC_BASE_EN))
		msr &^= APIC_BASE_EXTD
	}
	base = uintptr(msr &^ 0xfff & (1<<52 - 1))
	amd64.Wrmsr(amd64.IA32_APIC_BASE, msr|APIC_BASE_EN) // global enable
	write(LAPIC_TPR, 0)
	write(LAPIC_LVT_TIMER, LVT_MASK)
	write(LAPIC_LVT_LINT0, LVT_MASK)
	write(LAPIC_LVT_LINT1, 0b100<<8) // NMI
	write(LAPIC_SVR, 1<<SVR_ENABLE|uint32(spurious))
	write(LAPIC_ESR, 0)
	write(LAPIC_EOI, 0)
}

// Base returns the LAPIC MMIO base.
func Base() uintptr { return base }

// ID returns this CPU's xAPIC ID (8 bits; tamago's lapic.ID keeps 4).
func ID() uint32 { return read(LAPIC_ID) >> 24 }

// EOI signals end of interrupt.
func EOI() { write(LAPIC_EOI, 0) }

// StartTimer runs the LVT timer on vector with divide-by-16 and the given
// initial count, periodic or one-shot.
func StartTimer(vector uint8, count uint32, periodic bool) {
	write(LAPIC_TIMER_DCR, 0b0011) // divide by 16
	lvt := uint32(vector)
	if periodic {
		lvt |= TIMER_PERIOD
	}
	write(LAPIC_LVT_TIMER, lvt)
	write(LAPIC_TIMER_ICR, count)
}

// StopTimer masks the timer.
func StopTimer() {
	write(LAPIC_LVT_TIMER, LVT_MASK)
	write(LAPIC_TIMER_ICR, 0)
}

// TimerCount returns the timer's current count.
func TimerCount() uint32 { return read(LAPIC_TIMER_CCR) }

// TimerInitial returns the timer's initial count (0: stopped).
func TimerInitial() uint32 { return read(LAPIC_TIMER_ICR) }

// SendIPI sends an interrupt with ICR low word icr to the CPU with xAPIC ID
// dst (ignored for the shorthand destinations) and waits, boundedly, for
// the delivery status to clear. It reports whether the APIC accepted it.
func SendIPI(dst uint32, icr uint32) bool {
	write(LAPIC_ICRH, dst<<24)
	write(LAPIC_ICRL, icr)
	for i := 0; i < 1000000; i++ {
		if read(LAPIC_ICRL)&ICR_DLS == 0 {
			return true
		}
		amd64.Pause()
	}
	return false
}
