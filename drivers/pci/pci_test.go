package pci

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A machine like QEMU's q35 with a bridge: host bridge, multi-function
// ISA bridge, an e1000 with memory+I/O BARs, a PCI-to-PCI bridge to bus 1
// holding a device with a 64-bit BAR and MSI/MSI-X.
func qemuLike() *fakeConfig {
	f := newFake()
	f.add(Addr{0, 0, 0}, 0x8086, 0x29c0, 0x06, 0x00, 0)
	f.add(Addr{0, 0x1f, 0}, 0x8086, 0x2918, 0x06, 0x01, HEADER_MULTIFUNCTION)
	f.add(Addr{0, 0x1f, 2}, 0x8086, 0x2922, 0x01, 0x06, 0)
	e := f.add(Addr{0, 2, 0}, 0x8086, 0x100e, 0x02, 0x00, 0)
	e.bar(0, 0xfebc0000, 0x20000, 0)
	e.bar(1, 0xc000, 0x40, BAR_IO)
	e.space[INTERRUPT_LINE], e.space[INTERRUPT_PIN] = 11, 1
	br := f.add(Addr{0, 3, 0}, 0x1b36, 0x000c, 0x06, 0x04, HEADER_BRIDGE)
	br.space[SECONDARY_BUS] = 1
	v := f.add(Addr{1, 0, 0}, 0x1af4, 0x1041, 0x02, 0x00, 0)
	v.bar(1, 0xfe800000, 0x1000, 0)
	v.bar(4, 0x00000000, 0x4000, BAR_MEM_TYPE_64|BAR_PREFETCHABLE)
	v.put32(BAR0+4*5, 0x8) // upper half of the 64-bit BAR: 0x8_0000_0000
	v.barMask[5] = 0xffffffff
	v.caps(CAP_PCIE, CAP_MSIX, CAP_MSI)
	return f
}

func TestScanFindsEverythingBehindBridges(t *testing.T) {
	devs := Scan(qemuLike())
	var got []string
	for _, d := range devs {
		got = append(got, d.Addr.String())
	}
	assert.Equal(t, []string{"00:00.0", "00:02.0", "00:03.0", "01:00.0", "00:1f.0", "00:1f.2"}, got)
	assert.Equal(t, uint8(HEADER_BRIDGE), devs[2].HeaderType)
	assert.Equal(t, uint8(1), devs[2].SecondaryBus)
}

func TestBARSizing(t *testing.T) {
	f := qemuLike()
	devs := Scan(f)
	e := devs[1]
	require.Len(t, e.BARs, 2)
	assert.Equal(t, BAR{Index: 0, Addr: 0xfebc0000, Size: 0x20000}, e.BARs[0])
	assert.Equal(t, BAR{Index: 1, IO: true, Addr: 0xc000, Size: 0x40}, e.BARs[1])
	assert.Equal(t, "BAR1 io 0xc000 size 0x40", e.BARs[1].String())
	// Sizing restored the registers.
	assert.Equal(t, uint32(0xfebc0000), f.Read32(e.Addr, BAR0))

	v := devs[3]
	require.Len(t, v.BARs, 2)
	assert.Equal(t, BAR{Index: 1, Addr: 0xfe800000, Size: 0x1000}, v.BARs[0])
	b4, ok := v.BAR(4)
	require.True(t, ok)
	assert.Equal(t, BAR{Index: 4, Is64: true, Prefetch: true, Addr: 0x8_0000_0000, Size: 0x4000}, b4)
	_, ok = v.BAR(5)
	assert.False(t, ok, "the upper half of a 64-bit BAR is not a BAR")
}

func TestSizingTurnsDecodeOffAndRestoresCommand(t *testing.T) {
	f := newFake()
	d := f.add(Addr{0, 1, 0}, 0x8086, 0x100e, 2, 0, 0)
	d.bar(0, 0xfebc0000, 0x20000, 0)
	d.put16(COMMAND, CMD_MEMORY_SPACE|CMD_BUS_MASTER)
	Scan(f)
	assert.Equal(t, uint32(CMD_MEMORY_SPACE|CMD_BUS_MASTER), f.Read32(Addr{0, 1, 0}, COMMAND)&0xffff)
}

func TestCapabilities(t *testing.T) {
	v := Scan(qemuLike())[3]
	assert.Equal(t, []Capability{{CAP_PCIE, 0x40}, {CAP_MSIX, 0x50}, {CAP_MSI, 0x60}}, v.Capabilities)
	off, ok := v.FindCapability(CAP_MSI)
	assert.True(t, ok)
	assert.Equal(t, uint16(0x60), off)
	assert.Contains(t, v.Summary(), "caps pcie,msix,msi")
	_, ok = Scan(qemuLike())[0].FindCapability(CAP_MSI)
	assert.False(t, ok)
}

func TestCapabilityLoopIsBounded(t *testing.T) {
	f := newFake()
	d := f.add(Addr{0, 1, 0}, 1, 2, 0, 0, 0)
	d.caps(CAP_MSI)
	d.space[0x41] = 0x40 // points at itself
	caps := Scan(f)[0].Capabilities
	assert.Len(t, caps, 48)
}

func TestMSIProgramming(t *testing.T) {
	f := newFake()
	fn := f.add(Addr{0, 4, 0}, 0x1234, 0x11e8, 0xff, 0, 0)
	fn.caps(CAP_MSI)
	fn.put16(0x42, MSI_CTRL_64BIT|MSI_CTRL_PVMASK|0b010<<1) // 4 messages capable
	d := Scan(f)[0]
	v, err := d.MSI()
	require.NoError(t, err)
	require.NoError(t, v.SetMessage(0xfee03000, 0x41))
	ctrl := d.Read16(0x42)
	assert.NotZero(t, ctrl&MSI_CTRL_ENABLE)
	assert.Zero(t, ctrl&MSI_CTRL_MME, "one message")
	addr, data := v.Message()
	assert.Equal(t, uint64(0xfee03000), addr)
	assert.Equal(t, uint32(0x41), data)
	assert.NotZero(t, d.Read16(COMMAND)&CMD_INTX_DISABLE)
	assert.True(t, v.Mask(true))
	assert.Equal(t, uint32(1), d.Read32(0x40+msiMask64))
	v.Mask(false)
	assert.Equal(t, uint32(0), d.Read32(0x40+msiMask64))
	v.Disable()
	assert.Zero(t, d.Read16(0x42)&MSI_CTRL_ENABLE)

	f2 := newFake()
	fn2 := f2.add(Addr{0, 4, 0}, 1, 2, 0, 0, 0)
	fn2.caps(CAP_MSI) // 32-bit, no masking
	v2, err := Scan(f2)[0].MSI()
	require.NoError(t, err)
	require.NoError(t, v2.SetMessage(0xfee00000, 0x30))
	assert.False(t, v2.Mask(true))
	_, data = v2.Message()
	assert.Equal(t, uint32(0x30), data)
}

func TestMSIXProgramming(t *testing.T) {
	mem := fakeMMIO{}
	mmio, mapMMIO = mem, func(phys, size uint64) (uintptr, error) { return uintptr(phys), nil }
	defer func() { mmio, mapMMIO = nil, nil }()
	f := newFake()
	fn := f.add(Addr{0, 5, 0}, 0x8086, 0x10d3, 2, 0, 0)
	fn.bar(3, 0xfebf0000, 0x4000, 0)
	fn.caps(CAP_MSIX)
	fn.put16(0x42, 4) // 5 entries
	fn.put32(0x44, 0x2000|3)
	d := Scan(f)[0]
	assert.Equal(t, 5, d.MSIXTableSize())
	_, err := d.MSIX(5)
	assert.Error(t, err)
	v, err := d.MSIX(2)
	require.NoError(t, err)
	require.NoError(t, v.SetMessage(0xfee01000, 0x55))
	entry := uintptr(0xfebf0000 + 0x2000 + 2*16)
	assert.Equal(t, uint32(0xfee01000), mem[entry])
	assert.Equal(t, uint32(0x55), mem[entry+8])
	assert.Equal(t, uint32(0), mem[entry+12], "unmasked")
	assert.NotZero(t, d.Read16(0x42)&MSIX_CTRL_ENABLE)
	assert.True(t, v.Mask(true))
	assert.Equal(t, uint32(1), mem[entry+12])
	assert.Equal(t, "pci 00:05.0 msix 2", v.String())
	_, err = Scan(qemuLike())[0].MSIX(0)
	assert.ErrorIs(t, err, ErrNoMSI)
}

func TestRegistryMatchesAndAttaches(t *testing.T) {
	devs := Scan(qemuLike())
	var r Registry
	var attached []string
	r.Register(&Driver{Name: "broken", IDs: []ID{VendorDevice(0x8086, 0x100e)}, Attach: func(d *Device) error {
		return errors.New("no")
	}})
	r.Register(&Driver{Name: "em", IDs: []ID{VendorDevice(0x8086, 0x100e)}, Attach: func(d *Device) error {
		attached = append(attached, "em "+d.Addr.String())
		return nil
	}})
	r.Register(&Driver{Name: "net", IDs: []ID{ClassID(0x02, 0x00)}, Attach: func(d *Device) error {
		attached = append(attached, "net "+d.Addr.String())
		return nil
	}})
	r.AttachAll(devs)
	r.AttachAll(devs) // idempotent
	assert.Equal(t, []string{"em 00:02.0", "net 01:00.0"}, attached)
	assert.Equal(t, "em", devs[1].Driver)
	assert.NoError(t, devs[1].DriverErr)
	assert.Equal(t, "", devs[0].Driver)
	assert.Contains(t, devs[1].Summary(), "driver em")
	assert.Contains(t, devs[1].Summary(), "INTA irq 11")
}

func TestWrite16KeepsStatus(t *testing.T) {
	f := newFake()
	f.add(Addr{0, 1, 0}, 1, 2, 0, 0, 0)
	var writes []uint32
	c := &recordingConfig{Config: f, writes: &writes}
	write16(c, Addr{0, 1, 0}, COMMAND, CMD_BUS_MASTER)
	require.Len(t, writes, 1)
	assert.Equal(t, uint32(CMD_BUS_MASTER), writes[0], "STATUS half written as zeros (RW1C)")
}

type recordingConfig struct {
	Config
	writes *[]uint32
}

func (r *recordingConfig) Write32(a Addr, off uint16, v uint32) {
	*r.writes = append(*r.writes, v)
	r.Config.Write32(a, off, v)
}

func TestAssignBARs(t *testing.T) {
	f := newFake()
	a := f.add(Addr{0, 1, 0}, 0x1234, 0x11e8, 0xff, 0, 0)
	a.bar(0, 0, 0x100000, 0) // unassigned 1 MiB
	b := f.add(Addr{0, 2, 0}, 0x8086, 0x100e, 2, 0, 0)
	b.bar(0, 0, 0x20000, 0)
	b.bar(1, 0, 0x40, BAR_IO)
	c := f.add(Addr{0, 3, 0}, 0x8086, 0x100e, 2, 0, 0)
	c.bar(0, 0xe0000000, 0x20000, 0) // already placed by the firmware
	devs := Scan(f)
	errs := AssignBARs(devs, Window{0xe0000000, 0xe0400000}, Window{0xc000, 0x10000}, []Window{{0xe0100000, 0xe0120000}})
	assert.Empty(t, errs)
	// 1 MiB aligned: 0xe0000000 holds the firmware's BAR, 0xe0100000 is
	// reserved.
	assert.Equal(t, uint64(0xe0200000), devs[0].BARs[0].Addr)
	// The 128 KiB BAR: after the firmware's 0xe0000000+0x20000.
	assert.Equal(t, uint64(0xe0020000), devs[1].BARs[0].Addr)
	assert.Equal(t, uint64(0xc000), devs[1].BARs[1].Addr)
	// Written to the device, and what Scan reads back now agrees.
	again := Scan(f)
	assert.Equal(t, devs[1].BARs, again[1].BARs)
	assert.Equal(t, devs[0].BARs, again[0].BARs)

	full := AssignBARs(Scan(newFakeWithBAR(0x200000)), Window{0xe0000000, 0xe0100000}, Window{}, nil)
	assert.Len(t, full, 1)
}

func newFakeWithBAR(size uint32) *fakeConfig {
	f := newFake()
	f.add(Addr{0, 1, 0}, 1, 2, 0, 0, 0).bar(0, 0, size, 0)
	return f
}
