package acpi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMADTEveryEntryType(t *testing.T) {
	unknown := entry(MADT_LOCAL_SAPIC, uint8(1), uint8(2), uint8(3), uint8(4), uint32(5), uint32(6), uint8(0))
	m, err := ParseMADT(madt(0xfee00000, PCAT_COMPAT,
		lapicEntry(0, 0, LAPIC_ENABLED),
		lapicEntry(1, 1, LAPIC_ONLINE_CAPABLE),
		ioapicEntry(2, 0xfec00000, 0),
		ioapicEntry(3, 0xfec01000, 24),
		isoEntry(0, 0, 2, 0),
		isoEntry(0, 9, 9, 0xf),
		nmiSourceEntry(0x5, 23),
		lapicNMIEntry(0xff, 0x5, 1),
		lapicAddrOverrideEntry(0x1_fee0_0000),
		unknown,
		x2apicEntry(0x100, LAPIC_ENABLED, 2),
		x2apicNMIEntry(0xf, 0xffffffff, 1),
		lapicAddrOverrideEntry(0x2_fee0_0000), // a second override: the first wins
	))
	require.NoError(t, err)

	require.Equal(t, "APIC", m.Header.Signature)
	require.Equal(t, uint32(0xfee00000), m.LocalApicAddress)
	require.True(t, m.PCATCompat())
	require.Equal(t, uint64(0x1_fee0_0000), m.EffectiveLocalApicAddress())

	require.Equal(t, []LocalApic{{0, 0, LAPIC_ENABLED}, {1, 1, LAPIC_ONLINE_CAPABLE}}, m.LocalApics)
	require.True(t, m.LocalApics[0].Enabled())
	require.False(t, m.LocalApics[0].OnlineCapable())
	require.False(t, m.LocalApics[1].Enabled())
	require.True(t, m.LocalApics[1].OnlineCapable())

	require.Equal(t, []IoApic{
		{IoApicID: 2, IoApicAddress: 0xfec00000, GlobalSystemInterruptBase: 0},
		{IoApicID: 3, IoApicAddress: 0xfec01000, GlobalSystemInterruptBase: 24},
	}, m.IoApics)

	require.Equal(t, []InterruptSourceOverride{
		{Bus: 0, Source: 0, GlobalSystemInterrupt: 2, Flags: 0},
		{Bus: 0, Source: 9, GlobalSystemInterrupt: 9, Flags: 0xf},
	}, m.InterruptSourceOverrides)

	require.Equal(t, []NMISource{{Flags: 0x5, GlobalSystemInterrupt: 23}}, m.NMISources)
	require.Equal(t, []LocalApicNMI{{ProcessorUID: 0xff, Flags: 0x5, LINT: 1}}, m.LocalApicNMIs)
	require.True(t, m.LocalApicNMIs[0].AllProcessors())

	require.Equal(t, []LocalX2Apic{{X2ApicID: 0x100, Flags: LAPIC_ENABLED, ProcessorUID: 2}}, m.LocalX2Apics)
	require.True(t, m.LocalX2Apics[0].Enabled())
	require.False(t, m.LocalX2Apics[0].OnlineCapable())
	require.Equal(t, []LocalX2ApicNMI{{Flags: 0xf, ProcessorUID: 0xffffffff, LINT: 1}}, m.LocalX2ApicNMIs)
	require.True(t, m.LocalX2ApicNMIs[0].AllProcessors())
	require.False(t, LocalX2ApicNMI{ProcessorUID: 3}.AllProcessors())

	// Entries keeps table order and every structure, unknown ones too.
	var types []uint8
	for _, e := range m.Entries {
		types = append(types, e.Type())
	}
	require.Equal(t, []uint8{0, 0, 1, 1, 2, 2, 3, 4, 5, 7, 9, 0xa, 5}, types)
	require.Equal(t, UnknownEntry{EntryType: MADT_LOCAL_SAPIC, Data: unknown}, m.Entries[9])
}

func TestMADTNoOverride(t *testing.T) {
	m, err := ParseMADT(madt(0xfee00000, 0))
	require.NoError(t, err)
	require.False(t, m.PCATCompat())
	require.Equal(t, uint64(0xfee00000), m.EffectiveLocalApicAddress())
	require.Empty(t, m.Entries)
}

func TestMPSINTIFlags(t *testing.T) {
	for _, c := range []struct {
		f         MPSINTIFlags
		pol       Polarity
		trig      TriggerMode
		low, lvl  bool
		formatted string
	}{
		{0x0, PolarityConforms, TriggerConforms, false, false, "conforms,conforms"},
		{0x5, PolarityActiveHigh, TriggerEdge, false, false, "active-high,edge"},
		{0xf, PolarityActiveLow, TriggerLevel, true, true, "active-low,level"},
		{0xd, PolarityActiveHigh, TriggerLevel, false, true, "active-high,level"},
		{0xa, PolarityReserved, TriggerReserved, false, false, "reserved,reserved"},
		{0x3, PolarityActiveLow, TriggerConforms, true, false, "active-low,conforms"},
	} {
		require.Equal(t, c.pol, c.f.Polarity(), "%#x", c.f)
		require.Equal(t, c.trig, c.f.TriggerMode(), "%#x", c.f)
		low, lvl := c.f.ISA()
		require.Equal(t, c.low, low, "%#x", c.f)
		require.Equal(t, c.lvl, lvl, "%#x", c.f)
		require.Equal(t, c.formatted, c.f.String())
	}
}

func TestISAInterrupt(t *testing.T) {
	m, err := ParseMADT(madt(0xfee00000, PCAT_COMPAT,
		isoEntry(0, 0, 2, 0),
		isoEntry(0, 9, 9, 0xf),
		isoEntry(1, 4, 40, 0xf), // not ISA: ignored for IRQ 4
	))
	require.NoError(t, err)
	for _, c := range []struct {
		irq      uint8
		gsi      uint32
		low, lvl bool
	}{
		{0, 2, false, false}, // PIT on GSI 2, conforming: ISA edge/high
		{9, 9, true, true},   // SCI: level, active low
		{4, 4, false, false}, // no override: identity
		{1, 1, false, false},
	} {
		gsi, low, lvl := m.ISAInterrupt(c.irq)
		require.Equal(t, c.gsi, gsi, "IRQ %d", c.irq)
		require.Equal(t, c.low, low, "IRQ %d", c.irq)
		require.Equal(t, c.lvl, lvl, "IRQ %d", c.irq)
	}
}

func TestMADTMalformedEntries(t *testing.T) {
	for _, c := range []struct {
		name   string
		tail   []byte
		length int
		reason string
	}{
		{"length 0", []byte{0, 0, 0, 0, 0, 0, 0, 0}, 0, "length below 2"},
		{"length 1", []byte{1, 1}, 1, "length below 2"},
		{"past the end", []byte{0, 8, 0, 0}, 8, "runs past the end"},
		{"lone type byte", []byte{0}, -1, "ends inside the entry header"},
		{"short LAPIC", entry(0, uint8(0), uint8(0)), 4, "shorter than the 8 bytes"},
		{"short I/O APIC", entry(1, uint8(0), uint8(0), uint32(0)), 8, "shorter than the 12 bytes"},
		{"short ISO", entry(2, uint8(0), uint8(0), uint32(0)), 8, "shorter than the 10 bytes"},
		{"short NMI source", entry(3, uint16(0)), 4, "shorter than the 8 bytes"},
		{"short LAPIC NMI", entry(4, uint8(0), uint16(0)), 5, "shorter than the 6 bytes"},
		{"short address override", entry(5, uint16(0), uint32(0)), 8, "shorter than the 12 bytes"},
		{"short x2APIC", entry(9, uint16(0), uint32(0), uint32(0)), 12, "shorter than the 16 bytes"},
		{"short x2APIC NMI", entry(0xa, uint16(0), uint32(0)), 8, "shorter than the 12 bytes"},
	} {
		b := madt(0xfee00000, 0, append(lapicEntry(0, 0, 1), c.tail...))
		_, err := ParseMADT(b)
		var ee *EntryError
		require.ErrorAs(t, err, &ee, c.name)
		require.Equal(t, "APIC", ee.Signature, c.name)
		require.Equal(t, 44+8, ee.Offset, c.name)
		require.Equal(t, c.tail[0], ee.Type, c.name)
		require.Equal(t, c.length, ee.Length, c.name)
		require.Contains(t, ee.Reason, c.reason, c.name)
	}
}

func TestMADTLongerEntriesAccepted(t *testing.T) {
	// A later revision may append fields: the known prefix is decoded
	// and the next entry found by Length.
	long := entry(0, uint8(3), uint8(4), uint32(LAPIC_ENABLED), uint32(0xdeadbeef))
	m, err := ParseMADT(madt(0xfee00000, 0, long, ioapicEntry(1, 0xfec00000, 0)))
	require.NoError(t, err)
	require.Equal(t, []LocalApic{{ProcessorUID: 3, ApicID: 4, Flags: LAPIC_ENABLED}}, m.LocalApics)
	require.Len(t, m.IoApics, 1)
}

func TestMADTTooShort(t *testing.T) {
	_, err := ParseMADT(table("APIC", 1, le(uint32(0xfee00000))))
	var lerr *LengthError
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, 40, lerr.Length)
	require.Equal(t, 44, lerr.Min)
}
