// Package edu drives QEMU's "edu" educational PCI device (1234:11e8,
// docs/specs/edu.rst in the QEMU sources), which exists to raise
// interrupts on demand: the kernel uses it to test MSI delivery to a
// chosen CPU and I/O APIC-routed, level-triggered INTx.
package edu

import (
	"fmt"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/drivers/pci"
)

// PCI IDs.
const (
	VendorID = 0x1234
	DeviceID = 0x11e8
)

// BAR0 registers (edu.rst, "MMIO area spec").
const (
	EDU_IDENT       = 0x00 // 0xRRrr00edu: major.minor version
	EDU_LIVENESS    = 0x04 // reads back the bitwise inverse of what was written
	EDU_STATUS      = 0x20
	EDU_INTR_STATUS = 0x24 // raised interrupt bits
	EDU_INTR_RAISE  = 0x60 // or-s the value into the status and raises
	EDU_INTR_ACK    = 0x64 // clears the bits and lowers the line

	IDENT_MAGIC = 0xed
)

// Device is an attached edu function.
type Device struct {
	PCI  *pci.Device
	regs uintptr
}

// Open maps the device's BAR0 and checks its identification.
func Open(d *pci.Device) (*Device, error) {
	regs, err := d.MapBAR(0)
	if err != nil {
		return nil, err
	}
	d.SetCommand(pci.CMD_MEMORY_SPACE, 0)
	e := &Device{PCI: d, regs: regs}
	if id := e.read(EDU_IDENT); id&0xff != IDENT_MAGIC {
		return nil, fmt.Errorf("edu: %s: identification %#x", d.Addr, id)
	}
	if e.Liveness(0x12345678) != ^uint32(0x12345678) {
		return nil, fmt.Errorf("edu: %s: liveness check failed", d.Addr)
	}
	return e, nil
}

func (e *Device) read(off uintptr) uint32     { return amd64.Load32(e.regs + off) }
func (e *Device) write(off uintptr, v uint32) { amd64.Store32(e.regs+off, v) }

// Liveness writes v and returns what the device answers (^v).
func (e *Device) Liveness(v uint32) uint32 {
	e.write(EDU_LIVENESS, v)
	return e.read(EDU_LIVENESS)
}

// Raise sets bits in the interrupt status and raises the interrupt.
func (e *Device) Raise(bits uint32) { e.write(EDU_INTR_RAISE, bits) }

// Ack reads and clears the interrupt status (trap-context safe); it
// returns the bits that were set.
func (e *Device) Ack() uint32 {
	s := e.read(EDU_INTR_STATUS)
	if s != 0 {
		e.write(EDU_INTR_ACK, s)
	}
	return s
}
