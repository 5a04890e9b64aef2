package virtio

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// configSpace is a fake PCI configuration space with vendor capabilities
// written as QEMU's virtio-pci lays them out.
type configSpace [256]byte

func (c *configSpace) read32(off uint16) uint32 { return binary.LittleEndian.Uint32(c[off:]) }

func (c *configSpace) putCap(at uint16, capLen, typ, bar uint8, offset, length uint32, extra ...uint32) {
	c[at], c[at+1], c[at+2], c[at+3], c[at+4] = 0x09, 0, capLen, typ, bar
	binary.LittleEndian.PutUint32(c[at+8:], offset)
	binary.LittleEndian.PutUint32(c[at+12:], length)
	for i, e := range extra {
		binary.LittleEndian.PutUint32(c[at+16+uint16(4*i):], e)
	}
}

func qemuLayout() (*configSpace, []uint16) {
	var c configSpace
	c.putCap(0x84, 16, PCI_CAP_COMMON_CFG, 4, 0x0000, 0x1000)
	c.putCap(0x70, 16, PCI_CAP_ISR_CFG, 4, 0x1000, 0x1000)
	c.putCap(0x60, 16, PCI_CAP_DEVICE_CFG, 4, 0x2000, 0x1000)
	c.putCap(0x4c, 20, PCI_CAP_NOTIFY_CFG, 4, 0x3000, 0x1000, 4)
	c.putCap(0x98, 20, PCI_CAP_PCI_CFG, 0, 0, 0)
	return &c, []uint16{0x84, 0x70, 0x60, 0x4c, 0x98}
}

func TestParseCapsQEMU(t *testing.T) {
	c, offs := qemuLayout()
	caps, err := ParseCaps(c.read32, offs)
	require.NoError(t, err)
	assert.Equal(t, Cap{At: 0x84, Type: PCI_CAP_COMMON_CFG, BAR: 4, Offset: 0, Length: 0x1000}, caps.Common)
	assert.Equal(t, Cap{At: 0x70, Type: PCI_CAP_ISR_CFG, BAR: 4, Offset: 0x1000, Length: 0x1000}, caps.ISR)
	assert.Equal(t, Cap{At: 0x4c, Type: PCI_CAP_NOTIFY_CFG, BAR: 4, Offset: 0x3000, Length: 0x1000, NotifyOffMultiplier: 4}, caps.Notify)
	assert.True(t, caps.HasDevice)
	assert.Equal(t, uint32(0x2000), caps.Device.Offset)

	o, err := caps.NotifyOffset(1)
	require.NoError(t, err)
	assert.Equal(t, uint32(0x3004), o)
	_, err = caps.NotifyOffset(0x400)
	assert.Error(t, err, "beyond the notify structure")
}

func TestParseCapsFirstUsableWins(t *testing.T) {
	c, offs := qemuLayout()
	// An earlier common capability naming a reserved BAR is skipped
	// (§4.1.4.1); a later duplicate is ignored.
	c.putCap(0xc0, 16, PCI_CAP_COMMON_CFG, 7, 0x100, 0x1000)
	c.putCap(0xd0, 16, PCI_CAP_COMMON_CFG, 2, 0x200, 0x1000)
	caps, err := ParseCaps(c.read32, append([]uint16{0xc0}, append(offs, 0xd0)...))
	require.NoError(t, err)
	assert.Equal(t, uint16(0x84), caps.Common.At)
}

func TestParseCapsErrors(t *testing.T) {
	c, offs := qemuLayout()
	_, err := ParseCaps(c.read32, offs[1:])
	assert.ErrorContains(t, err, "no common configuration")

	c, offs = qemuLayout()
	c.putCap(0x84, 16, PCI_CAP_COMMON_CFG, 4, 0, 0x20)
	_, err = ParseCaps(c.read32, offs)
	assert.ErrorContains(t, err, "common configuration of 32 bytes")

	c, offs = qemuLayout()
	c.putCap(0x4c, 16, PCI_CAP_NOTIFY_CFG, 4, 0x3000, 0x1000)
	_, err = ParseCaps(c.read32, offs)
	assert.ErrorContains(t, err, "notify capability of 16 bytes")

	c, offs = qemuLayout()
	c[0x4c+2] = 8 // truncated: not taken as a virtio structure
	_, err = ParseCaps(c.read32, offs)
	assert.ErrorContains(t, err, "no notify")

	var empty configSpace
	_, err = ParseCaps(empty.read32, nil)
	assert.Error(t, err)
}
