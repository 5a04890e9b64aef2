package pci

import (
	"errors"
	"fmt"
)

// MMIO is how the package touches memory-mapped registers (the MSI-X
// table): the kernel's uncached identity map, or a fake in host tests.
type MMIO interface {
	Read32(addr uintptr) uint32
	Write32(addr uintptr, v uint32)
}

// mmio is set by kernel.go (amd64 loads and stores); host tests set a
// fake.
var mmio MMIO

// MSIVector is one MSI or MSI-X vector of a function; it implements
// ithread.MSIDevice.
type MSIVector struct {
	d     *Device
	msix  bool
	cap   uint16
	index int
	ctrl  uint16  // MSI Message Control as found (c)
	entry uintptr // MSI-X table entry address (c)
}

// ErrNoMSI is returned for a function without the capability asked for.
var ErrNoMSI = errors.New("pci: function has no such MSI capability")

// MSI returns the function's single MSI vector (multiple-message MSI is
// not used: MSI-X serves per-queue vectors).
func (d *Device) MSI() (*MSIVector, error) {
	off, ok := d.FindCapability(CAP_MSI)
	if !ok {
		return nil, ErrNoMSI
	}
	return &MSIVector{d: d, cap: off, ctrl: d.Read16(off + MSI_CTRL)}, nil
}

// MSIXTableSize returns the number of MSI-X table entries, 0 if none.
func (d *Device) MSIXTableSize() int {
	off, ok := d.FindCapability(CAP_MSIX)
	if !ok {
		return 0
	}
	return int(d.Read16(off+MSIX_CTRL)&MSIX_CTRL_TABLE_SIZE) + 1
}

// MSIX returns MSI-X vector index; the table's BAR must be mapped
// (MapBAR) first.
func (d *Device) MSIX(index int) (*MSIVector, error) {
	off, ok := d.FindCapability(CAP_MSIX)
	if !ok {
		return nil, ErrNoMSI
	}
	if index < 0 || index >= d.MSIXTableSize() {
		return nil, fmt.Errorf("pci: %s: MSI-X vector %d of %d", d.Addr, index, d.MSIXTableSize())
	}
	t := d.Read32(off + MSIX_TABLE)
	bar, ok := d.BAR(int(t & MSIX_BIR))
	if !ok || bar.IO {
		return nil, fmt.Errorf("pci: %s: MSI-X table in BAR%d, not a memory BAR", d.Addr, t&MSIX_BIR)
	}
	base, err := d.MapBAR(bar.Index)
	if err != nil {
		return nil, err
	}
	entry := base + uintptr(t&^MSIX_BIR) + uintptr(index)*MSIX_ENTRY_SIZE
	return &MSIVector{d: d, msix: true, cap: off, index: index, entry: entry}, nil
}

// SetMessage programs the vector's address and data, unmasks it and
// enables MSI (or MSI-X) on the function, with INTx disabled.
func (v *MSIVector) SetMessage(addr uint64, data uint32) error {
	d := v.d
	if v.msix {
		mmio.Write32(v.entry+MSIX_ENTRY_VCTRL, MSIX_VCTRL_MASK_BIT)
		mmio.Write32(v.entry+MSIX_ENTRY_ADDR_LO, uint32(addr))
		mmio.Write32(v.entry+MSIX_ENTRY_ADDR_HI, uint32(addr>>32))
		mmio.Write32(v.entry+MSIX_ENTRY_DATA, data)
		mmio.Write32(v.entry+MSIX_ENTRY_VCTRL, 0)
		ctrl := d.Read16(v.cap + MSIX_CTRL)
		d.Write16(v.cap+MSIX_CTRL, ctrl&^MSIX_CTRL_FUNC_MASK|MSIX_CTRL_ENABLE)
	} else {
		ctrl := d.Read16(v.cap + MSI_CTRL)
		d.Write16(v.cap+MSI_CTRL, ctrl&^(MSI_CTRL_ENABLE|MSI_CTRL_MME))
		d.Write32(v.cap+MSI_ADDR_LO, uint32(addr))
		dataOff := uint16(msiData32)
		if ctrl&MSI_CTRL_64BIT != 0 {
			d.Write32(v.cap+MSI_ADDR_HI, uint32(addr>>32))
			dataOff = msiData64
		}
		d.Write16(v.cap+dataOff, uint16(data))
		if ctrl&MSI_CTRL_PVMASK != 0 {
			d.Write32(v.cap+v.maskOff(), 0)
		}
		d.Write16(v.cap+MSI_CTRL, ctrl&^MSI_CTRL_MME|MSI_CTRL_ENABLE)
	}
	d.SetCommand(CMD_INTX_DISABLE|CMD_BUS_MASTER, 0)
	return nil
}

func (v *MSIVector) maskOff() uint16 {
	if v.ctrl&MSI_CTRL_64BIT != 0 {
		return msiMask64
	}
	return msiMask32
}

// Mask sets or clears the vector's mask bit (trap-context safe); it
// reports false for MSI without per-vector masking.
func (v *MSIVector) Mask(masked bool) bool {
	bit := uint32(0)
	if masked {
		bit = 1
	}
	if v.msix {
		mmio.Write32(v.entry+MSIX_ENTRY_VCTRL, bit*MSIX_VCTRL_MASK_BIT)
		return true
	}
	if v.ctrl&MSI_CTRL_PVMASK == 0 {
		return false
	}
	v.d.Write32(v.cap+v.maskOff(), bit)
	return true
}

// Disable turns MSI (or MSI-X) off on the function.
func (v *MSIVector) Disable() {
	if v.msix {
		v.d.Write16(v.cap+MSIX_CTRL, v.d.Read16(v.cap+MSIX_CTRL)&^MSIX_CTRL_ENABLE)
		return
	}
	v.d.Write16(v.cap+MSI_CTRL, v.d.Read16(v.cap+MSI_CTRL)&^MSI_CTRL_ENABLE)
}

// Message reads back the programmed address and data.
func (v *MSIVector) Message() (addr uint64, data uint32) {
	if v.msix {
		addr = uint64(mmio.Read32(v.entry+MSIX_ENTRY_ADDR_HI))<<32 | uint64(mmio.Read32(v.entry+MSIX_ENTRY_ADDR_LO))
		return addr, mmio.Read32(v.entry + MSIX_ENTRY_DATA)
	}
	addr = uint64(v.d.Read32(v.cap + MSI_ADDR_LO))
	dataOff := uint16(msiData32)
	if v.ctrl&MSI_CTRL_64BIT != 0 {
		addr |= uint64(v.d.Read32(v.cap+MSI_ADDR_HI)) << 32
		dataOff = msiData64
	}
	return addr, uint32(v.d.Read16(v.cap + dataOff))
}

func (v *MSIVector) String() string {
	if v.msix {
		return fmt.Sprintf("pci %s msix %d", v.d.Addr, v.index)
	}
	return fmt.Sprintf("pci %s msi", v.d.Addr)
}
