package acpi

import (
	"encoding/binary"
	"fmt"
)

// Memory reads physical memory. The kernel implements it over its
// identity map; tests implement it over a sparse map of byte slices.
// ReadPhys fills all of p from physical address addr or returns an error.
type Memory interface {
	ReadPhys(addr uint64, p []byte) error
}

// readPhys returns n bytes of physical memory at addr.
func readPhys(mem Memory, addr uint64, n int) ([]byte, error) {
	p := make([]byte, n)
	if err := mem.ReadPhys(addr, p); err != nil {
		return nil, fmt.Errorf("acpi: reading %d bytes at %#x: %w", n, addr, err)
	}
	return p, nil
}

// RSDP structure (§5.2.5.3, table "RSDP Structure"): its signature and
// sizes.
const (
	RSDP_SIGNATURE = "RSD PTR "

	// RSDPV1Length is the size of the ACPI 1.0 RSDP, the part the
	// Checksum covers.
	RSDPV1Length = 20
	// RSDPV2Length is the size of the revision 2 RSDP, the minimum its
	// Length field may declare.
	RSDPV2Length = 36
)

// RSDP structure (§5.2.5.3): byte offsets.
const (
	rsdpChecksum         = 8
	rsdpOEMID            = 9
	rsdpRevision         = 15
	rsdpRsdtAddress      = 16
	rsdpLength           = 20
	rsdpXsdtAddress      = 24
	rsdpExtendedChecksum = 32
)

// Where to look for the RSDP on IA-PC systems (§5.2.5.1).
const (
	// EBDAPointer is the BIOS Data Area word (40:0Eh) holding the
	// real-mode segment of the Extended BIOS Data Area.
	EBDAPointer = 0x40e
	// EBDASearchLength is how much of the EBDA is searched: its first KiB.
	EBDASearchLength = 1024
	// BIOSAreaStart and BIOSAreaEnd bound the BIOS read-only memory
	// space searched after the EBDA (end exclusive).
	BIOSAreaStart = 0xe0000
	BIOSAreaEnd   = 0x100000
	// RSDPAlign is the boundary the signature sits on in both areas.
	RSDPAlign = 16

	// The EBDA lies in conventional memory, above the BDA and below the
	// video area; a segment pointing elsewhere is not an EBDA.
	ebdaMin = 0x400
	ebdaMax = 0xa0000
)

// RSDP is the Root System Description Pointer (§5.2.5.3). Revision 0
// (ACPI 1.0) RSDPs are 20 bytes and have only RsdtAddress; revision 2
// and later add Length, XsdtAddress and ExtendedChecksum.
type RSDP struct {
	Checksum         uint8
	OEMID            string
	Revision         uint8
	RsdtAddress      uint32
	Length           uint32 // 0 for revision < 2
	XsdtAddress      uint64 // 0 for revision < 2
	ExtendedChecksum uint8  // 0 for revision < 2

	// Address is where FindRSDP found the structure; 0 from ParseRSDP.
	Address uint64
}

// UseXSDT reports whether Load follows the XSDT rather than the RSDT:
// the RSDP is revision 2 or later and has a non-zero XsdtAddress. OSPM
// uses the XSDT whenever there is one; the RSDT exists for ACPI 1.0
// operating systems (§5.2.7, §5.2.8).
func (r RSDP) UseXSDT() bool { return r.Revision >= 2 && r.XsdtAddress != 0 }

// ParseRSDP decodes and validates the RSDP at the start of b, as a boot
// loader hands it over (multiboot2 tags 14 "ACPI old RSDP" and 15 "ACPI
// new RSDP" carry a copy). It checks the signature and the checksum of
// the first 20 bytes and, for revision 2 and later, the Length field and
// the extended checksum over Length bytes. Bytes of b past the structure
// are ignored.
func ParseRSDP(b []byte) (RSDP, error) {
	return parseRSDP(b, 0)
}

func parseRSDP(b []byte, addr uint64) (RSDP, error) {
	if len(b) < RSDPV1Length {
		return RSDP{}, &LengthError{Signature: RSDP_SIGNATURE, Address: addr, Length: len(b), Min: RSDPV1Length}
	}
	if sig := string(b[:8]); sig != RSDP_SIGNATURE {
		return RSDP{}, &SignatureError{Address: addr, Want: RSDP_SIGNATURE, Got: sig}
	}
	if sum := checksum(b[:RSDPV1Length]); sum != 0 {
		return RSDP{}, &ChecksumError{Signature: RSDP_SIGNATURE, Address: addr, Sum: sum}
	}
	r := RSDP{
		Checksum:    b[rsdpChecksum],
		OEMID:       string(b[rsdpOEMID : rsdpOEMID+6]),
		Revision:    b[rsdpRevision],
		RsdtAddress: binary.LittleEndian.Uint32(b[rsdpRsdtAddress:]),
		Address:     addr,
	}
	if r.Revision < 2 {
		return r, nil
	}
	if len(b) < RSDPV2Length {
		return RSDP{}, &LengthError{Signature: RSDP_SIGNATURE, Address: addr, Length: len(b), Min: RSDPV2Length}
	}
	r.Length = binary.LittleEndian.Uint32(b[rsdpLength:])
	if r.Length < RSDPV2Length || uint64(r.Length) > uint64(len(b)) {
		return RSDP{}, &LengthError{Signature: RSDP_SIGNATURE, Address: addr, Length: int(r.Length), Min: RSDPV2Length, Max: len(b)}
	}
	if sum := checksum(b[:r.Length]); sum != 0 {
		return RSDP{}, &ChecksumError{Signature: RSDP_SIGNATURE, Address: addr, Extended: true, Sum: sum}
	}
	r.XsdtAddress = binary.LittleEndian.Uint64(b[rsdpXsdtAddress:])
	r.ExtendedChecksum = b[rsdpExtendedChecksum]
	return r, nil
}

// FindRSDP searches for the RSDP the way §5.2.5.1 says OSPM finds it on
// IA-PC systems: first the first KiB of the Extended BIOS Data Area
// (whose real-mode segment is the word at physical EBDAPointer), then the
// BIOS read-only area BIOSAreaStart–BIOSAreaEnd, on 16-byte boundaries.
// The first candidate whose signature, checksum and (revision ≥ 2)
// extended checksum are valid wins; invalid candidates are passed over.
// It returns ErrNoRSDP if there is none, or the error of a failed read.
func FindRSDP(mem Memory) (RSDP, error) {
	ptr, err := readPhys(mem, EBDAPointer, 2)
	if err != nil {
		return RSDP{}, err
	}
	if ebda := uint64(binary.LittleEndian.Uint16(ptr)) << 4; ebda > ebdaMin && ebda < ebdaMax {
		n := min(uint64(EBDASearchLength), ebdaMax-ebda)
		buf, err := readPhys(mem, ebda, int(n))
		if err != nil {
			return RSDP{}, err
		}
		if r, ok := scanRSDP(buf, ebda); ok {
			return r, nil
		}
	}
	buf, err := readPhys(mem, BIOSAreaStart, BIOSAreaEnd-BIOSAreaStart)
	if err != nil {
		return RSDP{}, err
	}
	if r, ok := scanRSDP(buf, BIOSAreaStart); ok {
		return r, nil
	}
	return RSDP{}, ErrNoRSDP
}

// scanRSDP returns the first valid RSDP on a 16-byte boundary of buf,
// which was read from physical address base (itself 16-byte aligned).
func scanRSDP(buf []byte, base uint64) (RSDP, bool) {
	for off := 0; off+RSDPV1Length <= len(buf); off += RSDPAlign {
		if string(buf[off:off+8]) != RSDP_SIGNATURE {
			continue
		}
		if r, err := parseRSDP(buf[off:], base+uint64(off)); err == nil {
			return r, true
		}
	}
	return RSDP{}, false
}

// checksum returns the 8-bit sum of b; a valid ACPI structure sums to 0.
func checksum(b []byte) uint8 {
	var s uint8
	for _, c := range b {
		s += c
	}
	return s
}
