package acpi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// tablesOf builds Tables straight from table bytes, as Load would.
func tablesOf(t *testing.T, tables ...[]byte) *Tables {
	t.Helper()
	tb := &Tables{}
	for i, b := range tables {
		tb.add(uint64(i+1)*tableSlot, b)
	}
	require.Empty(t, tb.Errors)
	return tb
}

func TestCPUs(t *testing.T) {
	tb := tablesOf(t,
		madt(0xfee00000, 0,
			lapicEntry(5, 2, LAPIC_ENABLED), // the BSP first, whatever its ID
			x2apicEntry(0x300, LAPIC_ENABLED, 9),
			lapicEntry(0, 0, LAPIC_ENABLED),
			lapicEntry(1, 1, 0),                    // absent
			lapicEntry(6, 6, LAPIC_ONLINE_CAPABLE), // hot-add later
			x2apicEntry(0, LAPIC_ENABLED, 10),      // APIC ID 0 again: dropped
			x2apicEntry(0x301, 0, 11),
		),
		srat(3,
			sratLapicEntry(3, 2, AFFINITY_ENABLED),
			sratLapicEntry(4, 0, 0), // disabled: ignored
			sratX2apicEntry(1, 0x300, AFFINITY_ENABLED),
		),
	)
	require.Equal(t, []CPU{
		{ApicID: 2, ProcessorUID: 5, Domain: 3},
		{ApicID: 0x300, ProcessorUID: 9, Domain: 1, X2Apic: true},
		{ApicID: 0, ProcessorUID: 0, Domain: 0},
	}, tb.CPUs())
	require.Equal(t, 4, tb.NumDomains())

	require.Nil(t, (&Tables{}).CPUs())
	require.Equal(t, 1, (&Tables{}).NumDomains())
}

func TestMemoryDomains(t *testing.T) {
	tb := tablesOf(t, srat(3,
		sratMemEntry(2, 0x8000_0000, 0x1000_0000, MEMORY_ENABLED),
		sratMemEntry(0, 0x10_0000, 0x7ff0_0000, MEMORY_ENABLED),
		sratMemEntry(0, 0, 0xa_0000, MEMORY_ENABLED),
		sratMemEntry(2, 0x1_0000_0000, 0x4000_0000, MEMORY_ENABLED|MEMORY_HOT_PLUGGABLE),
		sratMemEntry(3, 0x2_0000_0000, 0x1000, MEMORY_ENABLED|MEMORY_NON_VOLATILE),
		sratMemEntry(7, 0x3_0000_0000, 0x1000, 0), // disabled
		sratMemEntry(8, 0, 0, MEMORY_ENABLED),     // empty
		sratLapicEntry(1, 0, AFFINITY_ENABLED),    // a CPU-only domain
		sratX2apicEntry(9, 0x100, 0),              // disabled
		sratLapicEntry(0xa, 1, 0),                 // disabled
	))
	require.Equal(t, 4, tb.NumDomains())
	require.Equal(t, [][]MemoryRange{
		{{Domain: 0, Base: 0, Length: 0xa_0000}, {Domain: 0, Base: 0x10_0000, Length: 0x7ff0_0000}},
		nil,
		{{Domain: 2, Base: 0x8000_0000, Length: 0x1000_0000}, {Domain: 2, Base: 0x1_0000_0000, Length: 0x4000_0000, HotPluggable: true}},
		{{Domain: 3, Base: 0x2_0000_0000, Length: 0x1000, NonVolatile: true}},
	}, tb.MemoryDomains())

	// A SLIT with more localities than the SRAT names widens the count.
	tb = tablesOf(t, srat(3, sratLapicEntry(1, 0, AFFINITY_ENABLED)), slit(
		[]uint8{10, 20, 20}, []uint8{20, 10, 20}, []uint8{20, 20, 10}))
	require.Equal(t, 3, tb.NumDomains())
	require.Len(t, tb.MemoryDomains(), 3)
}
