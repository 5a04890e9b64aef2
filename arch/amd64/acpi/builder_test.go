package acpi

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// This file builds ACPI structures byte by byte for the tests, from the
// layouts in the specification (not from this package's offsets), so a
// wrong offset in the parser shows up as a failing test.

// le encodes fixed-size little-endian values: uint8, uint16, uint32,
// uint64, string (raw bytes) and []byte.
func le(vs ...any) []byte {
	var b []byte
	for _, v := range vs {
		switch v := v.(type) {
		case uint8:
			b = append(b, v)
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, v)
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("le: unsupported %T", v))
		}
	}
	return b
}

// fixChecksum sets b[at] so that b sums to zero.
func fixChecksum(b []byte, at int) {
	b[at] = 0
	b[at] = -checksum(b)
}

// table builds a table: a System Description Table Header (§5.2.6) with
// signature sig and revision rev, then body; Length and Checksum are
// computed.
func table(sig string, rev uint8, body ...[]byte) []byte {
	b := le(sig, uint32(0), rev, uint8(0), "SMPGO ", "TESTTBL ", uint32(1), "SMPG", uint32(0x20260101))
	for _, p := range body {
		b = append(b, p...)
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	fixChecksum(b, 9)
	return b
}

// entry builds a type-length structure (MADT, SRAT).
func entry(typ uint8, fields ...any) []byte {
	body := le(fields...)
	return append([]byte{typ, uint8(2 + len(body))}, body...)
}

// MADT interrupt controller structures (§5.2.12.2–§5.2.12.13).

func lapicEntry(uid, id uint8, flags uint32) []byte { return entry(0, uid, id, flags) }
func ioapicEntry(id uint8, addr, gsiBase uint32) []byte {
	return entry(1, id, uint8(0), addr, gsiBase)
}
func isoEntry(bus, src uint8, gsi uint32, flags uint16) []byte { return entry(2, bus, src, gsi, flags) }
func nmiSourceEntry(flags uint16, gsi uint32) []byte           { return entry(3, flags, gsi) }
func lapicNMIEntry(uid uint8, flags uint16, lint uint8) []byte {
	return entry(4, uid, flags, lint)
}
func lapicAddrOverrideEntry(addr uint64) []byte { return entry(5, uint16(0), addr) }
func x2apicEntry(id, flags, uid uint32) []byte  { return entry(9, uint16(0), id, flags, uid) }
func x2apicNMIEntry(flags uint16, uid uint32, lint uint8) []byte {
	return entry(0xa, flags, uid, lint, uint8(0), uint8(0), uint8(0))
}

func madt(lapicAddr, flags uint32, entries ...[]byte) []byte {
	return table("APIC", 5, append([][]byte{le(lapicAddr, flags)}, entries...)...)
}

// SRAT structures (§5.2.16.1–§5.2.16.3).

func sratLapicEntry(domain uint32, apicID uint8, flags uint32) []byte {
	return entry(0, uint8(domain), apicID, flags, uint8(0),
		uint8(domain>>8), uint8(domain>>16), uint8(domain>>24), uint32(0))
}
func sratMemEntry(domain uint32, base, length uint64, flags uint32) []byte {
	return entry(1, domain, uint16(0), uint32(base), uint32(base>>32),
		uint32(length), uint32(length>>32), uint32(0), flags, uint64(0))
}
func sratX2apicEntry(domain, id, flags uint32) []byte {
	return entry(2, uint16(0), domain, id, flags, uint32(0), uint32(0))
}

func srat(rev uint8, entries ...[]byte) []byte {
	return table("SRAT", rev, append([][]byte{le(uint32(1), uint64(0))}, entries...)...)
}

// slit builds a SLIT from rows of distances.
func slit(rows ...[]uint8) []byte {
	body := le(uint64(len(rows)))
	for _, r := range rows {
		body = append(body, r...)
	}
	return table("SLIT", 1, body)
}

type alloc struct {
	base       uint64
	seg        uint16
	start, end uint8
}

func mcfg(allocs ...alloc) []byte {
	body := le(uint64(0))
	for _, a := range allocs {
		body = append(body, le(a.base, a.seg, a.start, a.end, uint32(0))...)
	}
	return table("MCFG", 1, body)
}

func gas(space, width, offset, access uint8, addr uint64) []byte {
	return le(space, width, offset, access, addr)
}

// fadt builds a FADT of length n (≥ 116): zeros but for the fields
// given, at their offsets in the "FADT Format" table.
func fadt(n int, pmTmrBlk uint32, pmTmrLen uint8, century uint8, flags uint32, xPmTmrBlk []byte) []byte {
	body := make([]byte, n-36)
	put := func(off int, b []byte) { copy(body[off-36:], b) }
	put(46, le(uint16(9)))    // SCI_INT
	put(76, le(pmTmrBlk))     // PM_TMR_BLK
	put(91, le(pmTmrLen))     // PM_TMR_LEN
	put(108, le(century))     // CENTURY
	put(109, le(uint16(0x2))) // IAPC_BOOT_ARCH: 8042
	put(112, le(flags))       // Flags
	if xPmTmrBlk != nil {
		put(208, xPmTmrBlk) // X_PM_TMR_BLK
	}
	rev := uint8(1)
	if n > 116 {
		rev = 3
	}
	return table("FACP", rev, body)
}

func hpet(base uint64) []byte {
	return table("HPET", 1, le(uint32(0x8086a201), gas(0, 0, 0, 0, base), uint8(0), uint16(0x80), uint8(0)))
}

func rsdt(addrs ...uint32) []byte {
	var body []byte
	for _, a := range addrs {
		body = append(body, le(a)...)
	}
	return table("RSDT", 1, body)
}

func xsdt(addrs ...uint64) []byte {
	var body []byte
	for _, a := range addrs {
		body = append(body, le(a)...)
	}
	return table("XSDT", 1, body)
}

// rsdpV1 builds a revision 0 RSDP (20 bytes).
func rsdpV1(rsdtAddr uint32) []byte {
	b := le("RSD PTR ", uint8(0), "SMPGO ", uint8(0), rsdtAddr)
	fixChecksum(b, 8)
	return b
}

// rsdpV2 builds a revision 2 RSDP (36 bytes), both checksums valid.
func rsdpV2(rsdtAddr uint32, xsdtAddr uint64) []byte {
	b := le("RSD PTR ", uint8(0), "SMPGO ", uint8(2), rsdtAddr, uint32(36), xsdtAddr, uint8(0), uint8(0), uint8(0), uint8(0))
	fixChecksum(b[:20], 8)
	fixChecksum(b, 32)
	return b
}

// fakeMem is physical memory made of separate regions; reading outside
// every region, or across a region's end, fails.
type fakeMem struct {
	regions map[uint64][]byte
	reads   int
}

func newFakeMem() *fakeMem { return &fakeMem{regions: make(map[uint64][]byte)} }

// put maps a copy of b at addr.
func (m *fakeMem) put(addr uint64, b []byte) {
	m.regions[addr] = append([]byte(nil), b...)
}

func (m *fakeMem) ReadPhys(addr uint64, p []byte) error {
	m.reads++
	bases := make([]uint64, 0, len(m.regions))
	for base := range m.regions {
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	for _, base := range bases {
		r := m.regions[base]
		if addr >= base && addr-base < uint64(len(r)) {
			if addr-base+uint64(len(p)) > uint64(len(r)) {
				return fmt.Errorf("fakeMem: read [%#x, %#x) crosses the end of region %#x+%#x", addr, addr+uint64(len(p)), base, len(r))
			}
			copy(p, r[addr-base:])
			return nil
		}
	}
	return fmt.Errorf("fakeMem: nothing mapped at %#x", addr)
}

// biosMem returns memory with a BIOS Data Area whose EBDA pointer holds
// segment ebdaSeg, a zeroed 1 KiB EBDA there (when ebdaSeg != 0), and a
// zeroed BIOS area 0xE0000–0xFFFFF.
func biosMem(ebdaSeg uint16) *fakeMem {
	m := newFakeMem()
	bda := make([]byte, 0x100)
	binary.LittleEndian.PutUint16(bda[0x0e:], ebdaSeg)
	m.put(0x400, bda)
	if ebdaSeg != 0 {
		m.put(uint64(ebdaSeg)<<4, make([]byte, 1024))
	}
	m.put(0xe0000, make([]byte, 0x20000))
	return m
}

// poke writes b into already mapped memory at addr.
func (m *fakeMem) poke(addr uint64, b []byte) {
	for base, r := range m.regions {
		if addr >= base && addr-base+uint64(len(b)) <= uint64(len(r)) {
			copy(r[addr-base:], b)
			return
		}
	}
	panic(fmt.Sprintf("poke: nothing mapped at %#x", addr))
}
