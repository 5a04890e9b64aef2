package apic

import (
	"fmt"

	"github.com/smpgo/smpgo/arch/amd64/acpi"
)

// I/O APIC redirection table entry (82093AA I/O APIC datasheet §3.2.4,
// "I/O Redirection Table Registers"): 64 bits, the low dword at
// IOREDTBLn, the high dword at IOREDTBLn+1.
const (
	REDTBL_INTVEC  = 0  // bits 7:0 interrupt vector
	REDTBL_DELMOD  = 8  // bits 10:8 delivery mode
	REDTBL_DESTMOD = 11 // 0: physical, 1: logical
	REDTBL_DELIVS  = 12 // delivery status (read-only)
	REDTBL_INTPOL  = 13 // 1: low active
	REDTBL_RIRR    = 14 // remote IRR (read-only, level only)
	REDTBL_TRIGGER = 15 // 1: level sensitive
	REDTBL_MASK    = 16 // 1: masked
	REDTBL_DEST    = 56 // bits 63:56 destination APIC ID (physical mode)

	DELMOD_FIXED  = 0b000
	DELMOD_LOWPRI = 0b001
	DELMOD_SMI    = 0b010
	DELMOD_NMI    = 0b100
	DELMOD_INIT   = 0b101
	DELMOD_EXTINT = 0b111
)

// RedirEntry is one redirection table entry.
type RedirEntry uint64

// Route says how one interrupt input is wired: the global system interrupt
// (GSI) it arrives on, its polarity and its trigger mode.
type Route struct {
	GSI       uint32
	ActiveLow bool
	Level     bool
}

func (r Route) String() string { return fmt.Sprintf("gsi %d %s", r.GSI, r.mode()) }

func (r Route) mode() string {
	pol, trig := "high", "edge"
	if r.ActiveLow {
		pol = "low"
	}
	if r.Level {
		trig = "level"
	}
	return trig + "/" + pol
}

// Redirection encodes a fixed-delivery, physical-destination entry for
// route r delivering vector to the LAPIC with ID dest.
func Redirection(r Route, vector uint8, dest uint8, masked bool) RedirEntry {
	e := uint64(vector)<<REDTBL_INTVEC | DELMOD_FIXED<<REDTBL_DELMOD | uint64(dest)<<REDTBL_DEST
	if r.ActiveLow {
		e |= 1 << REDTBL_INTPOL
	}
	if r.Level {
		e |= 1 << REDTBL_TRIGGER
	}
	if masked {
		e |= 1 << REDTBL_MASK
	}
	return RedirEntry(e)
}

// Vector returns the entry's vector.
func (e RedirEntry) Vector() uint8 { return uint8(e >> REDTBL_INTVEC) }

// Dest returns the destination APIC ID.
func (e RedirEntry) Dest() uint8 { return uint8(e >> REDTBL_DEST) }

// Masked reports the mask bit.
func (e RedirEntry) Masked() bool { return e&(1<<REDTBL_MASK) != 0 }

// Level reports level-sensitive triggering.
func (e RedirEntry) Level() bool { return e&(1<<REDTBL_TRIGGER) != 0 }

// ActiveLow reports low-active polarity.
func (e RedirEntry) ActiveLow() bool { return e&(1<<REDTBL_INTPOL) != 0 }

// RemoteIRR reports the remote IRR bit: a level interrupt accepted and
// not yet EOIed.
func (e RedirEntry) RemoteIRR() bool { return e&(1<<REDTBL_RIRR) != 0 }

func (e RedirEntry) String() string {
	r := Route{ActiveLow: e.ActiveLow(), Level: e.Level()}
	return fmt.Sprintf("vec %#x dest %d %s masked=%v", e.Vector(), e.Dest(), r.mode(), e.Masked())
}

// ISARoutes returns how the 16 ISA IRQs are wired: each one's Interrupt
// Source Override from the MADT (ACPI 6.x §5.2.12.5) if it has one, else
// identity-mapped, active high, edge triggered. A nil MADT gives the
// identity map.
func ISARoutes(m *acpi.MADT) [16]Route {
	var r [16]Route
	for irq := range r {
		r[irq] = Route{GSI: uint32(irq)}
		if m != nil {
			gsi, low, level := m.ISAInterrupt(uint8(irq))
			r[irq] = Route{GSI: gsi, ActiveLow: low, Level: level}
		}
	}
	return r
}
