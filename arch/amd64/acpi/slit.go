package acpi

import (
	"encoding/binary"
	"fmt"
)

// System Locality Information Table (§5.2.17, table "SLIT Format"):
// Number of System Localities (a qword) after the header, then the
// N×N matrix of one-byte Entry[i][j], row by row.
const (
	slitNumberOfSystemLocalities = 36
	slitEntries                  = 44
)

// Distance values (§5.2.17).
const (
	// SLIT_LOCAL is the normalised distance of a locality to itself;
	// values 0–9 are reserved.
	SLIT_LOCAL = 10
	// SLIT_UNREACHABLE marks a locality unreachable from another.
	SLIT_UNREACHABLE = 0xff
	// DefaultRemoteDistance is what Tables.Distance assumes between two
	// domains without a SLIT entry (as Linux does; the specification
	// names no default).
	DefaultRemoteDistance = 20
)

// SLIT is the System Locality Information Table (§5.2.17): the relative
// memory latency between system localities (proximity domains), SLIT_LOCAL
// being a locality's distance to itself.
type SLIT struct {
	Header                   Header
	NumberOfSystemLocalities int
	Entries                  []uint8 // Entry[i][j] at i*NumberOfSystemLocalities+j
}

// Distance returns Entry[i][j], the distance from locality i to locality
// j, or -1 if either is out of range.
func (s *SLIT) Distance(i, j int) int {
	n := s.NumberOfSystemLocalities
	if i < 0 || j < 0 || i >= n || j >= n {
		return -1
	}
	return int(s.Entries[i*n+j])
}

// ParseSLIT validates and decodes a SLIT.
func ParseSLIT(b []byte) (*SLIT, error) { return parseAs(b, SIG_SLIT, parseSLIT) }

func parseSLIT(h Header, b []byte) (*SLIT, error) {
	if err := needLength(h, b, slitEntries); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(b[slitNumberOfSystemLocalities:])
	room := uint64(len(b) - slitEntries)
	// n ≤ room first, so n*n cannot overflow.
	if n > room || n*n > room {
		return nil, &EntryError{Signature: h.Signature, Offset: slitEntries, Length: int(room),
			Reason: fmt.Sprintf("%d localities need %d×%d matrix bytes", n, n, n)}
	}
	return &SLIT{
		Header:                   h,
		NumberOfSystemLocalities: int(n),
		Entries:                  append([]byte(nil), b[slitEntries:slitEntries+int(n*n)]...),
	}, nil
}
