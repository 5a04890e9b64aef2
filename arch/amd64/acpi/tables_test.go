package acpi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Where the tests put things, roughly where SeaBIOS puts them for a
// 128 MiB QEMU guest.
const (
	rsdtAddr   = 0x7fe0000
	xsdtAddr   = 0x7fe0800
	tablesBase = 0x7fe1000
	tableSlot  = 0x1000
)

// machineTables returns the tables of a small QEMU-like machine: 4 CPUs
// (the fourth x2APIC) in 2 NUMA domains, one I/O APIC, the usual ISA
// overrides, PCIe ECAM, PM timer and HPET.
func machineTables() [][]byte {
	return [][]byte{
		fadt(244, 0x608, 4, 0x32, TMR_VAL_EXT, gas(1, 32, 0, 3, 0x608)),
		madt(0xfee00000, PCAT_COMPAT,
			lapicEntry(0, 0, LAPIC_ENABLED),
			lapicEntry(1, 1, LAPIC_ENABLED),
			lapicEntry(2, 2, LAPIC_ENABLED),
			ioapicEntry(0, 0xfec00000, 0),
			isoEntry(0, 0, 2, 0),
			isoEntry(0, 5, 5, 0xd),
			isoEntry(0, 9, 9, 0xd),
			lapicNMIEntry(0xff, 0, 1),
			x2apicEntry(0x100, LAPIC_ENABLED, 3),
			lapicEntry(4, 4, LAPIC_ONLINE_CAPABLE), // hot-pluggable, not present
		),
		srat(1,
			sratLapicEntry(0, 0, AFFINITY_ENABLED),
			sratLapicEntry(0, 1, AFFINITY_ENABLED),
			sratLapicEntry(1, 2, AFFINITY_ENABLED),
			sratX2apicEntry(1, 0x100, AFFINITY_ENABLED),
			sratMemEntry(0, 0, 0xa0000, MEMORY_ENABLED),
			sratMemEntry(0, 0x100000, 0x3f00000, MEMORY_ENABLED),
			sratMemEntry(1, 0x4000000, 0x4000000, MEMORY_ENABLED),
			sratMemEntry(1, 0, 0, 0), // QEMU's placeholder for an empty node
		),
		slit([]uint8{10, 20}, []uint8{20, 10}),
		mcfg(alloc{base: 0xb0000000, seg: 0, start: 0, end: 0xff}),
		hpet(0xfed00000),
		table("SSDT", 1, []byte("some AML")),
		table("WAET", 1, le(uint32(2))),
	}
}

// place maps each table in its own 4 KiB slot and returns the addresses.
func place(m *fakeMem, tables [][]byte) []uint64 {
	addrs := make([]uint64, len(tables))
	for i, b := range tables {
		addrs[i] = tablesBase + uint64(i)*tableSlot
		m.put(addrs[i], b)
	}
	return addrs
}

func to32(addrs []uint64) []uint32 {
	out := make([]uint32, len(addrs))
	for i, a := range addrs {
		out[i] = uint32(a)
	}
	return out
}

// machine returns memory holding machineTables listed by both an XSDT
// and an RSDT, and a revision 2 RSDP naming both.
func machine() (*fakeMem, RSDP, []uint64) {
	m := newFakeMem()
	addrs := place(m, machineTables())
	m.put(xsdtAddr, xsdt(addrs...))
	m.put(rsdtAddr, rsdt(to32(addrs)...))
	r, err := ParseRSDP(rsdpV2(rsdtAddr, xsdtAddr))
	if err != nil {
		panic(err)
	}
	return m, r, addrs
}

func TestLoadXSDT(t *testing.T) {
	m, r, addrs := machine()
	tb, err := Load(m, r)
	require.NoError(t, err)
	require.Empty(t, tb.Errors)
	require.Equal(t, SIG_XSDT, tb.Root.Header.Signature)
	require.Equal(t, uint64(xsdtAddr), tb.RootAddress)
	require.Equal(t, addrs, tb.Root.Entries)
	require.Len(t, tb.All, 8)
	var sigs []string
	for i, x := range tb.All {
		require.Equal(t, addrs[i], x.Address)
		sigs = append(sigs, x.Header.Signature)
	}
	require.Equal(t, []string{"FACP", "APIC", "SRAT", "SLIT", "MCFG", "HPET", "SSDT", "WAET"}, sigs)
	require.NotNil(t, tb.FADT)
	require.NotNil(t, tb.MADT)
	require.NotNil(t, tb.SRAT)
	require.NotNil(t, tb.SLIT)
	require.NotNil(t, tb.MCFG)
	require.NotNil(t, tb.HPET)

	require.Equal(t, []CPU{
		{ApicID: 0, ProcessorUID: 0, Domain: 0},
		{ApicID: 1, ProcessorUID: 1, Domain: 0},
		{ApicID: 2, ProcessorUID: 2, Domain: 1},
		{ApicID: 0x100, ProcessorUID: 3, Domain: 1, X2Apic: true},
	}, tb.CPUs())
	require.Equal(t, 2, tb.NumDomains())
	require.Equal(t, [][]MemoryRange{
		{{Domain: 0, Base: 0, Length: 0xa0000}, {Domain: 0, Base: 0x100000, Length: 0x3f00000}},
		{{Domain: 1, Base: 0x4000000, Length: 0x4000000}},
	}, tb.MemoryDomains())
	require.Equal(t, 20, tb.Distance(0, 1))
	require.Equal(t, 10, tb.Distance(1, 1))

	reg, ok := tb.FADT.PMTimer()
	require.True(t, ok)
	require.Equal(t, GenericAddress{AddressSpaceID: AddressSpaceSystemIO, RegisterBitWidth: 32, AccessSize: 3, Address: 0x608}, reg)
	require.Equal(t, 32, tb.FADT.TimerBits())
	require.Equal(t, uint8(0x32), tb.FADT.CENTURY)
	require.Equal(t, uint64(0xfed00000), tb.HPET.BaseAddress.Address)
	require.Equal(t, []MCFGAllocation{{BaseAddress: 0xb0000000, EndBusNumber: 0xff}}, tb.MCFG.Allocations)
}

func TestLoadRSDT(t *testing.T) {
	m, _, addrs := machine()
	// The RSDT lists only the MADT: a revision 0 RSDP must lead there
	// and never to the XSDT.
	m.put(rsdtAddr, rsdt(uint32(addrs[1])))
	r, err := ParseRSDP(rsdpV1(rsdtAddr))
	require.NoError(t, err)
	tb, err := Load(m, r)
	require.NoError(t, err)
	require.Empty(t, tb.Errors)
	require.Equal(t, SIG_RSDT, tb.Root.Header.Signature)
	require.Equal(t, uint64(rsdtAddr), tb.RootAddress)
	require.Equal(t, []uint64{addrs[1]}, tb.Root.Entries)
	require.NotNil(t, tb.MADT)
	require.Nil(t, tb.FADT)
	require.Nil(t, tb.SRAT)

	// Revision 2 with XsdtAddress 0 uses the RSDT as well.
	r, err = ParseRSDP(rsdpV2(rsdtAddr, 0))
	require.NoError(t, err)
	tb, err = Load(m, r)
	require.NoError(t, err)
	require.Equal(t, SIG_RSDT, tb.Root.Header.Signature)

	// Without an SRAT every CPU is in domain 0 and there is one domain.
	require.Len(t, tb.CPUs(), 4)
	for _, c := range tb.CPUs() {
		require.Zero(t, c.Domain)
	}
	require.Equal(t, 1, tb.NumDomains())
	require.Nil(t, tb.MemoryDomains())
	require.Equal(t, DefaultRemoteDistance, tb.Distance(0, 1))
	require.Equal(t, SLIT_LOCAL, tb.Distance(0, 0))
}

func TestLoadXSDTFallsBackToRSDT(t *testing.T) {
	m, r, addrs := machine()
	x := xsdt(addrs...)
	x[9]++ // checksum
	m.put(xsdtAddr, x)
	tb, err := Load(m, r)
	require.NoError(t, err)
	require.Equal(t, SIG_RSDT, tb.Root.Header.Signature)
	require.Len(t, tb.Errors, 1)
	require.Equal(t, SIG_XSDT, tb.Errors[0].Signature)
	require.Equal(t, uint64(xsdtAddr), tb.Errors[0].Address)
	var ce *ChecksumError
	require.ErrorAs(t, tb.Errors[0], &ce)
	require.Len(t, tb.All, 8)

	// Without an RSDT to fall back to, a bad XSDT is fatal.
	r.RsdtAddress = 0
	_, err = Load(m, r)
	require.ErrorAs(t, err, &ce)

	// And so is a bad RSDT.
	r, _ = ParseRSDP(rsdpV1(rsdtAddr))
	rs := rsdt(to32(addrs)...)
	rs[9]++
	m.put(rsdtAddr, rs)
	_, err = Load(m, r)
	require.ErrorAs(t, err, &ce)
}

func TestLoadRootErrors(t *testing.T) {
	m, _, addrs := machine()
	_, err := Load(m, RSDP{Revision: 2})
	require.ErrorIs(t, err, ErrNoRootTable)

	// An RSDT where the XSDT should be.
	m.put(xsdtAddr, rsdt(to32(addrs)...))
	_, err = Load(m, RSDP{Revision: 2, XsdtAddress: xsdtAddr})
	var se *SignatureError
	require.ErrorAs(t, err, &se)
	require.Equal(t, SIG_XSDT, se.Want)
	require.Equal(t, SIG_RSDT, se.Got)

	// Nothing mapped at the RSDT.
	_, err = Load(m, RSDP{RsdtAddress: 0x1234000})
	require.ErrorContains(t, err, "0x1234000")
}

func TestLoadSkipsBadTables(t *testing.T) {
	m, r, addrs := machine()

	// FADT: bad checksum.
	f := machineTables()[0]
	f[20]++
	m.put(addrs[0], f)
	// MADT: valid checksum, malformed entry; listed again afterwards in
	// a valid form, which is then used.
	m.put(addrs[1], madt(0xfee00000, 0, lapicEntry(0, 0, 1), []byte{9, 1}))
	goodMADT := madt(0xfee00000, 0, lapicEntry(0, 7, 1))
	// SRAT: Length beyond MaxTableLength.
	s := machineTables()[2]
	s[4], s[5], s[6], s[7] = 0, 0, 0, 0x40
	m.put(addrs[2], s)
	// SLIT: Length past the mapped bytes (a read error).
	sl := machineTables()[3]
	sl[4] += 100
	m.put(addrs[3], sl)
	// A duplicate MCFG, ignored.
	dupMCFG := mcfg(alloc{base: 0xe0000000})

	extra := []uint64{0, 0x9990000, 0x7ff0000, 0x7ff1000, 0x7ff2000}
	m.put(0x7ff0000, goodMADT)
	m.put(0x7ff1000, dupMCFG)
	tiny := table("TINY", 1)
	tiny[4] = 8 // Length below the header's
	m.put(0x7ff2000, tiny)
	m.put(xsdtAddr, xsdt(append(addrs, extra...)...))

	tb, err := Load(m, r)
	require.NoError(t, err)

	got := map[string]error{}
	for _, e := range tb.Errors {
		require.NotContains(t, got, e.Signature)
		got[e.Signature] = e.Err
	}
	require.Len(t, got, 6)
	var ce *ChecksumError
	require.ErrorAs(t, got["FACP"], &ce)
	var ee *EntryError
	require.ErrorAs(t, got["APIC"], &ee)
	require.Equal(t, 44+8, ee.Offset)
	require.Equal(t, uint8(9), ee.Type)
	var lerr *LengthError
	require.ErrorAs(t, got["SRAT"], &lerr)
	require.Equal(t, MaxTableLength, lerr.Max)
	require.ErrorContains(t, got["SLIT"], "fakeMem")
	require.ErrorContains(t, got["????"], "0x9990000")
	require.ErrorAs(t, got["TINY"], &lerr)
	require.Equal(t, 8, lerr.Length)

	require.Nil(t, tb.FADT)
	require.Nil(t, tb.SRAT)
	require.Nil(t, tb.SLIT)
	require.NotNil(t, tb.MADT)
	require.Equal(t, uint64(0x7ff0000), tb.All[findTable(tb, "APIC", 1)].Address)
	require.Equal(t, []CPU{{ApicID: 7}}, tb.CPUs())
	require.Equal(t, uint64(0xb0000000), tb.MCFG.Allocations[0].BaseAddress)
	// All holds the malformed MADT too (valid checksum), but not the
	// FADT, SRAT or SLIT.
	require.Equal(t, 0, findTable(tb, "APIC", 0))
	require.Equal(t, -1, findTable(tb, "FACP", 0))
}

// findTable returns the index in t.All of the n-th (from 0) table with
// signature sig, or -1.
func findTable(t *Tables, sig string, n int) int {
	for i, x := range t.All {
		if x.Header.Signature == sig {
			if n == 0 {
				return i
			}
			n--
		}
	}
	return -1
}

func TestParseTable(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want any
	}{
		{machineTables()[0], &FADT{}},
		{machineTables()[1], &MADT{}},
		{machineTables()[2], &SRAT{}},
		{machineTables()[3], &SLIT{}},
		{machineTables()[4], &MCFG{}},
		{machineTables()[5], &HPET{}},
		{rsdt(1, 2), &RootTable{}},
		{xsdt(1, 2), &RootTable{}},
		{machineTables()[6], Header{}},
	} {
		v, err := ParseTable(append(c.b, 0xff, 0xff)) // trailing bytes ignored
		require.NoError(t, err, string(c.b[:4]))
		require.IsType(t, c.want, v, string(c.b[:4]))
	}

	h, err := ParseTable(machineTables()[6])
	require.NoError(t, err)
	require.Equal(t, Header{Signature: "SSDT", Length: 44, Revision: 1, Checksum: h.(Header).Checksum,
		OEMID: "SMPGO ", OEMTableID: "TESTTBL ", OEMRevision: 1, CreatorID: "SMPG", CreatorRevision: 0x20260101}, h)
	require.Contains(t, h.(Header).String(), `SSDT rev 1 len 44 OEM "SMPGO " "TESTTBL "`)

	// Errors yield a nil interface, not a typed nil.
	bad := madt(0, 0, []byte{0, 0})
	v, err := ParseTable(bad)
	require.Error(t, err)
	require.Nil(t, v)

	var lerr *LengthError
	_, err = ParseTable([]byte("APIC"))
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, "APIC", lerr.Signature)
	_, err = ParseTable(madt(0, 0)[:40])
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, 44, lerr.Length)
	require.Equal(t, 40, lerr.Max)
	_, err = ParseTable(nil)
	require.ErrorAs(t, err, &lerr)
}

func TestParseRootTable(t *testing.T) {
	r, err := ParseRootTable(rsdt(0x1000, 0x2000))
	require.NoError(t, err)
	require.Equal(t, []uint64{0x1000, 0x2000}, r.Entries)

	// A trailing partial entry is ignored.
	x := table("XSDT", 1, le(uint64(0x1_0000_0000), uint32(7)))
	r, err = ParseRootTable(x)
	require.NoError(t, err)
	require.Equal(t, []uint64{0x1_0000_0000}, r.Entries)

	_, err = ParseRootTable(madt(0, 0))
	var se *SignatureError
	require.ErrorAs(t, err, &se)
}

func TestTypedParsersCheckSignature(t *testing.T) {
	m := madt(0, 0)
	var se *SignatureError
	_, err := ParseSRAT(m)
	require.ErrorAs(t, err, &se)
	require.Equal(t, "SRAT", se.Want)
	_, err = ParseSLIT(m)
	require.ErrorAs(t, err, &se)
	_, err = ParseMCFG(m)
	require.ErrorAs(t, err, &se)
	_, err = ParseFADT(m)
	require.ErrorAs(t, err, &se)
	_, err = ParseHPET(m)
	require.ErrorAs(t, err, &se)
	_, err = ParseMADT(hpet(0))
	require.ErrorAs(t, err, &se)
	require.Equal(t, `acpi: at 0x0: signature "HPET", want "APIC"`, err.Error())
}

func TestReadTable(t *testing.T) {
	m, _, addrs := machine()
	b, err := ReadTable(m, addrs[1])
	require.NoError(t, err)
	require.Equal(t, machineTables()[1], b)

	bad := machineTables()[1]
	bad[40]++
	m.put(addrs[1], bad)
	_, err = ReadTable(m, addrs[1])
	var ce *ChecksumError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, addrs[1], ce.Address)
	require.Equal(t, "APIC", ce.Signature)
	require.Equal(t, uint8(1), ce.Sum)
}

func TestErrorStrings(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&ChecksumError{Signature: "APIC", Address: 0x1000, Sum: 3}, `acpi: "APIC" at 0x1000: bad checksum (bytes sum to 0x03)`},
		{&LengthError{Signature: "SRAT", Length: 20, Min: 48}, `acpi: "SRAT" at 0x0: length 20, want at least 48`},
		{&LengthError{Signature: "SRAT", Length: 90, Min: 36, Max: 80}, `acpi: "SRAT" at 0x0: length 90 outside [36, 80]`},
		{&EntryError{Signature: "APIC", Offset: 44, Type: 1, Length: 1, Reason: "length below 2"}, `acpi: APIC entry at offset 0x2c (type 1, length 1): length below 2`},
		{&TableError{Signature: "SLIT", Address: 0x2000, Err: ErrNoRSDP}, `acpi: table "SLIT" at 0x2000 skipped: acpi: no RSDP in the EBDA or the BIOS area`},
	} {
		require.Equal(t, c.want, c.err.Error())
	}
}
