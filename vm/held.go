package vm

import (
	"errors"
	"sync/atomic"
)

// Held memory: ranges of RAM that the boot loader filled with something
// the kernel still needs after the allocators exist (a multiboot module:
// the file system's tar archive), given to the allocators' accounting at
// boot but not to their free lists.
//
// A held range is a range of its domain like any other, so the segment
// that spans it covers its pages, but no early page table and no buddy
// metadata is carved from it and its pages start out of the free lists.
// ReleaseHeld, once the contents are consumed, gives them to the segment's
// buddy allocator (Buddy.AddRange under the domain lock): from then on
// they are ordinary free pages.

const maxHeld = 8

var (
	held  [maxHeld]heldRange // (c) after boot but for released
	nheld int                // (c)
)

type heldRange struct {
	a, b     uintptr // page-aligned
	released atomic.Bool
}

// Errors from ReleaseHeld.
var (
	ErrNotHeld     = errors.New("vm: range is not held memory")
	ErrHeldTwice   = errors.New("vm: held memory released twice")
	ErrHeldDropped = errors.New("vm: held memory outside every segment (not managed)")
)

// AddHeld gives the physical range [a, b) to domain d as held memory
// (boot only, before InitPhys; rounded out to whole pages, not
// overlapping other ranges). It reports whether the range was recorded.
func AddHeld(d int, a, b uintptr) bool {
	a &^= PageSize - 1
	b = pageUp(b)
	if nheld == maxHeld || b <= a || b > DMA32 {
		return false
	}
	if !AddMemory(d, a, b) {
		return false
	}
	held[nheld].a, held[nheld].b = a, b
	nheld++
	return true
}

// isHeld reports whether the range [a, b) lies in held memory not yet
// released (ranges are never split across a held boundary: AddHeld
// makes each its own range).
//
//go:nosplit
func isHeld(a, b uintptr) bool {
	for i := range nheld {
		h := &held[i]
		if a < h.b && b > h.a && !h.released.Load() {
			return true
		}
	}
	return false
}

// HeldBytes returns the bytes of held memory not yet released.
func HeldBytes() uint64 {
	var n uint64
	for i := range nheld {
		if !held[i].released.Load() {
			n += uint64(held[i].b - held[i].a)
		}
	}
	return n
}

// ReleaseHeld gives the held range that starts at page a (AddHeld's a,
// rounded down) to the page allocators as free memory and returns its
// size in bytes.
func ReleaseHeld(a uintptr) (uintptr, error) {
	a &^= PageSize - 1
	var h *heldRange
	for i := range nheld {
		if held[i].a == a {
			h = &held[i]
		}
	}
	if h == nil {
		return 0, ErrNotHeld
	}
	if h.released.Swap(true) {
		return 0, ErrHeldTwice
	}
	gEnter()
	defer gExit()
	var given uintptr
	for d := 0; d < ndomains; d++ {
		dm := &domains[d]
		for _, r := range dm.ranges[:dm.nranges] {
			if r[0] < h.a || r[1] > h.b {
				continue
			}
			_, s := segmentOf(r[0])
			if s < 0 {
				continue
			}
			dm.giveRange(s, r[0], r[1])
			given += r[1] - r[0]
		}
	}
	if given == 0 {
		return 0, ErrHeldDropped
	}
	return given, nil
}

// giveRange adds [a, b) to segment s's free lists.
//
//go:nosplit
func (dm *Domain) giveRange(s int, a, b uintptr) {
	sg := &dm.segs[s]
	f := dm.lockIntr()
	sg.buddy.AddRange(int((a-sg.base)/PageSize), int((b-a)/PageSize))
	dm.unlockIntr(f)
}
