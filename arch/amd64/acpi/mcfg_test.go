package acpi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMCFG(t *testing.T) {
	m, err := ParseMCFG(mcfg(
		alloc{base: 0xb0000000, seg: 0, start: 0, end: 0xff},
		alloc{base: 0x3_8000_0000, seg: 1, start: 0x80, end: 0x8f},
	))
	require.NoError(t, err)
	require.Equal(t, "MCFG", m.Header.Signature)
	require.Equal(t, []MCFGAllocation{
		{BaseAddress: 0xb0000000, PCISegmentGroupNumber: 0, StartBusNumber: 0, EndBusNumber: 0xff},
		{BaseAddress: 0x3_8000_0000, PCISegmentGroupNumber: 1, StartBusNumber: 0x80, EndBusNumber: 0x8f},
	}, m.Allocations)

	m, err = ParseMCFG(mcfg())
	require.NoError(t, err)
	require.Empty(t, m.Allocations)
}

func TestMCFGMalformed(t *testing.T) {
	b := table("MCFG", 1, le(uint64(0)), le(uint64(0xb0000000), uint16(0), uint8(0), uint8(0xff), uint32(0)), []byte{1, 2, 3})
	_, err := ParseMCFG(b)
	var ee *EntryError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 60, ee.Offset)
	require.Equal(t, 3, ee.Length)

	_, err = ParseMCFG(table("MCFG", 1, le(uint32(0))))
	var lerr *LengthError
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, 44, lerr.Min)
}
