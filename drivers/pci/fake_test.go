package pci

import "fmt"

// fakeFn is one function's configuration space with BAR size masks:
// writes to a BAR keep only the bits its size allows, as hardware does.
type fakeFn struct {
	space   [256]byte
	barMask [6]uint32 // writable bits of each BAR register (0: unimplemented)
}

type fakeConfig struct {
	fns    map[Addr]*fakeFn
	writes int
}

func newFake() *fakeConfig { return &fakeConfig{fns: map[Addr]*fakeFn{}} }

func (f *fakeConfig) Read32(a Addr, off uint16) uint32 {
	fn, ok := f.fns[a]
	if !ok {
		return 0xffffffff
	}
	s := fn.space[off&0xfc:]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

func (f *fakeConfig) Write32(a Addr, off uint16, v uint32) {
	fn, ok := f.fns[a]
	if !ok {
		return
	}
	f.writes++
	off &= 0xfc
	if off >= BAR0 && off < BAR0+24 {
		i := (off - BAR0) / 4
		old := f.Read32(a, off)
		ro := ^fn.barMask[i]
		v = old&ro | v&fn.barMask[i]
	}
	if off == STATUS&^3 {
		v = v&0xffff | f.Read32(a, off)&0xffff0000 // STATUS: ignore (RW1C) in the fake
	}
	fn.space[off], fn.space[off+1], fn.space[off+2], fn.space[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func (f *fakeConfig) MaxOffset() int { return 256 }
func (f *fakeConfig) String() string { return "fake" }

func (fn *fakeFn) put16(off int, v uint16) { fn.space[off], fn.space[off+1] = byte(v), byte(v>>8) }
func (fn *fakeFn) put32(off int, v uint32) {
	fn.put16(off, uint16(v))
	fn.put16(off+2, uint16(v>>16))
}

// add creates a function with IDs and class.
func (f *fakeConfig) add(a Addr, vendor, device uint16, class, sub uint8, header uint8) *fakeFn {
	fn := &fakeFn{}
	fn.put16(VENDOR_ID, vendor)
	fn.put16(DEVICE_ID, device)
	fn.space[CLASS_CODE], fn.space[SUBCLASS] = class, sub
	fn.space[HEADER_TYPE] = header
	f.fns[a] = fn
	return fn
}

// bar sets BAR i to a memory/I/O BAR of size at addr with type bits.
func (fn *fakeFn) bar(i int, addr uint32, size uint32, typeBits uint32) {
	fn.put32(BAR0+4*i, addr|typeBits)
	keep := uint32(0xf)
	if typeBits&BAR_IO != 0 {
		keep = 0x3
	}
	fn.barMask[i] = ^(size - 1) &^ keep
}

// caps lays out a capability chain at 0x40, 0x50, ... with the given IDs.
func (fn *fakeFn) caps(ids ...uint8) {
	fn.put16(STATUS, STATUS_CAP_LIST)
	fn.space[CAP_PTR] = 0x40
	for i, id := range ids {
		off := 0x40 + 0x10*i
		fn.space[off] = id
		if i+1 < len(ids) {
			fn.space[off+1] = byte(off + 0x10)
		}
	}
}

func (fn *fakeFn) String() string { return fmt.Sprintf("%x", fn.space[:64]) }

// fakeMMIO is a sparse memory.
type fakeMMIO map[uintptr]uint32

func (m fakeMMIO) Read32(a uintptr) uint32     { return m[a] }
func (m fakeMMIO) Write32(a uintptr, v uint32) { m[a] = v }
