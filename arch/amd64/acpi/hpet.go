package acpi

import "encoding/binary"

// HPET Description Table (IA-PC HPET Specification 1.0a, §3.2.4, table
// "HPET Description Table"): byte offsets.
const (
	hpetEventTimerBlockID = 36
	hpetBaseAddress       = 40
	hpetNumber            = 52
	hpetMinimumClockTick  = 53
	hpetPageProtection    = 55
	hpetLength            = 56
)

// HPET is the HPET Description Table: where one event timer block's
// registers are.
type HPET struct {
	Header Header
	// EventTimerBlockID mirrors the block's General Capabilities and ID
	// register bits 31:0 (vendor, counter size, timer count, revision).
	EventTimerBlockID uint32
	// BaseAddress is the register block, in system memory.
	BaseAddress GenericAddress
	HPETNumber  uint8
	// MainCounterMinimumClockTick is "Main Counter Minimum Clock_tick in
	// Periodic Mode", in main counter ticks.
	MainCounterMinimumClockTick uint16
	// PageProtection is "Page Protection And OEM Attribute".
	PageProtection uint8
}

// ParseHPET validates and decodes an HPET table.
func ParseHPET(b []byte) (*HPET, error) { return parseAs(b, SIG_HPET, parseHPET) }

func parseHPET(h Header, b []byte) (*HPET, error) {
	if err := needLength(h, b, hpetLength); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	return &HPET{
		Header:                      h,
		EventTimerBlockID:           le.Uint32(b[hpetEventTimerBlockID:]),
		BaseAddress:                 parseGAS(b[hpetBaseAddress:]),
		HPETNumber:                  b[hpetNumber],
		MainCounterMinimumClockTick: le.Uint16(b[hpetMinimumClockTick:]),
		PageProtection:              b[hpetPageProtection],
	}, nil
}
