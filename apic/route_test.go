package apic

import (
	"os"
	"testing"

	"github.com/smpgo/smpgo/arch/amd64/acpi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedirectionEncoding(t *testing.T) {
	e := Redirection(Route{GSI: 9, ActiveLow: true, Level: true}, 0x41, 3, false)
	// vector 0x41, fixed, physical, INTPOL (bit 13), TRIGGER (bit 15), dest 3 in 63:56
	assert.Equal(t, RedirEntry(0x0300_0000_0000_a041), e)
	assert.Equal(t, uint8(0x41), e.Vector())
	assert.Equal(t, uint8(3), e.Dest())
	assert.True(t, e.Level())
	assert.True(t, e.ActiveLow())
	assert.False(t, e.Masked())

	m := Redirection(Route{GSI: 2}, 0x30, 0, true)
	assert.Equal(t, RedirEntry(0x1_0030), m, "edge, high, masked")
	assert.True(t, m.Masked())
	assert.False(t, m.Level())
	assert.Equal(t, "vec 0x30 dest 0 edge/high masked=true", m.String())
	assert.True(t, RedirEntry(1<<REDTBL_RIRR).RemoteIRR())
}

func loadMADT(t *testing.T, dump string) *acpi.MADT {
	t.Helper()
	b, err := os.ReadFile("../arch/amd64/acpi/testdata/" + dump + "/APIC.bin")
	require.NoError(t, err)
	m, err := acpi.ParseMADT(b)
	require.NoError(t, err)
	return m
}

// QEMU's MADT (hw/i386/acpi-common.c) overrides IRQ 0 to GSI 2 and makes
// the PCI-shared IRQs 5, 9, 10 and 11 level, active high; everything else
// is the ISA default.
func TestISARoutesFromQEMUMADT(t *testing.T) {
	for _, dump := range []string{"pc-smp1", "q35-smp4"} {
		t.Run(dump, func(t *testing.T) {
			r := ISARoutes(loadMADT(t, dump))
			assert.Equal(t, Route{GSI: 2}, r[0], "timer override")
			assert.Equal(t, Route{GSI: 1}, r[1])
			assert.Equal(t, Route{GSI: 8}, r[8], "RTC: identity, edge")
			for _, irq := range []int{5, 9, 10, 11} {
				assert.Equal(t, Route{GSI: uint32(irq), Level: true}, r[irq], "IRQ %d", irq)
			}
			assert.Equal(t, "gsi 9 level/high", r[9].String())
		})
	}
}

func TestISARoutesOverrides(t *testing.T) {
	m := &acpi.MADT{InterruptSourceOverrides: []acpi.InterruptSourceOverride{
		{Bus: 0, Source: 9, GlobalSystemInterrupt: 20, Flags: 0b1111}, // level, active low
		{Bus: 1, Source: 4, GlobalSystemInterrupt: 30},                // not ISA: ignored
		{Bus: 0, Source: 3, GlobalSystemInterrupt: 3, Flags: 0b0010},  // reserved polarity: ISA default
	}}
	r := ISARoutes(m)
	assert.Equal(t, Route{GSI: 20, ActiveLow: true, Level: true}, r[9])
	assert.Equal(t, Route{GSI: 4}, r[4])
	assert.Equal(t, Route{GSI: 3}, r[3])
	assert.Equal(t, ISARoutes(nil)[7], Route{GSI: 7})
}

func TestMSIMessage(t *testing.T) {
	assert.Equal(t, uint64(0xfee03000), MSIAddress(3))
	assert.Equal(t, uint32(0x45), MSIData(0x45))
	d, v := MSIDecode(MSIAddress(7), MSIData(0xe1))
	assert.Equal(t, uint8(7), d)
	assert.Equal(t, uint8(0xe1), v)
}

func TestVectorSetSpreadsClasses(t *testing.T) {
	s := NewVectorSet(2)
	seen := map[uint8]bool{}
	classes := map[uint8]int{}
	for i := 0; i < 12; i++ { // 12 device classes: 0x3_ .. 0xe_
		v, err := s.Alloc(0)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, v, uint8(VecDeviceFirst))
		assert.LessOrEqual(t, v, uint8(VecDeviceLast))
		assert.False(t, seen[v])
		seen[v] = true
		classes[v>>4]++
	}
	assert.Len(t, classes, 12, "one vector per priority class first")
	assert.Equal(t, 12, s.InUse(0))
	assert.Equal(t, 0, s.InUse(1), "vectors are per CPU")
	v, err := s.Alloc(1)
	require.NoError(t, err)
	assert.Equal(t, uint8(VecDeviceFirst), v, "CPU 1 starts afresh")
}

func TestVectorSetExhaustAndFree(t *testing.T) {
	s := NewVectorSet(1)
	n := VecDeviceLast - VecDeviceFirst + 1
	var got []uint8
	for i := 0; i < n; i++ {
		v, err := s.Alloc(0)
		require.NoError(t, err)
		got = append(got, v)
	}
	_, err := s.Alloc(0)
	assert.ErrorIs(t, err, ErrNoVector)
	s.Free(0, got[17])
	v, err := s.Alloc(0)
	require.NoError(t, err)
	assert.Equal(t, got[17], v)
	assert.False(t, s.Reserve(0, v))
	s.Free(0, 0x99)
	assert.True(t, s.Reserve(0, 0x99))
	_, err = s.Alloc(5)
	assert.Error(t, err)
}
