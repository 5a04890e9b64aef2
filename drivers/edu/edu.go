// Package edu drives QEMU's "edu" educational PCI device (1234:11e8,
// docs/specs/edu.rst in the QEMU sources), which exists to raise
// interrupts on demand: the kernel uses it to test MSI delivery to a
// chosen CPU and I/O APIC-routed, level-triggered INTx. Its DMA engine
// reaches only the low 256 MiB (QEMU masks its addresses to 28 bits, the
// dma_mask property's default), so its buffers are the kernel's one user
// of an allocation constrained below a device's reach (vm.Policy.Below).
package edu

import (
	"errors"
	"fmt"
	"time"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/drivers/pci"
	"github.com/smpgo/smpgo/vm"
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
	EDU_DMA_SRC     = 0x80 // 64-bit DMA source address
	EDU_DMA_DST     = 0x88 // 64-bit DMA destination address
	EDU_DMA_COUNT   = 0x90 // bytes to transfer
	EDU_DMA_CMD     = 0x98 // DMA_RUN | DMA_TO_RAM | DMA_IRQ

	IDENT_MAGIC = 0xed

	DMA_RUN    = 0x1 // start; the device clears it when done
	DMA_TO_RAM = 0x2 // direction: device buffer to RAM (else RAM to buffer)
	DMA_IRQ    = 0x4 // raise interrupt 0x100 when done

	// BufferAddr and BufferSize place the device's own 4 KiB buffer in
	// its DMA address space.
	BufferAddr = 0x40000
	BufferSize = 4096

	// DMAReach is the first RAM address the DMA engine cannot reach.
	DMAReach = 1 << 28
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

// AllocDMA returns n physically contiguous pages the DMA engine can
// reach (below DMAReach, in any domain).
func AllocDMA(n int) (uintptr, error) {
	pa, ok := vm.AllocContig(vm.Policy{Below: DMAReach}, n, 1)
	if !ok {
		return 0, errors.New("edu: no memory below 256 MiB for DMA")
	}
	return pa, nil
}

// DMA copies n bytes between RAM at pa and the device buffer at offset
// off (toRAM: buffer to RAM), polling until the device is done (QEMU
// runs the transfer 100 ms of virtual time after the start). Bus
// mastering is enabled first.
func (e *Device) DMA(pa uintptr, off, n int, toRAM bool) error {
	// QEMU's range check (7.2) compares a transfer's end exclusively with
	// the buffer's, so one that ends exactly at its end stops QEMU with a
	// hardware error: the last byte is out of reach.
	if off < 0 || n <= 0 || off+n >= BufferSize {
		return fmt.Errorf("edu: DMA of %d bytes at buffer offset %d", n, off)
	}
	if pa+uintptr(n) > DMAReach || pa+uintptr(n) < pa {
		return fmt.Errorf("edu: DMA to %#x beyond the device's reach (%#x)", pa, DMAReach)
	}
	e.PCI.EnableBusMaster()
	if e.read(EDU_DMA_CMD)&DMA_RUN != 0 {
		return errors.New("edu: a DMA is already running")
	}
	src, dst := uint64(pa), uint64(BufferAddr+off)
	cmd := uint32(DMA_RUN)
	if toRAM {
		src, dst = dst, src
		cmd |= DMA_TO_RAM
	}
	amd64.Store64(e.regs+EDU_DMA_SRC, src)
	amd64.Store64(e.regs+EDU_DMA_DST, dst)
	amd64.Store64(e.regs+EDU_DMA_COUNT, uint64(n))
	e.write(EDU_DMA_CMD, cmd)
	deadline := time.Now().Add(30 * time.Second)
	for e.read(EDU_DMA_CMD)&DMA_RUN != 0 {
		if time.Now().After(deadline) {
			return errors.New("edu: DMA did not complete in 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}
