package pci

import (
	"fmt"
	"strings"
)

// BAR is a decoded base address register (§6.2.5.1).
type BAR struct {
	Index    int
	IO       bool   // I/O space (else memory)
	Is64     bool   // a 64-bit memory BAR (takes two registers)
	Prefetch bool   // prefetchable memory
	Addr     uint64 // base address (port number for I/O)
	Size     uint64 // 0: not implemented
}

func (b BAR) String() string {
	kind := "mem32"
	switch {
	case b.IO:
		kind = "io"
	case b.Is64:
		kind = "mem64"
	}
	pf := ""
	if b.Prefetch {
		pf = " prefetch"
	}
	return fmt.Sprintf("BAR%d %s %#x size %#x%s", b.Index, kind, b.Addr, b.Size, pf)
}

// Capability is one entry of the capability list (§6.7).
type Capability struct {
	ID     uint8
	Offset uint16
}

// Device is one PCI function.
type Device struct {
	Addr
	cfg Config

	VendorID, DeviceID uint16
	Class, Subclass    uint8
	ProgIF, Revision   uint8
	HeaderType         uint8 // without the multi-function bit
	InterruptLine      uint8 // ISA IRQ the firmware routed INTx to (0xff: none)
	InterruptPin       uint8 // 1-4: INTA#-INTD#, 0: none
	SecondaryBus       uint8 // bridges
	BARs               []BAR // implemented BARs only
	Capabilities       []Capability
	Driver             string // the attached driver's name, "" if none
	DriverErr          error  // why the matching driver did not attach
}

// Config returns the device's configuration access method.
func (d *Device) Config() Config { return d.cfg }

// Read32 reads a configuration dword.
func (d *Device) Read32(off uint16) uint32 { return d.cfg.Read32(d.Addr, off) }

// Write32 writes a configuration dword.
func (d *Device) Write32(off uint16, v uint32) { d.cfg.Write32(d.Addr, off, v) }

// Read16 reads a configuration word.
func (d *Device) Read16(off uint16) uint16 { return read16(d.cfg, d.Addr, off) }

// Write16 writes a configuration word.
func (d *Device) Write16(off uint16, v uint16) { write16(d.cfg, d.Addr, off, v) }

// Read8 reads a configuration byte.
func (d *Device) Read8(off uint16) uint8 { return read8(d.cfg, d.Addr, off) }

// SetCommand sets and clears COMMAND bits.
func (d *Device) SetCommand(set, clear uint16) {
	d.Write16(COMMAND, d.Read16(COMMAND)&^clear|set)
}

// EnableBusMaster lets the function initiate DMA (and MSI writes), with
// memory and I/O decoding on.
func (d *Device) EnableBusMaster() {
	d.SetCommand(CMD_BUS_MASTER|CMD_MEMORY_SPACE|CMD_IO_SPACE, 0)
}

// BAR returns BAR i, if implemented.
func (d *Device) BAR(i int) (BAR, bool) {
	for _, b := range d.BARs {
		if b.Index == i {
			return b, true
		}
	}
	return BAR{}, false
}

// FindCapability returns the offset of the first capability with id.
func (d *Device) FindCapability(id uint8) (uint16, bool) {
	for _, c := range d.Capabilities {
		if c.ID == id {
			return c.Offset, true
		}
	}
	return 0, false
}

// ClassName names the base class.
func (d *Device) ClassName() string {
	if n, ok := classNames[d.Class]; ok {
		return n
	}
	return fmt.Sprintf("class-%02x", d.Class)
}

// Summary is the device's one-line description (shell pci).
func (d *Device) Summary() string {
	var caps []string
	for _, c := range d.Capabilities {
		switch c.ID {
		case CAP_MSI:
			caps = append(caps, "msi")
		case CAP_MSIX:
			caps = append(caps, "msix")
		case CAP_PCIE:
			caps = append(caps, "pcie")
		case CAP_PM:
			caps = append(caps, "pm")
		case CAP_VNDR:
			caps = append(caps, "vendor")
		default:
			caps = append(caps, fmt.Sprintf("cap%02x", c.ID))
		}
	}
	s := fmt.Sprintf("%s %04x:%04x class %02x.%02x.%02x (%s)", d.Addr, d.VendorID, d.DeviceID, d.Class, d.Subclass, d.ProgIF, d.ClassName())
	if d.InterruptPin != 0 {
		s += fmt.Sprintf(" INT%c irq %d", 'A'+d.InterruptPin-1, d.InterruptLine)
	}
	if len(caps) > 0 {
		s += " caps " + strings.Join(caps, ",")
	}
	if d.Driver != "" {
		s += " driver " + d.Driver
	}
	return s
}

// Scan enumerates every function reachable from bus 0 through PCI-to-PCI
// bridges (depth first, each bus once), decoding headers, sizing BARs and
// walking capability lists.
func Scan(c Config) []*Device {
	var out []*Device
	seen := map[uint8]bool{}
	var scanBus func(bus uint8)
	scanBus = func(bus uint8) {
		if seen[bus] {
			return
		}
		seen[bus] = true
		for dev := uint8(0); dev < 32; dev++ {
			a := Addr{bus, dev, 0}
			if read16(c, a, VENDOR_ID) == 0xffff {
				continue
			}
			nfn := uint8(1)
			if read8(c, a, HEADER_TYPE)&HEADER_MULTIFUNCTION != 0 {
				nfn = 8
			}
			for fn := uint8(0); fn < nfn; fn++ {
				a.Fn = fn
				if read16(c, a, VENDOR_ID) == 0xffff {
					continue
				}
				d := probe(c, a)
				out = append(out, d)
				if d.HeaderType == HEADER_BRIDGE && d.SecondaryBus != 0 {
					scanBus(d.SecondaryBus)
				}
			}
		}
	}
	scanBus(0)
	return out
}

// probe reads one function's header.
func probe(c Config, a Addr) *Device {
	d := &Device{Addr: a, cfg: c}
	d.VendorID = read16(c, a, VENDOR_ID)
	d.DeviceID = read16(c, a, DEVICE_ID)
	d.Revision = read8(c, a, REVISION_ID)
	d.ProgIF = read8(c, a, PROG_IF)
	d.Subclass = read8(c, a, SUBCLASS)
	d.Class = read8(c, a, CLASS_CODE)
	d.HeaderType = read8(c, a, HEADER_TYPE) & HEADER_TYPE_MASK
	d.InterruptLine = read8(c, a, INTERRUPT_LINE)
	d.InterruptPin = read8(c, a, INTERRUPT_PIN)
	nbar := 0
	switch d.HeaderType {
	case 0:
		nbar = 6
	case HEADER_BRIDGE:
		nbar = 2
		d.SecondaryBus = read8(c, a, SECONDARY_BUS)
	}
	d.BARs = sizeBARs(c, a, nbar)
	d.Capabilities = walkCapabilities(c, a)
	return d
}

// sizeBARs decodes and sizes the first n BARs (§6.2.5.1: write all ones,
// read back the size mask, restore), with I/O and memory decoding off
// meanwhile so the device never decodes the all-ones address.
func sizeBARs(c Config, a Addr, n int) []BAR {
	cmd := read16(c, a, COMMAND)
	write16(c, a, COMMAND, cmd&^(CMD_IO_SPACE|CMD_MEMORY_SPACE))
	defer write16(c, a, COMMAND, cmd)
	var bars []BAR
	for i := 0; i < n; i++ {
		off := uint16(BAR0 + 4*i)
		orig := c.Read32(a, off)
		c.Write32(a, off, 0xffffffff)
		mask := c.Read32(a, off)
		c.Write32(a, off, orig)
		b := BAR{Index: i}
		switch {
		case orig&BAR_IO != 0:
			b.IO = true
			b.Addr = uint64(orig &^ 0x3)
			sz := mask &^ 0x3
			if sz != 0 {
				sz |= 0xffff0000 // I/O BARs may implement only 16 bits
				b.Size = uint64(^sz + 1)
			}
		case orig&BAR_MEM_TYPE == BAR_MEM_TYPE_64 && i+1 < n:
			b.Is64 = true
			b.Prefetch = orig&BAR_PREFETCHABLE != 0
			hiOff := off + 4
			hi := c.Read32(a, hiOff)
			c.Write32(a, hiOff, 0xffffffff)
			hiMask := c.Read32(a, hiOff)
			c.Write32(a, hiOff, hi)
			b.Addr = uint64(hi)<<32 | uint64(orig&^0xf)
			m := uint64(hiMask)<<32 | uint64(mask&^0xf)
			if m != 0 {
				b.Size = ^m + 1
			}
			i++ // the upper half is the next register
		default:
			b.Prefetch = orig&BAR_PREFETCHABLE != 0
			b.Addr = uint64(orig &^ 0xf)
			if m := mask &^ 0xf; m != 0 {
				b.Size = uint64(^m + 1)
			}
		}
		if b.Size != 0 {
			bars = append(bars, b)
		}
	}
	return bars
}

// walkCapabilities follows the capability list (§6.7), bounded against
// loops (at most 48 entries fit in 192 bytes).
func walkCapabilities(c Config, a Addr) []Capability {
	if read16(c, a, STATUS)&STATUS_CAP_LIST == 0 {
		return nil
	}
	var caps []Capability
	ptr := uint16(read8(c, a, CAP_PTR)) &^ 3
	for i := 0; i < 48 && ptr >= 0x40 && ptr < 0x100; i++ {
		id := read8(c, a, ptr)
		caps = append(caps, Capability{ID: id, Offset: ptr})
		ptr = uint16(read8(c, a, ptr+1)) &^ 3
	}
	return caps
}

// mapMMIO makes a physical MMIO range accessible uncached and returns its
// virtual address (kernel.go; host tests fake it).
var mapMMIO func(phys, size uint64) (uintptr, error)

// MapBAR maps memory BAR i uncached and returns its address.
func (d *Device) MapBAR(i int) (uintptr, error) {
	b, ok := d.BAR(i)
	if !ok || b.IO {
		return 0, fmt.Errorf("pci: %s: BAR%d is not an implemented memory BAR", d.Addr, i)
	}
	if mapMMIO == nil {
		return 0, fmt.Errorf("pci: %s: no MMIO mapper", d.Addr)
	}
	return mapMMIO(b.Addr, b.Size)
}
