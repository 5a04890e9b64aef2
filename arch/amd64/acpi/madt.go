package acpi

import (
	"encoding/binary"
	"fmt"
)

// Multiple APIC Description Table (§5.2.12, table "Multiple APIC
// Description Table (MADT) Format"): byte offsets.
const (
	madtLocalApicAddress = 36 // Local Interrupt Controller Address
	madtFlags            = 40
	madtEntries          = 44 // Interrupt Controller Structure[n]
)

// Multiple APIC Flags (§5.2.12, table "Multiple APIC Flags").
const (
	// PCAT_COMPAT: the system also has a PC-AT-compatible dual-8259
	// setup, whose vectors must be masked when the APICs are enabled.
	PCAT_COMPAT = 1 << 0
)

// Interrupt Controller Structure Types (§5.2.12, table "Interrupt
// Controller Structure Types"). The types this package decodes have a
// struct below; the rest are kept as UnknownEntry.
const (
	MADT_PROCESSOR_LOCAL_APIC        = 0x0
	MADT_IO_APIC                     = 0x1
	MADT_INTERRUPT_SOURCE_OVERRIDE   = 0x2
	MADT_NMI_SOURCE                  = 0x3
	MADT_LOCAL_APIC_NMI              = 0x4
	MADT_LOCAL_APIC_ADDRESS_OVERRIDE = 0x5
	MADT_IO_SAPIC                    = 0x6
	MADT_LOCAL_SAPIC                 = 0x7
	MADT_PLATFORM_INTERRUPT_SOURCES  = 0x8
	MADT_PROCESSOR_LOCAL_X2APIC      = 0x9
	MADT_LOCAL_X2APIC_NMI            = 0xa
	MADT_MULTIPROCESSOR_WAKEUP       = 0x10
)

// Sizes of the interrupt controller structures decoded here, as each
// structure's table in §5.2.12.2–§5.2.12.13 defines them.
const (
	madtProcessorLocalApicLength       = 8
	madtIoApicLength                   = 12
	madtInterruptSourceOverrideLength  = 10
	madtNMISourceLength                = 8
	madtLocalApicNMILength             = 6
	madtLocalApicAddressOverrideLength = 12
	madtProcessorLocalX2ApicLength     = 16
	madtLocalX2ApicNMILength           = 12
)

// Local APIC Flags (§5.2.12.2, table "Local APIC Flags"), also used by
// the Processor Local x2APIC Structure (§5.2.12.12).
const (
	// LAPIC_ENABLED (spec: Enabled): the processor is ready for use.
	LAPIC_ENABLED = 1 << 0
	// LAPIC_ONLINE_CAPABLE (spec: Online Capable): with Enabled clear,
	// the processor can be enabled at run time; with both clear, OSPM
	// ignores the structure.
	LAPIC_ONLINE_CAPABLE = 1 << 1
)

// MPSINTIFlags are the MPS INTI Flags (§5.2.12.5, table "MPS INTI
// Flags") of Interrupt Source Override, NMI Source and the NMI
// structures: Polarity in bits 1:0, Trigger Mode in bits 3:2.
type MPSINTIFlags uint16

// MPS INTI Flags fields (§5.2.12.5).
const (
	INTI_POLARITY     = 0b11 << 0
	INTI_TRIGGER_MODE = 0b11 << 2
)

// Polarity is the Polarity field of the MPS INTI Flags.
type Polarity uint8

// Polarity values (§5.2.12.5).
const (
	PolarityConforms   Polarity = 0b00 // conforms to the bus (ISA: active high)
	PolarityActiveHigh Polarity = 0b01
	PolarityReserved   Polarity = 0b10
	PolarityActiveLow  Polarity = 0b11
)

func (p Polarity) String() string {
	switch p {
	case PolarityConforms:
		return "conforms"
	case PolarityActiveHigh:
		return "active-high"
	case PolarityActiveLow:
		return "active-low"
	}
	return "reserved"
}

// TriggerMode is the Trigger Mode field of the MPS INTI Flags.
type TriggerMode uint8

// Trigger Mode values (§5.2.12.5).
const (
	TriggerConforms TriggerMode = 0b00 // conforms to the bus (ISA: edge)
	TriggerEdge     TriggerMode = 0b01
	TriggerReserved TriggerMode = 0b10
	TriggerLevel    TriggerMode = 0b11
)

func (t TriggerMode) String() string {
	switch t {
	case TriggerConforms:
		return "conforms"
	case TriggerEdge:
		return "edge"
	case TriggerLevel:
		return "level"
	}
	return "reserved"
}

// Polarity returns the Polarity field.
func (f MPSINTIFlags) Polarity() Polarity { return Polarity(f & INTI_POLARITY) }

// TriggerMode returns the Trigger Mode field.
func (f MPSINTIFlags) TriggerMode() TriggerMode { return TriggerMode((f & INTI_TRIGGER_MODE) >> 2) }

// ISA resolves the flags for an ISA interrupt, where "conforms to the
// bus" means active high and edge triggered (the only bus an Interrupt
// Source Override names is ISA, §5.2.12.5). Reserved values are taken as
// the ISA default too.
func (f MPSINTIFlags) ISA() (activeLow, level bool) {
	return f.Polarity() == PolarityActiveLow, f.TriggerMode() == TriggerLevel
}

func (f MPSINTIFlags) String() string {
	return fmt.Sprintf("%v,%v", f.Polarity(), f.TriggerMode())
}

// MADTEntry is one interrupt controller structure, in table order:
// LocalApic, IoApic, InterruptSourceOverride, NMISource, LocalApicNMI,
// LocalApicAddressOverride, LocalX2Apic, LocalX2ApicNMI or UnknownEntry.
type MADTEntry interface {
	// Type is the structure's Type byte.
	Type() uint8
}

// LocalApic is a Processor Local APIC Structure (§5.2.12.2).
type LocalApic struct {
	ProcessorUID uint8 // ACPI Processor UID
	ApicID       uint8 // the processor's local APIC ID
	Flags        uint32
}

// Type implements MADTEntry.
func (LocalApic) Type() uint8 { return MADT_PROCESSOR_LOCAL_APIC }

// Enabled reports the Enabled flag: the processor is ready for use.
func (l LocalApic) Enabled() bool { return l.Flags&LAPIC_ENABLED != 0 }

// OnlineCapable reports the Online Capable flag.
func (l LocalApic) OnlineCapable() bool { return l.Flags&LAPIC_ONLINE_CAPABLE != 0 }

// IoApic is an I/O APIC Structure (§5.2.12.3).
type IoApic struct {
	IoApicID                  uint8
	IoApicAddress             uint32 // physical address of its registers
	GlobalSystemInterruptBase uint32 // GSI of its first input
}

// Type implements MADTEntry.
func (IoApic) Type() uint8 { return MADT_IO_APIC }

// InterruptSourceOverride is an Interrupt Source Override Structure
// (§5.2.12.5): ISA interrupt Source is wired to GlobalSystemInterrupt
// with the polarity and trigger mode in Flags.
type InterruptSourceOverride struct {
	Bus                   uint8 // 0: ISA
	Source                uint8 // bus-relative interrupt source (IRQ)
	GlobalSystemInterrupt uint32
	Flags                 MPSINTIFlags
}

// Type implements MADTEntry.
func (InterruptSourceOverride) Type() uint8 { return MADT_INTERRUPT_SOURCE_OVERRIDE }

// NMISource is a Non-Maskable Interrupt (NMI) Source Structure
// (§5.2.12.6): a GSI that must be programmed as an NMI.
type NMISource struct {
	Flags                 MPSINTIFlags
	GlobalSystemInterrupt uint32
}

// Type implements MADTEntry.
func (NMISource) Type() uint8 { return MADT_NMI_SOURCE }

// LocalApicNMI is a Local APIC NMI Structure (§5.2.12.7): the local
// APIC input LINT (0 or 1) of processor ProcessorUID receives NMI.
type LocalApicNMI struct {
	ProcessorUID uint8 // ACPI Processor UID; 0xFF: all processors
	Flags        MPSINTIFlags
	LINT         uint8 // Local APIC LINT#
}

// Type implements MADTEntry.
func (LocalApicNMI) Type() uint8 { return MADT_LOCAL_APIC_NMI }

// AllProcessors reports whether the structure applies to every processor.
func (n LocalApicNMI) AllProcessors() bool { return n.ProcessorUID == 0xff }

// LocalApicAddressOverride is a Local APIC Address Override Structure
// (§5.2.12.8): a 64-bit local APIC address that supersedes the MADT's
// 32-bit one.
type LocalApicAddressOverride struct {
	LocalApicAddress uint64
}

// Type implements MADTEntry.
func (LocalApicAddressOverride) Type() uint8 { return MADT_LOCAL_APIC_ADDRESS_OVERRIDE }

// LocalX2Apic is a Processor Local x2APIC Structure (§5.2.12.12), used
// for processors whose APIC ID does not fit in a byte (or is 0xFF).
type LocalX2Apic struct {
	X2ApicID     uint32
	Flags        uint32 // Local APIC Flags
	ProcessorUID uint32 // ACPI Processor UID
}

// Type implements MADTEntry.
func (LocalX2Apic) Type() uint8 { return MADT_PROCESSOR_LOCAL_X2APIC }

// Enabled reports the Enabled flag: the processor is ready for use.
func (l LocalX2Apic) Enabled() bool { return l.Flags&LAPIC_ENABLED != 0 }

// OnlineCapable reports the Online Capable flag.
func (l LocalX2Apic) OnlineCapable() bool { return l.Flags&LAPIC_ONLINE_CAPABLE != 0 }

// LocalX2ApicNMI is a Local x2APIC NMI Structure (§5.2.12.13).
type LocalX2ApicNMI struct {
	Flags        MPSINTIFlags
	ProcessorUID uint32 // ACPI Processor UID; 0xFFFFFFFF: all processors
	LINT         uint8  // Local x2APIC LINT#
}

// Type implements MADTEntry.
func (LocalX2ApicNMI) Type() uint8 { return MADT_LOCAL_X2APIC_NMI }

// AllProcessors reports whether the structure applies to every processor.
func (n LocalX2ApicNMI) AllProcessors() bool { return n.ProcessorUID == 0xffffffff }

// UnknownEntry is an interrupt controller structure of a type this
// package does not decode (I/O SAPIC, GIC, wakeup mailbox, ...).
type UnknownEntry struct {
	EntryType uint8
	Data      []byte // the whole structure, Type and Length bytes included
}

// Type implements MADTEntry.
func (u UnknownEntry) Type() uint8 { return u.EntryType }

// MADT is the Multiple APIC Description Table (§5.2.12). Entries holds
// every structure in table order; the typed slices hold the same
// structures by type, each in table order.
type MADT struct {
	Header           Header
	LocalApicAddress uint32 // Local Interrupt Controller Address
	Flags            uint32 // PCAT_COMPAT

	Entries []MADTEntry

	LocalApics               []LocalApic
	IoApics                  []IoApic
	InterruptSourceOverrides []InterruptSourceOverride
	NMISources               []NMISource
	LocalApicNMIs            []LocalApicNMI
	LocalApicAddressOverride *LocalApicAddressOverride // the first; nil if none
	LocalX2Apics             []LocalX2Apic
	LocalX2ApicNMIs          []LocalX2ApicNMI
}

// PCATCompat reports the PCAT_COMPAT flag: dual 8259s are present and
// must be masked.
func (m *MADT) PCATCompat() bool { return m.Flags&PCAT_COMPAT != 0 }

// EffectiveLocalApicAddress returns the local APIC's physical address:
// the Local APIC Address Override's if there is one, else the MADT's.
func (m *MADT) EffectiveLocalApicAddress() uint64 {
	if m.LocalApicAddressOverride != nil {
		return m.LocalApicAddressOverride.LocalApicAddress
	}
	return uint64(m.LocalApicAddress)
}

// ISAInterrupt returns the global system interrupt ISA interrupt irq is
// wired to and how to program it: the Interrupt Source Override for it
// if there is one, else the identity mapping (GSI irq, active high,
// edge), as §5.2.12.5 prescribes.
func (m *MADT) ISAInterrupt(irq uint8) (gsi uint32, activeLow, level bool) {
	for _, o := range m.InterruptSourceOverrides {
		if o.Bus == 0 && o.Source == irq {
			activeLow, level = o.Flags.ISA()
			return o.GlobalSystemInterrupt, activeLow, level
		}
	}
	return uint32(irq), false, false
}

// ParseMADT validates and decodes a MADT (signature "APIC").
func ParseMADT(b []byte) (*MADT, error) { return parseAs(b, SIG_APIC, parseMADT) }

func parseMADT(h Header, b []byte) (*MADT, error) {
	if err := needLength(h, b, madtEntries); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	m := &MADT{
		Header:           h,
		LocalApicAddress: le.Uint32(b[madtLocalApicAddress:]),
		Flags:            le.Uint32(b[madtFlags:]),
	}
	err := forEachEntry(h, b, madtEntries, func(off int, typ uint8, e []byte) error {
		var v MADTEntry
		switch typ {
		case MADT_PROCESSOR_LOCAL_APIC:
			if err := needEntry(h, off, e, madtProcessorLocalApicLength); err != nil {
				return err
			}
			l := LocalApic{ProcessorUID: e[2], ApicID: e[3], Flags: le.Uint32(e[4:])}
			m.LocalApics = append(m.LocalApics, l)
			v = l
		case MADT_IO_APIC:
			if err := needEntry(h, off, e, madtIoApicLength); err != nil {
				return err
			}
			io := IoApic{IoApicID: e[2], IoApicAddress: le.Uint32(e[4:]), GlobalSystemInterruptBase: le.Uint32(e[8:])}
			m.IoApics = append(m.IoApics, io)
			v = io
		case MADT_INTERRUPT_SOURCE_OVERRIDE:
			if err := needEntry(h, off, e, madtInterruptSourceOverrideLength); err != nil {
				return err
			}
			o := InterruptSourceOverride{Bus: e[2], Source: e[3], GlobalSystemInterrupt: le.Uint32(e[4:]), Flags: MPSINTIFlags(le.Uint16(e[8:]))}
			m.InterruptSourceOverrides = append(m.InterruptSourceOverrides, o)
			v = o
		case MADT_NMI_SOURCE:
			if err := needEntry(h, off, e, madtNMISourceLength); err != nil {
				return err
			}
			n := NMISource{Flags: MPSINTIFlags(le.Uint16(e[2:])), GlobalSystemInterrupt: le.Uint32(e[4:])}
			m.NMISources = append(m.NMISources, n)
			v = n
		case MADT_LOCAL_APIC_NMI:
			if err := needEntry(h, off, e, madtLocalApicNMILength); err != nil {
				return err
			}
			n := LocalApicNMI{ProcessorUID: e[2], Flags: MPSINTIFlags(le.Uint16(e[3:])), LINT: e[5]}
			m.LocalApicNMIs = append(m.LocalApicNMIs, n)
			v = n
		case MADT_LOCAL_APIC_ADDRESS_OVERRIDE:
			if err := needEntry(h, off, e, madtLocalApicAddressOverrideLength); err != nil {
				return err
			}
			o := LocalApicAddressOverride{LocalApicAddress: le.Uint64(e[4:])}
			if m.LocalApicAddressOverride == nil {
				m.LocalApicAddressOverride = &o
			}
			v = o
		case MADT_PROCESSOR_LOCAL_X2APIC:
			if err := needEntry(h, off, e, madtProcessorLocalX2ApicLength); err != nil {
				return err
			}
			x := LocalX2Apic{X2ApicID: le.Uint32(e[4:]), Flags: le.Uint32(e[8:]), ProcessorUID: le.Uint32(e[12:])}
			m.LocalX2Apics = append(m.LocalX2Apics, x)
			v = x
		case MADT_LOCAL_X2APIC_NMI:
			if err := needEntry(h, off, e, madtLocalX2ApicNMILength); err != nil {
				return err
			}
			n := LocalX2ApicNMI{Flags: MPSINTIFlags(le.Uint16(e[2:])), ProcessorUID: le.Uint32(e[4:]), LINT: e[8]}
			m.LocalX2ApicNMIs = append(m.LocalX2ApicNMIs, n)
			v = n
		default:
			v = UnknownEntry{EntryType: typ, Data: append([]byte(nil), e...)}
		}
		m.Entries = append(m.Entries, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
