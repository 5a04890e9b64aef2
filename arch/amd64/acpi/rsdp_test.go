package acpi

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRSDPV1(t *testing.T) {
	r, err := ParseRSDP(rsdpV1(0x7fe1000))
	require.NoError(t, err)
	require.Equal(t, uint8(0), r.Revision)
	require.Equal(t, "SMPGO ", r.OEMID)
	require.Equal(t, uint32(0x7fe1000), r.RsdtAddress)
	require.Zero(t, r.XsdtAddress)
	require.Zero(t, r.Address)
	require.False(t, r.UseXSDT())
}

func TestParseRSDPV2(t *testing.T) {
	b := rsdpV2(0x7fe1000, 0x1_0000_2000)
	r, err := ParseRSDP(append(b, 0xaa, 0xbb)) // trailing bytes ignored
	require.NoError(t, err)
	require.Equal(t, uint8(2), r.Revision)
	require.Equal(t, uint32(36), r.Length)
	require.Equal(t, uint64(0x1_0000_2000), r.XsdtAddress)
	require.Equal(t, b[32], r.ExtendedChecksum)
	require.Equal(t, b[8], r.Checksum)
	require.True(t, r.UseXSDT())

	r, err = ParseRSDP(rsdpV2(0x7fe1000, 0))
	require.NoError(t, err)
	require.False(t, r.UseXSDT(), "revision 2 with XsdtAddress 0 uses the RSDT")
}

func TestParseRSDPErrors(t *testing.T) {
	var lerr *LengthError
	_, err := ParseRSDP(rsdpV1(1)[:19])
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, 19, lerr.Length)

	bad := rsdpV1(1)
	copy(bad, "RSD PTX ")
	var se *SignatureError
	_, err = ParseRSDP(bad)
	require.ErrorAs(t, err, &se)
	require.Equal(t, "RSD PTX ", se.Got)

	bad = rsdpV1(1)
	bad[16]++
	var ce *ChecksumError
	_, err = ParseRSDP(bad)
	require.ErrorAs(t, err, &ce)
	require.False(t, ce.Extended)
	require.Equal(t, uint8(1), ce.Sum)

	// Extended checksum: change a byte the v1 checksum does not cover.
	bad = rsdpV2(1, 2)
	bad[24]++
	_, err = ParseRSDP(bad)
	require.ErrorAs(t, err, &ce)
	require.True(t, ce.Extended)
	require.Contains(t, err.Error(), "extended checksum")

	// A revision 2 RSDP cut to its v1 part (a multiboot2 old-RSDP copy).
	_, err = ParseRSDP(rsdpV2(1, 2)[:20])
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, RSDPV2Length, lerr.Min)

	// Length field below 36, or beyond the bytes given.
	for _, n := range []uint32{20, 64} {
		bad = rsdpV2(1, 2)
		bad[20] = byte(n)
		fixChecksum(bad[:20], 8)
		fixChecksum(bad, 32)
		_, err = ParseRSDP(bad)
		require.ErrorAs(t, err, &lerr, "Length %d", n)
		require.Equal(t, int(n), lerr.Length)
	}
}

func TestFindRSDPInEBDA(t *testing.T) {
	m := biosMem(0x9fc0)
	m.poke(0x9fc00+0x40, rsdpV2(0x1000, 0x2000))
	// A valid RSDP in the BIOS area too: the EBDA is searched first.
	m.poke(0xf5a40, rsdpV1(0x3000))
	r, err := FindRSDP(m)
	require.NoError(t, err)
	require.Equal(t, uint64(0x9fc40), r.Address)
	require.Equal(t, uint64(0x2000), r.XsdtAddress)
}

func TestFindRSDPInBIOSArea(t *testing.T) {
	m := biosMem(0x9fc0)
	// Misaligned copies and a bad-checksum decoy are passed over.
	m.poke(0xe0008, rsdpV1(0x1111))
	bad := rsdpV1(0x2222)
	bad[8]++
	m.poke(0xe0010, bad)
	m.poke(0xf5a40, rsdpV1(0x3000))
	r, err := FindRSDP(m)
	require.NoError(t, err)
	require.Equal(t, uint64(0xf5a40), r.Address)
	require.Equal(t, uint32(0x3000), r.RsdtAddress)

	// The last 16-byte slot of the area holds a v1 RSDP.
	m = biosMem(0)
	m.poke(0xffff0-16, rsdpV1(0x4000)) // 20 bytes end at 0xffff4
	r, err = FindRSDP(m)
	require.NoError(t, err)
	require.Equal(t, uint64(0xfffe0), r.Address)
}

func TestFindRSDPNoEBDA(t *testing.T) {
	// Segment 0 and a segment outside conventional memory are not
	// EBDAs: FindRSDP must not read there (nothing is mapped).
	for _, seg := range []uint16{0, 0xa000, 0x0020} {
		m := biosMem(0)
		m.poke(0x40e, le(seg))
		m.poke(0xe0000, rsdpV1(0x1000))
		r, err := FindRSDP(m)
		require.NoError(t, err, "segment %#x", seg)
		require.Equal(t, uint64(0xe0000), r.Address)
	}
}

func TestFindRSDPNotFound(t *testing.T) {
	_, err := FindRSDP(biosMem(0x9fc0))
	require.ErrorIs(t, err, ErrNoRSDP)
}

func TestFindRSDPReadErrors(t *testing.T) {
	_, err := FindRSDP(newFakeMem())
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrNoRSDP))

	m := biosMem(0)
	m.poke(0x40e, le(uint16(0x9fc0))) // EBDA pointer to unmapped memory
	_, err = FindRSDP(m)
	require.ErrorContains(t, err, "0x9fc00")

	m = newFakeMem()
	m.put(0x400, make([]byte, 0x100)) // BDA but no BIOS area
	_, err = FindRSDP(m)
	require.ErrorContains(t, err, "0xe0000")
}
