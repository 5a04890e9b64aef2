package acpi

import "fmt"

// Variable-length structures (MADT interrupt controller structures, SRAT
// static resource allocation structures) all start with a Type byte and
// a Length byte counting the whole structure.
const (
	entryType   = 0
	entryLength = 1
)

// forEachEntry walks the type-length structures of table b (header h)
// from offset off to the end, calling fn with each structure's offset,
// type and bytes. A structure whose Length is below 2 or that runs past
// the table is an *EntryError, as is any error fn returns.
func forEachEntry(h Header, b []byte, off int, fn func(off int, typ uint8, e []byte) error) error {
	for off < len(b) {
		if off+2 > len(b) {
			return &EntryError{Signature: h.Signature, Offset: off, Type: b[off], Length: -1, Reason: "table ends inside the entry header"}
		}
		typ, n := b[off+entryType], int(b[off+entryLength])
		if n < 2 {
			return &EntryError{Signature: h.Signature, Offset: off, Type: typ, Length: n, Reason: "length below 2"}
		}
		if off+n > len(b) {
			return &EntryError{Signature: h.Signature, Offset: off, Type: typ, Length: n,
				Reason: fmt.Sprintf("runs past the end of the table (%d bytes)", len(b))}
		}
		if err := fn(off, typ, b[off:off+n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// needEntry returns an *EntryError unless the structure e at offset off
// of table h holds the want bytes its type defines. Longer structures
// are accepted: later revisions append fields.
func needEntry(h Header, off int, e []byte, want int) error {
	if len(e) < want {
		return &EntryError{Signature: h.Signature, Offset: off, Type: e[entryType], Length: len(e),
			Reason: fmt.Sprintf("shorter than the %d bytes its type defines", want)}
	}
	return nil
}
