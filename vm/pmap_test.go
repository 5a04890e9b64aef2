package vm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeMem is a physical memory of page-table pages, allocated from a bump
// pointer far from the addresses the tests map.
type fakeMem struct {
	pages map[uintptr]*[512]uint64
	next  uintptr
	limit int // tables AllocTable may still hand out; <0 = unlimited
	freed map[uintptr]bool
}

func newFakeMem() *fakeMem {
	return &fakeMem{pages: map[uintptr]*[512]uint64{}, next: 0x7000_0000_0000, limit: -1, freed: map[uintptr]bool{}}
}

func (f *fakeMem) page(pa uintptr) *[512]uint64 {
	p := f.pages[pa&^(PageSize-1)]
	if p == nil {
		panic("fakeMem: access to a page that is not a live table")
	}
	return p
}

func (f *fakeMem) Load(pa uintptr) uint64     { return f.page(pa)[pa%PageSize/8] }
func (f *fakeMem) Store(pa uintptr, v uint64) { f.page(pa)[pa%PageSize/8] = v }
func (f *fakeMem) AllocTable() (uintptr, bool) {
	if f.limit == 0 {
		return 0, false
	}
	if f.limit > 0 {
		f.limit--
	}
	pa := f.next
	f.next += PageSize
	f.pages[pa] = new([512]uint64)
	return pa, true
}
func (f *fakeMem) FreeTable(pa uintptr) {
	if f.pages[pa] == nil {
		panic("fakeMem: freeing a page that is not a table")
	}
	delete(f.pages, pa)
	f.freed[pa] = true
}

func newPmap(t *testing.T) (*Pmap, *fakeMem, *int) {
	t.Helper()
	f := newFakeMem()
	root, _ := f.AllocTable()
	flushes := 0
	return &Pmap{Mem: f, Root: root, Flush: func() { flushes++ }}, f, &flushes
}

const (
	mib = 1 << 20
	gib = 1 << 30
)

func lookup(t *testing.T, m *Pmap, va uintptr) Mapping {
	t.Helper()
	mp, ok := m.Lookup(va)
	require.True(t, ok, "%#x not mapped", va)
	return mp
}

func TestPmapLargestPages(t *testing.T) {
	m, f, _ := newPmap(t)
	// 4 MiB + 8 KiB at a 2 MiB-aligned address: two 2 MiB leaves, two 4 KiB.
	va, pa := uintptr(0x4000_0000), uintptr(0x1_0000_0000)
	require.NoError(t, m.Map(va, pa, 4*mib+8192, ProtWrite, WB))
	require.Equal(t, Mapping{PA: pa + 0x1234, Size: 2 * mib, Prot: ProtWrite, Attr: WB}, lookup(t, m, va+0x1234))
	require.Equal(t, Mapping{PA: pa + 4*mib + 4096, Size: PageSize, Prot: ProtWrite, Attr: WB}, lookup(t, m, va+4*mib+4096))
	_, ok := m.Lookup(va + 4*mib + 8192)
	require.False(t, ok)
	var c Count
	m.Census(0, 1<<47, &c)
	require.Equal(t, uint64(2), c[1][WB][ProtWrite])
	require.Equal(t, uint64(2), c[0][WB][ProtWrite])
	// PML4, PDPT, PD, PT.
	require.Len(t, f.pages, 4)

	// Misaligned physical address: 4 KiB pages only.
	require.NoError(t, m.Map(0x8000_0000, 0x2000_1000, 2*mib, ProtExec, UC))
	require.Equal(t, Mapping{PA: 0x2000_1000, Size: PageSize, Prot: ProtExec, Attr: UC}, lookup(t, m, 0x8000_0000))
	require.Equal(t, Mapping{PA: 0x2020_0000, Size: PageSize, Prot: ProtExec, Attr: UC}, lookup(t, m, 0x8000_0000+2*mib-4096))
}

func TestPmap1G(t *testing.T) {
	m, _, _ := newPmap(t)
	require.NoError(t, m.Map(gib, 2*gib, gib, ProtWrite, WB))
	require.Equal(t, uintptr(2*mib), lookup(t, m, gib).Size, "no 1 GiB leaves unless Huge1G")
	m2, f2, _ := newPmap(t)
	m2.Huge1G = true
	require.NoError(t, m2.Map(gib, 2*gib, gib, ProtWrite, WB))
	require.Equal(t, Mapping{PA: 2*gib + 5, Size: gib, Prot: ProtWrite}, lookup(t, m2, gib+5))
	require.Len(t, f2.pages, 2, "PML4 and PDPT only")
	// Protect one 4 KiB page in the middle: 1 GiB → 2 MiB → 4 KiB, the
	// rest unchanged; protect it back: merged all the way up again.
	mid := uintptr(gib + 300*mib + 5*PageSize)
	require.NoError(t, m2.Protect(mid, PageSize, ProtRead))
	require.Equal(t, Mapping{PA: mid + gib, Size: PageSize, Prot: ProtRead}, lookup(t, m2, mid))
	require.Equal(t, Mapping{PA: mid + gib + PageSize, Size: PageSize, Prot: ProtWrite}, lookup(t, m2, mid+PageSize))
	require.Equal(t, Mapping{PA: 2 * gib, Size: 2 * mib, Prot: ProtWrite}, lookup(t, m2, gib))
	require.Equal(t, uint64(2), m2.Stats.Splits)
	require.NoError(t, m2.Protect(mid, PageSize, ProtWrite))
	require.Equal(t, Mapping{PA: mid + gib, Size: gib, Prot: ProtWrite}, lookup(t, m2, mid))
	require.Equal(t, uint64(2), m2.Stats.Merges)
	require.Len(t, f2.pages, 2, "the split tables were freed")
}

func TestPmapSplitKeepsEverythingElse(t *testing.T) {
	m, f, flushes := newPmap(t)
	va, pa := uintptr(0x20_0000_0000), uintptr(0x4000_0000)
	require.NoError(t, m.Map(va, pa, 4*mib, ProtExec, WC))
	before := *flushes
	require.NoError(t, m.Unmap(va+2*mib+8192, PageSize))
	require.Greater(t, *flushes, before, "removal flushes")
	for off := uintptr(0); off < 4*mib; off += PageSize {
		mp, ok := m.Lookup(va + off)
		if off == 2*mib+8192 {
			require.False(t, ok)
			continue
		}
		require.True(t, ok)
		require.Equal(t, pa+off, mp.PA)
		require.Equal(t, ProtExec, mp.Prot)
		require.Equal(t, WC, mp.Attr)
		if off < 2*mib {
			require.Equal(t, uintptr(2*mib), mp.Size, "first 2 MiB untouched")
		} else {
			require.Equal(t, uintptr(PageSize), mp.Size)
		}
	}
	// Map the hole back: the table merges into a 2 MiB leaf again.
	require.NoError(t, m.Map(va+2*mib+8192, pa+2*mib+8192, PageSize, ProtExec, WC))
	require.Equal(t, uintptr(2*mib), lookup(t, m, va+2*mib).Size)
	require.Len(t, f.freed, 1)
	// Remove everything: every table but the root is freed.
	require.NoError(t, m.Unmap(va, 4*mib))
	require.Len(t, f.pages, 1)
}

func TestPmapProtectAndAttr(t *testing.T) {
	m, _, flushes := newPmap(t)
	require.NoError(t, m.Map(0, 0, 8*mib, ProtWrite|ProtExec, WB))
	// W^X over an "image": text rx, rodata r, data rw.
	require.NoError(t, m.Protect(2*mib+4096, 3*4096, ProtExec))
	require.NoError(t, m.Protect(2*mib+4*4096, 2*4096, ProtRead))
	require.NoError(t, m.Protect(2*mib+6*4096, 6*mib-6*4096, ProtWrite))
	require.NoError(t, m.SetAttr(6*mib, 2*mib, UC))
	require.Equal(t, ProtExec, lookup(t, m, 2*mib+4096).Prot)
	require.Equal(t, ProtRead, lookup(t, m, 2*mib+5*4096).Prot)
	require.Equal(t, ProtWrite, lookup(t, m, 2*mib+6*4096).Prot)
	require.Equal(t, Mapping{PA: 6 * mib, Size: 2 * mib, Prot: ProtWrite, Attr: UC}, lookup(t, m, 6*mib))
	require.Equal(t, Mapping{PA: 4 * mib, Size: 2 * mib, Prot: ProtWrite, Attr: WB}, lookup(t, m, 4*mib), "merged back after the split")
	require.Equal(t, ProtWrite|ProtExec, lookup(t, m, 0).Prot)

	// Rights and attributes of the leaf bits.
	e := func(va uintptr) uint64 {
		table := m.Root
		for level := 4; ; level-- {
			v := m.Mem.Load(table + uintptr(Index(va, level))*8)
			if isLeaf(v, level) {
				return v
			}
			table = uintptr(v & pteAddr)
		}
	}
	require.Equal(t, uint64(PTE_NX|PTE_PCD|PTE_PWT|PTE_RW|PTE_PS|PTE_P), e(6*mib)&^pteAddr)
	require.Equal(t, uint64(PTE_P), e(2*mib+4096)&^pteAddr, "text: read-only, executable")

	// No change: no flush.
	before := *flushes
	require.NoError(t, m.Protect(2*mib+4096, 3*4096, ProtExec))
	require.Equal(t, before, *flushes)
	require.NoError(t, m.SetAttr(6*mib, 2*mib, WC))
	require.Equal(t, before+1, *flushes, "attribute change flushes")

	// Holes are reported; the mapped part still changes.
	require.ErrorIs(t, m.Protect(8*mib-4096, 2*4096, ProtRead), ErrNotMapped)
	require.Equal(t, ProtRead, lookup(t, m, 8*mib-4096).Prot)
	require.ErrorIs(t, m.Unmap(100*mib, 4096), ErrNotMapped)
}

func TestPmapErrors(t *testing.T) {
	m, f, _ := newPmap(t)
	require.ErrorIs(t, m.Map(0x1001, 0, 4096, ProtRead, WB), ErrAlign)
	require.ErrorIs(t, m.Map(0x1000, 0x10, 4096, ProtRead, WB), ErrAlign)
	require.ErrorIs(t, m.Protect(0, 100, ProtRead), ErrAlign)
	require.ErrorIs(t, m.Map(1<<47, 0, 4096, ProtRead, WB), ErrCanonical)
	f.limit = 1
	require.ErrorIs(t, m.Map(0x1000, 0x1000, 4096, ProtRead, WB), ErrNoTables)
}

func TestPmapReplaceTableWithLeaf(t *testing.T) {
	m, f, _ := newPmap(t)
	require.NoError(t, m.Map(0x40_0000, 0x1000, 4*4096, ProtWrite, WB))
	n := len(f.pages)
	// A 2 MiB mapping over the 4 KiB ones: their table goes.
	require.NoError(t, m.Map(0x40_0000, 0x80_0000, 2*mib, ProtRead, UC))
	require.Equal(t, Mapping{PA: 0x80_0000, Size: 2 * mib, Prot: ProtRead, Attr: UC}, lookup(t, m, 0x40_0000))
	require.Len(t, f.pages, n-1)
}

func TestPATValue(t *testing.T) {
	// SDM table 11-10 encodings at PA0..PA7.
	require.Equal(t, uint64(0x0007010600070106), uint64(PATValue))
	for a := Attr(0); a < nAttrs; a++ {
		require.Equal(t, uint64(a)<<3, attrPTE(a))
	}
	require.Equal(t, "rw-", ProtWrite.String())
	require.Equal(t, "r-x", ProtExec.String())
	require.Equal(t, "UC-", UCMinus.String())
}
