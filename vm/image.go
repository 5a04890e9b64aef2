package vm

import (
	"encoding/binary"
	"errors"
)

// The kernel image's segments, read from its own ELF program headers (the
// image tool loads the file from offset 0, so the ELF header sits in
// memory just below the text; boot/image). The Go linker gives three
// PT_LOAD segments, page-aligned: text (R E), read-only data (R: rodata,
// pclntab, typelinks) and data (RW: go.buildinfo, go.module, noptrdata,
// data, bss, noptrbss). ELF-64 Object File Format 1.5, §§2 and 5.

// Segment is one PT_LOAD segment of the image.
type Segment struct {
	VA, End uintptr // [VA, End): the memory size, not the file size
	Prot    Prot
}

// ELF constants (System V ABI, ELF-64).
const (
	elfPhoff     = 0x20
	elfPhentsize = 0x36
	elfPhnum     = 0x38
	elfHdrSize   = 0x40
	ptLoad       = 1
	pfX          = 1
	pfW          = 2
)

// ErrNotELF is returned when the image's header is not a 64-bit
// little-endian ELF with program headers inside it.
var ErrNotELF = errors.New("vm: kernel image header is not a 64-bit ELF with program headers")

// ImageSegments parses the PT_LOAD segments of the ELF header hdr (the
// first bytes of the file) into out and returns how many there are.
// Allocation-free: the kernel calls it before the runtime starts.
func ImageSegments(hdr []byte, out []Segment) (int, error) {
	if len(hdr) < elfHdrSize || hdr[0] != 0x7f || hdr[1] != 'E' || hdr[2] != 'L' || hdr[3] != 'F' || hdr[4] != 2 || hdr[5] != 1 {
		return 0, ErrNotELF
	}
	le := binary.LittleEndian
	off := le.Uint64(hdr[elfPhoff:])
	size := uint64(le.Uint16(hdr[elfPhentsize:]))
	num := uint64(le.Uint16(hdr[elfPhnum:]))
	if size < 56 || off > uint64(len(hdr)) || num > (uint64(len(hdr))-off)/size {
		return 0, ErrNotELF
	}
	n := 0
	for i := uint64(0); i < num; i++ {
		ph := hdr[off+i*size:]
		if le.Uint32(ph) != ptLoad {
			continue
		}
		flags := le.Uint32(ph[4:])
		va := uintptr(le.Uint64(ph[16:]))
		memsz := uintptr(le.Uint64(ph[40:]))
		if memsz == 0 {
			continue
		}
		if n == len(out) {
			return n, ErrNotELF
		}
		p := ProtRead
		if flags&pfW != 0 {
			p |= ProtWrite
		}
		if flags&pfX != 0 {
			p |= ProtExec
		}
		out[n] = Segment{VA: va, End: va + memsz, Prot: p}
		n++
	}
	if n == 0 {
		return 0, ErrNotELF
	}
	return n, nil
}
