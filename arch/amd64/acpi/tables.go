package acpi

import (
	"encoding/binary"
	"fmt"
)

// System Description Table Header (§5.2.6, table "DESCRIPTION_HEADER
// Fields"): byte offsets.
const (
	hdrSignature       = 0
	hdrLength          = 4
	hdrRevision        = 8
	hdrChecksum        = 9
	hdrOEMID           = 10
	hdrOEMTableID      = 16
	hdrOEMRevision     = 24
	hdrCreatorID       = 28
	hdrCreatorRevision = 32
)

// Table sizes.
const (
	// HeaderLength is the size of the System Description Table Header
	// that starts every table but the FACS.
	HeaderLength = 36

	// MaxTableLength bounds the Length a table may declare. Nothing in
	// the specification limits it; the bound keeps a corrupt Length
	// from making Load read and allocate gigabytes.
	MaxTableLength = 16 << 20
)

// Table signatures (§5.2.6, table "DESCRIPTION_HEADER Signatures for
// tables defined by ACPI", and "... reserved by ACPI").
const (
	SIG_RSDT = "RSDT"
	SIG_XSDT = "XSDT"
	SIG_FACP = "FACP" // FADT
	SIG_APIC = "APIC" // MADT
	SIG_SRAT = "SRAT"
	SIG_SLIT = "SLIT"
	SIG_MCFG = "MCFG"
	SIG_HPET = "HPET"
)

// Header is the System Description Table Header (§5.2.6).
type Header struct {
	Signature       string
	Length          uint32
	Revision        uint8
	Checksum        uint8
	OEMID           string
	OEMTableID      string
	OEMRevision     uint32
	CreatorID       string
	CreatorRevision uint32
}

func (h Header) String() string {
	return fmt.Sprintf("%s rev %d len %d OEM %q %q rev %#x creator %q rev %#x",
		h.Signature, h.Revision, h.Length, h.OEMID, h.OEMTableID, h.OEMRevision, h.CreatorID, h.CreatorRevision)
}

// parseHeader decodes the header at the start of b (len(b) ≥ HeaderLength).
func parseHeader(b []byte) Header {
	le := binary.LittleEndian
	return Header{
		Signature:       string(b[hdrSignature : hdrSignature+4]),
		Length:          le.Uint32(b[hdrLength:]),
		Revision:        b[hdrRevision],
		Checksum:        b[hdrChecksum],
		OEMID:           string(b[hdrOEMID : hdrOEMID+6]),
		OEMTableID:      string(b[hdrOEMTableID : hdrOEMTableID+8]),
		OEMRevision:     le.Uint32(b[hdrOEMRevision:]),
		CreatorID:       string(b[hdrCreatorID : hdrCreatorID+4]),
		CreatorRevision: le.Uint32(b[hdrCreatorRevision:]),
	}
}

// checkTable validates the table at the start of b, found at addr (0 for
// a byte slice): a whole header, the signature want (any when want is
// ""), a Length within [HeaderLength, len(b)], and a zero checksum over
// Length bytes. It returns the header and b cut to Length.
func checkTable(b []byte, addr uint64, want string) (Header, []byte, error) {
	if len(b) < HeaderLength {
		return Header{}, nil, &LengthError{Signature: string(b[:min(4, len(b))]), Address: addr, Length: len(b), Min: HeaderLength}
	}
	sig := string(b[:4])
	if want != "" && sig != want {
		return Header{}, nil, &SignatureError{Address: addr, Want: want, Got: sig}
	}
	n := binary.LittleEndian.Uint32(b[hdrLength:])
	if n < HeaderLength || uint64(n) > uint64(len(b)) {
		return Header{}, nil, &LengthError{Signature: sig, Address: addr, Length: int(n), Min: HeaderLength, Max: len(b)}
	}
	b = b[:n]
	if sum := checksum(b); sum != 0 {
		return Header{}, nil, &ChecksumError{Signature: sig, Address: addr, Sum: sum}
	}
	return parseHeader(b), b, nil
}

// needLength returns a *LengthError unless the table b holds at least
// the n bytes of its fixed part.
func needLength(h Header, b []byte, n int) error {
	if len(b) < n {
		return &LengthError{Signature: h.Signature, Length: len(b), Min: n}
	}
	return nil
}

// Generic Address Structure (§5.2.3.2): Address Space ID values (table
// "Generic Address Structure (GAS)").
const (
	AddressSpaceSystemMemory = 0x00
	AddressSpaceSystemIO     = 0x01
	AddressSpacePCIConfig    = 0x02

	gasLength = 12
)

// GenericAddress is the Generic Address Structure (§5.2.3.2), a register
// location in some address space.
type GenericAddress struct {
	AddressSpaceID    uint8 // AddressSpaceSystemMemory, AddressSpaceSystemIO, ...
	RegisterBitWidth  uint8
	RegisterBitOffset uint8
	AccessSize        uint8 // 0 undefined, 1 byte, 2 word, 3 dword, 4 qword
	Address           uint64
}

// parseGAS decodes the 12-byte Generic Address Structure at b.
func parseGAS(b []byte) GenericAddress {
	return GenericAddress{
		AddressSpaceID:    b[0],
		RegisterBitWidth:  b[1],
		RegisterBitOffset: b[2],
		AccessSize:        b[3],
		Address:           binary.LittleEndian.Uint64(b[4:]),
	}
}

// RootTable is the Root System Description Table (RSDT, §5.2.7, 32-bit
// entries) or the Extended System Description Table (XSDT, §5.2.8, 64-bit
// entries): the physical addresses of the other tables.
type RootTable struct {
	Header  Header
	Entries []uint64
}

// ParseRootTable decodes and validates an RSDT or XSDT. Trailing bytes
// too few for a whole entry are ignored.
func ParseRootTable(b []byte) (*RootTable, error) {
	return parseAs(b, "", parseRoot)
}

func parseRoot(h Header, b []byte) (*RootTable, error) {
	size := 4
	switch h.Signature {
	case SIG_RSDT:
	case SIG_XSDT:
		size = 8
	default:
		return nil, &SignatureError{Want: SIG_RSDT + " or " + SIG_XSDT, Got: h.Signature}
	}
	r := &RootTable{Header: h}
	for off := HeaderLength; off+size <= len(b); off += size {
		if size == 4 {
			r.Entries = append(r.Entries, uint64(binary.LittleEndian.Uint32(b[off:])))
		} else {
			r.Entries = append(r.Entries, binary.LittleEndian.Uint64(b[off:]))
		}
	}
	return r, nil
}

// Table is one table a root table lists: where it is and its header.
type Table struct {
	Address uint64
	Header  Header
}

// Tables is what Load found. The parsed tables are nil when absent or
// skipped; when the root table lists a signature twice, the first valid
// instance is parsed.
type Tables struct {
	RSDP        RSDP
	Root        *RootTable // the XSDT, or the RSDT
	RootAddress uint64

	// All lists, in the root table's order, every table whose length
	// and checksum are valid, including any whose contents then failed
	// to parse (those are also in Errors). ReadTable(mem, Address)
	// returns a table's bytes, e.g. to dump it.
	All []Table

	FADT *FADT
	MADT *MADT
	SRAT *SRAT
	SLIT *SLIT
	MCFG *MCFG
	HPET *HPET

	// Errors records each table skipped, and the XSDT when Load fell
	// back to the RSDT.
	Errors []*TableError
}

// ReadTable reads the table at physical address addr and validates its
// Length (at least HeaderLength, at most MaxTableLength) and checksum.
// Its signature is whatever the header says.
func ReadTable(mem Memory, addr uint64) ([]byte, error) {
	hdr, err := readPhys(mem, addr, HeaderLength)
	if err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[hdrLength:])
	if n < HeaderLength || n > MaxTableLength {
		return nil, &LengthError{Signature: string(hdr[:4]), Address: addr, Length: int(n), Min: HeaderLength, Max: MaxTableLength}
	}
	b, err := readPhys(mem, addr, int(n))
	if err != nil {
		return nil, err
	}
	_, b, err = checkTable(b, addr, "")
	return b, err
}

// Load reads the root table the RSDP points to (the XSDT when
// rsdp.UseXSDT(), else the RSDT) and every table it lists, validating
// each table's length and checksum, and parses the FADT, MADT, SRAT,
// SLIT, MCFG and HPET. A table that fails validation or parsing is
// skipped and recorded in Tables.Errors; so is an invalid XSDT when the
// RSDP also gives an RSDT, which Load then follows instead. Load fails
// only when it has no valid root table.
func Load(mem Memory, rsdp RSDP) (*Tables, error) {
	t := &Tables{RSDP: rsdp}
	if rsdp.UseXSDT() {
		root, err := loadRoot(mem, rsdp.XsdtAddress, SIG_XSDT)
		if err == nil {
			t.Root, t.RootAddress = root, rsdp.XsdtAddress
		} else if rsdp.RsdtAddress == 0 {
			return nil, err
		} else {
			t.Errors = append(t.Errors, &TableError{Signature: SIG_XSDT, Address: rsdp.XsdtAddress, Err: err})
		}
	}
	if t.Root == nil {
		if rsdp.RsdtAddress == 0 {
			return nil, ErrNoRootTable
		}
		root, err := loadRoot(mem, uint64(rsdp.RsdtAddress), SIG_RSDT)
		if err != nil {
			return nil, err
		}
		t.Root, t.RootAddress = root, uint64(rsdp.RsdtAddress)
	}
	for _, addr := range t.Root.Entries {
		if addr == 0 {
			continue // a null entry: nothing there
		}
		b, err := ReadTable(mem, addr)
		if err != nil {
			t.Errors = append(t.Errors, &TableError{Signature: peekSignature(mem, addr), Address: addr, Err: err})
			continue
		}
		t.add(addr, b)
	}
	return t, nil
}

// loadRoot reads and parses the root table at addr, which must carry
// signature sig.
func loadRoot(mem Memory, addr uint64, sig string) (*RootTable, error) {
	b, err := ReadTable(mem, addr)
	if err != nil {
		return nil, err
	}
	h := parseHeader(b)
	if h.Signature != sig {
		return nil, &SignatureError{Address: addr, Want: sig, Got: h.Signature}
	}
	return parseRoot(h, b)
}

// peekSignature returns the signature of the table at addr for an error
// report, or "????" if even that cannot be read.
func peekSignature(mem Memory, addr uint64) string {
	b, err := readPhys(mem, addr, 4)
	if err != nil {
		return "????"
	}
	return string(b)
}

// add records the validated table b found at addr and parses it.
func (t *Tables) add(addr uint64, b []byte) {
	h := parseHeader(b)
	t.All = append(t.All, Table{Address: addr, Header: h})
	v, err := parseBody(h, b)
	if err != nil {
		t.Errors = append(t.Errors, &TableError{Signature: h.Signature, Address: addr, Err: err})
		return
	}
	switch v := v.(type) {
	case *FADT:
		if t.FADT == nil {
			t.FADT = v
		}
	case *MADT:
		if t.MADT == nil {
			t.MADT = v
		}
	case *SRAT:
		if t.SRAT == nil {
			t.SRAT = v
		}
	case *SLIT:
		if t.SLIT == nil {
			t.SLIT = v
		}
	case *MCFG:
		if t.MCFG == nil {
			t.MCFG = v
		}
	case *HPET:
		if t.HPET == nil {
			t.HPET = v
		}
	}
}

// ParseTable validates the table at the start of b (whole header, Length
// within b, checksum; bytes past Length are ignored) and decodes it by
// signature: *FADT, *MADT, *SRAT, *SLIT, *MCFG, *HPET, or *RootTable for
// an RSDT or XSDT. Any other signature yields its Header. It is what the
// tests run over table dumps.
func ParseTable(b []byte) (any, error) {
	h, b, err := checkTable(b, 0, "")
	if err != nil {
		return nil, err
	}
	return parseBody(h, b)
}

// parseBody decodes the validated table b with header h by signature.
func parseBody(h Header, b []byte) (any, error) {
	switch h.Signature {
	case SIG_FACP:
		return asAny(parseFADT(h, b))
	case SIG_APIC:
		return asAny(parseMADT(h, b))
	case SIG_SRAT:
		return asAny(parseSRAT(h, b))
	case SIG_SLIT:
		return asAny(parseSLIT(h, b))
	case SIG_MCFG:
		return asAny(parseMCFG(h, b))
	case SIG_HPET:
		return asAny(parseHPET(h, b))
	case SIG_RSDT, SIG_XSDT:
		return asAny(parseRoot(h, b))
	}
	return h, nil
}

// asAny returns v as an interface, or a nil interface (not a typed nil
// pointer) with err.
func asAny[T any](v *T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// parseAs validates b as a table with signature sig and decodes it with
// parse: the body of every exported ParseXXX.
func parseAs[T any](b []byte, sig string, parse func(Header, []byte) (*T, error)) (*T, error) {
	h, b, err := checkTable(b, 0, sig)
	if err != nil {
		return nil, err
	}
	return parse(h, b)
}
