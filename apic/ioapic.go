package apic

import (
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/kern/spin"
)

// I/O APIC registers (82093AA I/O APIC datasheet §3.0, table 2 "IOAPIC
// Registers"; tamago's soc/intel/ioapic spells them the same): an index
// register IOREGSEL and a data window IOWIN in memory, selecting the
// 32-bit registers below.
const (
	IOREGSEL = 0x00
	IOWIN    = 0x10

	IOAPICID      = 0x00
	IOAPICVER     = 0x01
	VER_ENTRIES   = 16 // bits 23:16 maximum redirection entry
	IOAPICREDTBLn = 0x10
)

// IOAPIC is one I/O APIC. Unlike tamago's driver (which always targets
// the BSP and leaves polarity and trigger at zero), entries are written
// whole with the route's polarity, trigger, vector and destination.
//
// IOREGSEL/IOWIN is an index/data pair: two CPUs (or an interrupt on the
// same CPU) interleaving their accesses would read or write the wrong
// register, so every access holds lock with interrupts off. The accessors
// are usable in trap context (a filter masking its pin).
type IOAPIC struct {
	ID      uint8   // (c) from the MADT
	Base    uintptr // (c) register base, mapped uncached
	GSIBase uint32  // (c) GSI of pin 0
	Entries int     // (c) redirection entries

	lock spin.Lock // IOREGSEL/IOWIN
	// Guarded by lock: the last low dword written per pin, so masking
	// needs no read (and no read-modify-write race).
	low [240]uint32
}

// NewIOAPIC describes the I/O APIC at base and reads its entry count.
func NewIOAPIC(id uint8, base uintptr, gsiBase uint32) *IOAPIC {
	io := &IOAPIC{ID: id, Base: base, GSIBase: gsiBase}
	ver := io.read(IOAPICVER)
	io.Entries = int(ver>>VER_ENTRIES&0xff) + 1
	if io.Entries > len(io.low) {
		io.Entries = len(io.low)
	}
	return io
}

// lockOff disables interrupts and takes the register lock; it returns the
// flags for unlockOff.
func (io *IOAPIC) lockOff() uint64 {
	f := amd64.Flags()
	amd64.Cli()
	io.lock.Acquire(int(ID()))
	return f
}

func (io *IOAPIC) unlockOff(f uint64) {
	io.lock.Release()
	if f&amd64.IF != 0 {
		amd64.Sti()
	}
}

func (io *IOAPIC) readLocked(reg uint32) uint32 {
	amd64.Store32(io.Base+IOREGSEL, reg)
	return amd64.Load32(io.Base + IOWIN)
}

func (io *IOAPIC) writeLocked(reg, v uint32) {
	amd64.Store32(io.Base+IOREGSEL, reg)
	amd64.Store32(io.Base+IOWIN, v)
}

func (io *IOAPIC) read(reg uint32) uint32 {
	f := io.lockOff()
	v := io.readLocked(reg)
	io.unlockOff(f)
	return v
}

// Version returns IOAPICVER.
func (io *IOAPIC) Version() uint32 { return io.read(IOAPICVER) }

// Has reports whether gsi is one of this I/O APIC's inputs.
func (io *IOAPIC) Has(gsi uint32) bool {
	return gsi >= io.GSIBase && gsi < io.GSIBase+uint32(io.Entries)
}

// Entry reads pin's redirection entry.
func (io *IOAPIC) Entry(pin int) RedirEntry {
	f := io.lockOff()
	lo := io.readLocked(IOAPICREDTBLn + uint32(pin)*2)
	hi := io.readLocked(IOAPICREDTBLn + uint32(pin)*2 + 1)
	io.unlockOff(f)
	return RedirEntry(uint64(hi)<<32 | uint64(lo))
}

// SetEntry writes pin's redirection entry: masked first, then the
// destination, then the low dword (which unmasks it if e does), so the
// pin never delivers with a half-written entry.
func (io *IOAPIC) SetEntry(pin int, e RedirEntry) {
	f := io.lockOff()
	reg := IOAPICREDTBLn + uint32(pin)*2
	io.writeLocked(reg, 1<<REDTBL_MASK)
	io.writeLocked(reg+1, uint32(e>>32))
	io.writeLocked(reg, uint32(e))
	io.low[pin] = uint32(e)
	io.unlockOff(f)
}

// Mask masks pin; usable in trap context.
func (io *IOAPIC) Mask(pin int) {
	f := io.lockOff()
	io.low[pin] |= 1 << REDTBL_MASK
	io.writeLocked(IOAPICREDTBLn+uint32(pin)*2, io.low[pin])
	io.unlockOff(f)
}

// Unmask unmasks pin; usable in trap context.
func (io *IOAPIC) Unmask(pin int) {
	f := io.lockOff()
	io.low[pin] &^= 1 << REDTBL_MASK
	io.writeLocked(IOAPICREDTBLn+uint32(pin)*2, io.low[pin])
	io.unlockOff(f)
}

// MaskAll masks every pin (the state the kernel starts devices from).
func (io *IOAPIC) MaskAll() {
	for pin := 0; pin < io.Entries; pin++ {
		io.SetEntry(pin, RedirEntry(1<<REDTBL_MASK))
	}
}
