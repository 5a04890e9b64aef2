package acpi

import (
	"encoding/binary"
	"fmt"
)

// MCFG (PCI Firmware Specification 3.3, §4.1.2, table "MCFG Table
// Fields"): a Reserved qword after the header, then the Configuration
// space base address allocation structures.
const (
	mcfgAllocations      = 44
	mcfgAllocationLength = 16
)

// MCFGAllocation is a Memory Mapped Enhanced Configuration Space Base
// Address Allocation Structure (PCI Firmware Specification §4.1.2): the
// ECAM window of buses StartBusNumber–EndBusNumber of one PCI segment.
type MCFGAllocation struct {
	BaseAddress           uint64
	PCISegmentGroupNumber uint16
	StartBusNumber        uint8
	EndBusNumber          uint8
}

// MCFG is the PCI Express memory-mapped configuration space table.
type MCFG struct {
	Header      Header
	Allocations []MCFGAllocation
}

// ParseMCFG validates and decodes an MCFG.
func ParseMCFG(b []byte) (*MCFG, error) { return parseAs(b, SIG_MCFG, parseMCFG) }

func parseMCFG(h Header, b []byte) (*MCFG, error) {
	if err := needLength(h, b, mcfgAllocations); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	m := &MCFG{Header: h}
	off := mcfgAllocations
	for ; off+mcfgAllocationLength <= len(b); off += mcfgAllocationLength {
		e := b[off:]
		m.Allocations = append(m.Allocations, MCFGAllocation{
			BaseAddress:           le.Uint64(e[0:]),
			PCISegmentGroupNumber: le.Uint16(e[8:]),
			StartBusNumber:        e[10],
			EndBusNumber:          e[11],
		})
	}
	if off != len(b) {
		return nil, &EntryError{Signature: h.Signature, Offset: off, Length: len(b) - off,
			Reason: fmt.Sprintf("a partial %d-byte allocation structure", mcfgAllocationLength)}
	}
	return m, nil
}
