package acpi

import (
	"errors"
	"fmt"
)

// ErrNoRSDP is returned by FindRSDP when neither the first KiB of the EBDA
// nor the BIOS read-only area 0xE0000–0xFFFFF holds a valid RSDP
// (§5.2.5.1). The caller may still have one from its boot loader.
var ErrNoRSDP = errors.New("acpi: no RSDP in the EBDA or the BIOS area")

// ChecksumError reports a structure whose bytes do not sum to zero
// modulo 256.
type ChecksumError struct {
	Signature string // "RSD PTR " or the table's signature
	Address   uint64 // physical address, 0 when parsed from a byte slice
	Extended  bool   // the RSDP's Extended Checksum (over Length bytes) failed
	Sum       uint8  // the sum found; a valid structure sums to 0
}

func (e *ChecksumError) Error() string {
	what := "checksum"
	if e.Extended {
		what = "extended checksum"
	}
	return fmt.Sprintf("acpi: %q at %#x: bad %s (bytes sum to %#02x)", e.Signature, e.Address, what, e.Sum)
}

// LengthError reports a structure whose length is outside what the
// specification or the bytes at hand allow: Length must lie in [Min, Max]
// (Max 0: no upper bound). A declared length larger than the bytes
// available has Max set to the bytes available.
type LengthError struct {
	Signature string // "RSD PTR " or the table's signature
	Address   uint64 // physical address, 0 when parsed from a byte slice
	Length    int    // the length declared (or, with nothing declared, present)
	Min, Max  int
}

func (e *LengthError) Error() string {
	if e.Max == 0 {
		return fmt.Sprintf("acpi: %q at %#x: length %d, want at least %d", e.Signature, e.Address, e.Length, e.Min)
	}
	return fmt.Sprintf("acpi: %q at %#x: length %d outside [%d, %d]", e.Signature, e.Address, e.Length, e.Min, e.Max)
}

// SignatureError reports a structure that does not carry the signature
// expected where it was found.
type SignatureError struct {
	Address   uint64
	Want, Got string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("acpi: at %#x: signature %q, want %q", e.Address, e.Got, e.Want)
}

// EntryError reports a malformed variable-length structure inside a table
// (an MADT interrupt controller structure, an SRAT static resource
// allocation structure): its Length byte is below 2, it runs past the end
// of the table, or it is shorter than its type requires.
type EntryError struct {
	Signature string // the table holding the entry
	Offset    int    // byte offset of the entry from the start of the table
	Type      uint8
	Length    int // the entry's Length byte (-1 when the table ends inside the two-byte entry header)
	Reason    string
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("acpi: %s entry at offset %#x (type %d, length %d): %s", e.Signature, e.Offset, e.Type, e.Length, e.Reason)
}

// TableError is how Load records a table it had to skip: the table's
// signature ("????" when even its header could not be read), where it
// was, and why.
type TableError struct {
	Signature string
	Address   uint64
	Err       error
}

func (e *TableError) Error() string {
	return fmt.Sprintf("acpi: table %q at %#x skipped: %v", e.Signature, e.Address, e.Err)
}

func (e *TableError) Unwrap() error { return e.Err }

// ErrNoRootTable is returned by Load when the RSDP gives neither an XSDT
// nor an RSDT address.
var ErrNoRootTable = errors.New("acpi: the RSDP points to no RSDT or XSDT")
