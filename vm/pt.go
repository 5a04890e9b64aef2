package vm

import "github.com/smpgo/smpgo/arch/amd64"

// Page-table entry bits (SDM vol. 3A §4.5, tables 4-14 to 4-20).
const (
	PTE_P   = 1 << 0
	PTE_RW  = 1 << 1
	PTE_US  = 1 << 2
	PTE_PWT = 1 << 3
	PTE_PCD = 1 << 4
	PTE_A   = 1 << 5
	PTE_D   = 1 << 6
	PTE_PS  = 1 << 7
	PTE_G   = 1 << 8
	PTE_NX  = 1 << 63

	pteAddr = 0x000ffffffffff000
)

// Index returns the table index of va at level (4 = PML4 ... 1 = PT).
func Index(va uintptr, level int) int {
	return int(va>>(12+9*(level-1))) & 511
}

// levelSize is the span mapped by one entry at level.
func levelSize(level int) uintptr { return 1 << (12 + 9*(level-1)) }

// walk returns the physical address of the level-1 entry for va, allocating
// missing tables when alloc is set. ok is false if a table is missing (and
// alloc unset or out of memory) or a large page maps va (leaf is then the
// large entry's address, large set).
func walk(root uintptr, va uintptr, alloc bool) (pte uintptr, large, ok bool) {
	table := root
	for level := 4; level > 1; level-- {
		e := table + uintptr(Index(va, level))*8
		v := amd64.Load64(e)
		if v&PTE_P == 0 {
			if !alloc {
				return 0, false, false
			}
			pa, ok := allocPage(UseTables)
			if !ok {
				return 0, false, false
			}
			amd64.ZeroPage(pa)
			v = uint64(pa) | PTE_P | PTE_RW
			amd64.Store64(e, v)
		} else if v&PTE_PS != 0 {
			return e, true, true
		}
		table = uintptr(v & pteAddr)
	}
	return table + uintptr(Index(va, 1))*8, false, true
}

// Lookup returns the physical address va maps to.
func Lookup(va uintptr) (pa uintptr, ok bool) {
	m, ok := lookupIn(identityMem{}, root(), va)
	return m.PA, ok
}

// Map4K maps the page at va to pa with flags (PTE_P added).
func Map4K(va, pa uintptr, flags uint64) bool {
	e, large, ok := walk(root(), va, true)
	if !ok || large {
		return false
	}
	amd64.Store64(e, uint64(pa)|flags|PTE_P)
	return true
}

// Shootdown, set by the kernel at boot, invalidates the TLBs of every CPU
// and returns once all have done so. Nil means one CPU: invlpg suffices.
var Shootdown func()

// unmapBatch bounds the frames held back between a PTE clear and the
// shootdown that makes freeing them safe.
const unmapBatch = 256

// unmapRange clears every 4 KiB mapping in [a, b), freeing the frames, and
// returns how many were present. Frames are freed only after every CPU's
// TLB has dropped the mapping (another CPU could otherwise still write
// through a stale entry into a reused page). Missing tables are skipped a
// whole level at a time, so releasing a huge, mostly untouched reservation
// is cheap.
func unmapRange(a, b uintptr) int {
	var batch [unmapBatch]uintptr
	nb, n := 0, 0
	flush := func() {
		if nb == 0 {
			return
		}
		if Shootdown != nil {
			Shootdown()
		}
		for _, pa := range batch[:nb] {
			freePage(pa, UseRuntime)
		}
		nb = 0
	}
	for va := a; va < b; {
		e, large, ok := walk(root(), va, false)
		if !ok {
			va = nextMapped(va)
			continue
		}
		if large {
			va += 1 << 21
			continue
		}
		if v := amd64.Load64(e); v&PTE_P != 0 {
			amd64.Store64(e, 0)
			amd64.Invlpg(va)
			batch[nb] = uintptr(v & pteAddr)
			nb++
			n++
			if nb == unmapBatch {
				flush()
			}
		}
		va += PageSize
	}
	flush()
	return n
}

// nextMapped returns the first address above va not covered by the
// highest-level missing table on va's walk.
func nextMapped(va uintptr) uintptr {
	table := root()
	for level := 4; level > 1; level-- {
		v := amd64.Load64(table + uintptr(Index(va, level))*8)
		if v&PTE_P == 0 {
			s := levelSize(level)
			return (va + s) &^ (s - 1)
		}
		table = uintptr(v & pteAddr)
	}
	return va + PageSize
}

func root() uintptr { return uintptr(amd64.ReadCR3() & pteAddr) }
