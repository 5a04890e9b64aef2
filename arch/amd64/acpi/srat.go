package acpi

import "encoding/binary"

// System Resource Affinity Table (§5.2.16, table "Static Resource
// Affinity Table Format"): after the header, a Reserved dword that must
// be 1, a Reserved qword, then the Static Resource Allocation
// Structure[n].
const sratEntries = 48

// Static Resource Allocation Structure types (§5.2.16). The others (GICC,
// GIC ITS, Generic Initiator, Generic Port, ...) are skipped.
const (
	SRAT_PROCESSOR_LOCAL_APIC_AFFINITY   = 0x0
	SRAT_MEMORY_AFFINITY                 = 0x1
	SRAT_PROCESSOR_LOCAL_X2APIC_AFFINITY = 0x2
)

// Sizes of the structures decoded here (§5.2.16.1–§5.2.16.3).
const (
	sratProcessorLocalApicAffinityLength   = 16
	sratMemoryAffinityLength               = 40
	sratProcessorLocalX2ApicAffinityLength = 24
)

// Flags of the processor affinity structures (§5.2.16.1, table "Flags -
// Processor Local APIC/SAPIC Affinity Structure"; §5.2.16.3 uses the
// same).
const (
	// AFFINITY_ENABLED (spec: Enabled): if clear, OSPM ignores the
	// structure.
	AFFINITY_ENABLED = 1 << 0
)

// Flags of the Memory Affinity Structure (§5.2.16.2, table "Flags -
// Memory Affinity Structure").
const (
	MEMORY_ENABLED       = 1 << 0 // spec: Enabled; if clear, OSPM ignores the structure
	MEMORY_HOT_PLUGGABLE = 1 << 1 // spec: Hot Pluggable
	MEMORY_NON_VOLATILE  = 1 << 2 // spec: NonVolatile
)

// ProcessorLocalApicAffinity is a Processor Local APIC/SAPIC Affinity
// Structure (§5.2.16.1): the processor with local APIC ID ApicID is in
// ProximityDomain.
type ProcessorLocalApicAffinity struct {
	// ProximityDomain joins Proximity Domain [7:0] and, from SRAT
	// revision 2 on, Proximity Domain [31:8]; revision 1 defined only
	// the low byte (the others were reserved), as Linux also assumes.
	ProximityDomain uint32
	ApicID          uint8
	Flags           uint32
	LocalSapicEID   uint8
	ClockDomain     uint32
}

// Enabled reports the Enabled flag.
func (a ProcessorLocalApicAffinity) Enabled() bool { return a.Flags&AFFINITY_ENABLED != 0 }

// MemoryAffinity is a Memory Affinity Structure (§5.2.16.2): physical
// memory [BaseAddress, BaseAddress+Length) is in ProximityDomain.
type MemoryAffinity struct {
	// ProximityDomain is the whole dword from SRAT revision 2 on; for
	// revision 1 only its low byte, as Linux assumes.
	ProximityDomain uint32
	BaseAddress     uint64
	Length          uint64
	Flags           uint32
}

// Enabled reports the Enabled flag.
func (a MemoryAffinity) Enabled() bool { return a.Flags&MEMORY_ENABLED != 0 }

// HotPluggable reports the Hot Pluggable flag.
func (a MemoryAffinity) HotPluggable() bool { return a.Flags&MEMORY_HOT_PLUGGABLE != 0 }

// NonVolatile reports the NonVolatile flag.
func (a MemoryAffinity) NonVolatile() bool { return a.Flags&MEMORY_NON_VOLATILE != 0 }

// ProcessorLocalX2ApicAffinity is a Processor Local x2APIC Affinity
// Structure (§5.2.16.3).
type ProcessorLocalX2ApicAffinity struct {
	ProximityDomain uint32
	X2ApicID        uint32
	Flags           uint32
	ClockDomain     uint32
}

// Enabled reports the Enabled flag.
func (a ProcessorLocalX2ApicAffinity) Enabled() bool { return a.Flags&AFFINITY_ENABLED != 0 }

// SRAT is the System Resource Affinity Table (§5.2.16), each slice in
// table order.
type SRAT struct {
	Header                         Header
	ProcessorLocalApicAffinities   []ProcessorLocalApicAffinity
	MemoryAffinities               []MemoryAffinity
	ProcessorLocalX2ApicAffinities []ProcessorLocalX2ApicAffinity
}

// ProcessorDomain returns the proximity domain of the processor with
// (x2)APIC ID apicID from the first enabled structure naming it; ok is
// false if none does.
func (s *SRAT) ProcessorDomain(apicID uint32) (domain uint32, ok bool) {
	for _, a := range s.ProcessorLocalApicAffinities {
		if a.Enabled() && uint32(a.ApicID) == apicID {
			return a.ProximityDomain, true
		}
	}
	for _, a := range s.ProcessorLocalX2ApicAffinities {
		if a.Enabled() && a.X2ApicID == apicID {
			return a.ProximityDomain, true
		}
	}
	return 0, false
}

// ParseSRAT validates and decodes an SRAT.
func ParseSRAT(b []byte) (*SRAT, error) { return parseAs(b, SIG_SRAT, parseSRAT) }

func parseSRAT(h Header, b []byte) (*SRAT, error) {
	if err := needLength(h, b, sratEntries); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	s := &SRAT{Header: h}
	err := forEachEntry(h, b, sratEntries, func(off int, typ uint8, e []byte) error {
		switch typ {
		case SRAT_PROCESSOR_LOCAL_APIC_AFFINITY:
			if err := needEntry(h, off, e, sratProcessorLocalApicAffinityLength); err != nil {
				return err
			}
			a := ProcessorLocalApicAffinity{
				ProximityDomain: uint32(e[2]),
				ApicID:          e[3],
				Flags:           le.Uint32(e[4:]),
				LocalSapicEID:   e[8],
				ClockDomain:     le.Uint32(e[12:]),
			}
			if h.Revision >= 2 {
				a.ProximityDomain |= uint32(e[9])<<8 | uint32(e[10])<<16 | uint32(e[11])<<24
			}
			s.ProcessorLocalApicAffinities = append(s.ProcessorLocalApicAffinities, a)
		case SRAT_MEMORY_AFFINITY:
			if err := needEntry(h, off, e, sratMemoryAffinityLength); err != nil {
				return err
			}
			a := MemoryAffinity{
				ProximityDomain: le.Uint32(e[2:]),
				BaseAddress:     le.Uint64(e[8:]),  // Base Address Low, High
				Length:          le.Uint64(e[16:]), // Length Low, High
				Flags:           le.Uint32(e[28:]),
			}
			if h.Revision < 2 {
				a.ProximityDomain &= 0xff
			}
			s.MemoryAffinities = append(s.MemoryAffinities, a)
		case SRAT_PROCESSOR_LOCAL_X2APIC_AFFINITY:
			if err := needEntry(h, off, e, sratProcessorLocalX2ApicAffinityLength); err != nil {
				return err
			}
			s.ProcessorLocalX2ApicAffinities = append(s.ProcessorLocalX2ApicAffinities, ProcessorLocalX2ApicAffinity{
				ProximityDomain: le.Uint32(e[4:]),
				X2ApicID:        le.Uint32(e[8:]),
				Flags:           le.Uint32(e[12:]),
				ClockDomain:     le.Uint32(e[16:]),
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}
