package pci

import "fmt"

// Config is a configuration space access method. Offsets are byte
// offsets of aligned dwords. Implementations are safe for concurrent use
// and usable in trap context (MSI masking writes configuration space from
// a filter).
type Config interface {
	Read32(a Addr, off uint16) uint32
	Write32(a Addr, off uint16, v uint32)
	// MaxOffset is the size of each function's space: 256, or 4096 with
	// ECAM.
	MaxOffset() int
	String() string
}

// Addr is a function's bus/device/function address.
type Addr struct {
	Bus, Dev, Fn uint8
}

func (a Addr) String() string { return fmt.Sprintf("%02x:%02x.%d", a.Bus, a.Dev, a.Fn) }

// read16 and friends extract narrower fields from dword accesses.
func read16(c Config, a Addr, off uint16) uint16 {
	return uint16(c.Read32(a, off&^3) >> (8 * (off & 2)))
}

func read8(c Config, a Addr, off uint16) uint8 {
	return uint8(c.Read32(a, off&^3) >> (8 * (off & 3)))
}

// write16 writes a 16-bit field with a dword read-modify-write. Callers
// writing COMMAND must not clobber the STATUS half's write-1-to-clear
// bits: writing back what was read would clear them, so the other half is
// written as zero when it is STATUS.
func write16(c Config, a Addr, off uint16, v uint16) {
	d := c.Read32(a, off&^3)
	shift := 8 * (off & 2)
	if off&^3 == COMMAND {
		d &= 0xffff // STATUS is RW1C: write zeros there
	}
	d = d&^(0xffff<<shift) | uint32(v)<<shift
	c.Write32(a, off&^3, d)
}
