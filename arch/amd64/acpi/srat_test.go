package acpi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSRATEveryEntryType(t *testing.T) {
	s, err := ParseSRAT(srat(3,
		sratLapicEntry(0x01020304, 5, AFFINITY_ENABLED),
		sratMemEntry(0x01020304, 0x1_0000_0000, 0x2_0000_0000, MEMORY_ENABLED|MEMORY_HOT_PLUGGABLE|MEMORY_NON_VOLATILE),
		sratX2apicEntry(7, 0x200, AFFINITY_ENABLED),
		entry(3, uint32(0), uint32(0), uint32(0), uint32(0)), // GICC affinity: skipped
		sratLapicEntry(2, 6, 0),
	))
	require.NoError(t, err)
	require.Equal(t, "SRAT", s.Header.Signature)
	require.Equal(t, []ProcessorLocalApicAffinity{
		{ProximityDomain: 0x01020304, ApicID: 5, Flags: AFFINITY_ENABLED},
		{ProximityDomain: 2, ApicID: 6, Flags: 0},
	}, s.ProcessorLocalApicAffinities)
	require.True(t, s.ProcessorLocalApicAffinities[0].Enabled())
	require.False(t, s.ProcessorLocalApicAffinities[1].Enabled())

	require.Equal(t, []MemoryAffinity{{
		ProximityDomain: 0x01020304, BaseAddress: 0x1_0000_0000, Length: 0x2_0000_0000,
		Flags: MEMORY_ENABLED | MEMORY_HOT_PLUGGABLE | MEMORY_NON_VOLATILE,
	}}, s.MemoryAffinities)
	ma := s.MemoryAffinities[0]
	require.True(t, ma.Enabled())
	require.True(t, ma.HotPluggable())
	require.True(t, ma.NonVolatile())

	require.Equal(t, []ProcessorLocalX2ApicAffinity{{ProximityDomain: 7, X2ApicID: 0x200, Flags: AFFINITY_ENABLED}}, s.ProcessorLocalX2ApicAffinities)
	require.True(t, s.ProcessorLocalX2ApicAffinities[0].Enabled())

	d, ok := s.ProcessorDomain(5)
	require.True(t, ok)
	require.Equal(t, uint32(0x01020304), d)
	d, ok = s.ProcessorDomain(0x200)
	require.True(t, ok)
	require.Equal(t, uint32(7), d)
	_, ok = s.ProcessorDomain(6) // disabled entry
	require.False(t, ok)
	_, ok = s.ProcessorDomain(99)
	require.False(t, ok)
}

func TestSRATClockDomainAndEID(t *testing.T) {
	e := entry(0, uint8(1), uint8(2), uint32(AFFINITY_ENABLED), uint8(9), uint8(0), uint8(0), uint8(0), uint32(0x55))
	s, err := ParseSRAT(srat(3, e, entry(2, uint16(0), uint32(1), uint32(3), uint32(1), uint32(0x66), uint32(0))))
	require.NoError(t, err)
	require.Equal(t, uint8(9), s.ProcessorLocalApicAffinities[0].LocalSapicEID)
	require.Equal(t, uint32(0x55), s.ProcessorLocalApicAffinities[0].ClockDomain)
	require.Equal(t, uint32(0x66), s.ProcessorLocalX2ApicAffinities[0].ClockDomain)
}

func TestSRATRevision1Domains(t *testing.T) {
	// Revision 1 defined only the low byte of the processor's and the
	// memory's proximity domain; the rest was reserved and is ignored.
	s, err := ParseSRAT(srat(1,
		sratLapicEntry(0xaabb0001, 0, AFFINITY_ENABLED),
		sratMemEntry(0xaabb0002, 0, 0x1000, MEMORY_ENABLED),
		sratX2apicEntry(0x10000, 1, AFFINITY_ENABLED), // x2APIC affinity is always 32 bits
	))
	require.NoError(t, err)
	require.Equal(t, uint32(1), s.ProcessorLocalApicAffinities[0].ProximityDomain)
	require.Equal(t, uint32(2), s.MemoryAffinities[0].ProximityDomain)
	require.Equal(t, uint32(0x10000), s.ProcessorLocalX2ApicAffinities[0].ProximityDomain)

	s, err = ParseSRAT(srat(2, sratLapicEntry(0xaabb0001, 0, 1), sratMemEntry(0xaabb0002, 0, 0x1000, 1)))
	require.NoError(t, err)
	require.Equal(t, uint32(0xaabb0001), s.ProcessorLocalApicAffinities[0].ProximityDomain)
	require.Equal(t, uint32(0xaabb0002), s.MemoryAffinities[0].ProximityDomain)
}

func TestSRATMalformed(t *testing.T) {
	for _, c := range []struct {
		name   string
		e      []byte
		reason string
	}{
		{"short processor", entry(0, uint8(0), uint8(0), uint32(1)), "shorter than the 16 bytes"},
		{"short memory", entry(1, uint32(0), uint16(0), uint64(0), uint64(0)), "shorter than the 40 bytes"},
		{"short x2APIC", entry(2, uint16(0), uint32(0), uint32(0), uint32(1)), "shorter than the 24 bytes"},
		{"length 0", []byte{1, 0}, "length below 2"},
		{"truncated", sratMemEntry(0, 0, 1, 1)[:30], "runs past the end"},
	} {
		_, err := ParseSRAT(srat(3, sratLapicEntry(0, 0, 1), c.e))
		var ee *EntryError
		require.ErrorAs(t, err, &ee, c.name)
		require.Equal(t, "SRAT", ee.Signature, c.name)
		require.Equal(t, 48+16, ee.Offset, c.name)
		require.Contains(t, ee.Reason, c.reason, c.name)
	}

	_, err := ParseSRAT(table("SRAT", 3, le(uint32(1))))
	var lerr *LengthError
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, 48, lerr.Min)
}
