package vm

import "errors"

// The kernel pmap: map, unmap, protect and re-attribute ranges of the one
// 4-level page-table tree (Intel SDM vol. 3A §4.5), with 4 KiB, 2 MiB and,
// where the CPU has them (CPUID 80000001H:EDX.Page1GB), 1 GiB pages.
//
// A range operation walks the tree level by level. A leaf that the range
// covers only in part is split first into a table of the next level whose
// entries reproduce it exactly (same frames, rights and attributes), so
// the untouched part never changes; after an operation each table it went
// through whose 512 entries are again one contiguous, aligned run with the
// same bits is merged back into a large leaf (promotion), and a table left
// empty is freed. Tables are freed, and the call returns, only after the
// TLB flush: a CPU could otherwise still walk a freed table through its
// paging-structure caches (SDM §4.10.3).
//
// Every change to a present entry (removal, fewer rights, other
// attributes, a split or merge) makes the operation flush: the Flush hook
// (the kernel's TLB shootdown) runs once per operation, before it returns,
// so when Map/Unmap/Protect/SetAttr return no CPU uses the old entry.
//
// Caching attributes are PAT indexes (SDM §11.12). IA32_PAT is programmed
// identically on every CPU with PATValue, chosen so the PAT bit (bit 7 in a
// 4 KiB entry, bit 12 in a large one) is never needed: an attribute is just
// the entry's PWT and PCD bits, the same at every level.
//
// The logic reaches page-table pages only through a PhysMem, so the host
// tests run it over a fake physical memory; the kernel's PhysMem is the
// identity map and the page allocator (kpmap.go). The caller serialises
// operations on one tree.

// Prot is the access a mapping allows beyond reading.
type Prot uint8

// Protection bits.
const (
	ProtRead  Prot = 0
	ProtWrite Prot = 1 << 0
	ProtExec  Prot = 1 << 1
)

// Attr is a caching attribute (a PAT entry).
type Attr uint8

// Caching attributes: the PAT index is the attribute (PAT bit 0 = PWT,
// bit 1 = PCD).
const (
	WB      Attr = 0 // write-back: memory
	WC      Attr = 1 // write-combining: framebuffers
	UCMinus Attr = 2 // uncacheable, MTRR WC may override
	UC      Attr = 3 // strong uncacheable: device registers
	nAttrs       = 4
)

// PAT memory types (SDM table 11-10).
const (
	patUC      = 0x00
	patWC      = 0x01
	patWB      = 0x06
	patUCMinus = 0x07

	// IA32_PAT is MSR 277H (SDM §11.12.2).
	IA32_PAT = 0x277

	// PATValue gives PA0..PA3 = WB, WC, UC-, UC and PA4..PA7 the same, so
	// the PAT bit of an entry does not matter.
	PATValue = patWB | patWC<<8 | patUCMinus<<16 | patUC<<24 |
		(patWB|patWC<<8|patUCMinus<<16|patUC<<24)<<32
)

var attrNames = [nAttrs]string{"WB", "WC", "UC-", "UC"}

func (a Attr) String() string {
	if int(a) < len(attrNames) {
		return attrNames[a]
	}
	return "attr?"
}

func (p Prot) String() string {
	s := "r"
	if p&ProtWrite != 0 {
		s += "w"
	} else {
		s += "-"
	}
	if p&ProtExec != 0 {
		s += "x"
	} else {
		s += "-"
	}
	return s
}

// Errors of the pmap operations (sentinels only: they are returned from
// trap context, which must not allocate).
var (
	ErrAlign     = errors.New("vm: pmap range not page-aligned")
	ErrNoTables  = errors.New("vm: no memory for page tables")
	ErrNotMapped = errors.New("vm: part of the range is not mapped")
	ErrCanonical = errors.New("vm: range outside the lower canonical half")
)

// PhysMem is the pmap's access to page-table pages.
type PhysMem interface {
	Load(pa uintptr) uint64
	Store(pa uintptr, v uint64)
	// AllocTable returns a zeroed page for a table.
	AllocTable() (uintptr, bool)
	// FreeTable takes back a page AllocTable returned (or a boot table,
	// which it may keep).
	FreeTable(pa uintptr)
}

// PmapStats counts what the operations did.
type PmapStats struct {
	Splits, Merges, TablesAlloc, TablesFreed, Flushes uint64
}

// Pmap is one page-table tree.
type Pmap struct {
	Mem  PhysMem
	Root uintptr // physical address of the PML4
	// Huge1G allows 1 GiB leaves (the CPU has Page1GB).
	Huge1G bool
	// Flush invalidates every CPU's TLB; nil on the host.
	Flush func()

	Stats PmapStats

	// per-operation state
	flush bool
	nfree int
	free  [32]uintptr
}

// Bits of an entry an attribute or the rights live in; the rest (frame,
// P, PS, A, D) is left alone by Protect and SetAttr.
const (
	attrBits = PTE_PWT | PTE_PCD
	protBits = PTE_RW | PTE_NX
	leafAddr = pteAddr
	// flags compared when merging: everything but the frame, A and D.
	mergeMask = ^uint64(pteAddr) &^ (PTE_A | PTE_D)
	patLarge  = 1 << 12 // PAT bit of a large leaf: part of its frame field
)

func protPTE(p Prot) uint64 {
	v := uint64(0)
	if p&ProtWrite != 0 {
		v |= PTE_RW
	}
	if p&ProtExec == 0 {
		v |= PTE_NX
	}
	return v
}

func attrPTE(a Attr) uint64 { return uint64(a&3) << 3 }

// Mapping describes what one address maps to.
type Mapping struct {
	PA   uintptr
	Size uintptr // 4 KiB, 2 MiB or 1 GiB: the leaf's span
	Prot Prot
	Attr Attr
}

// leafFrame returns the frame address of a leaf at level.
func leafFrame(v uint64, level int) uintptr {
	if level == 1 {
		return uintptr(v & leafAddr)
	}
	return uintptr(v&leafAddr) &^ (levelSize(level) - 1)
}

func isLeaf(v uint64, level int) bool { return level == 1 || v&PTE_PS != 0 }

func decode(v uint64, level int) (Prot, Attr) {
	var p Prot
	if v&PTE_RW != 0 {
		p |= ProtWrite
	}
	if v&PTE_NX == 0 {
		p |= ProtExec
	}
	return p, Attr(v >> 3 & 3)
}

// Lookup returns the mapping of va.
func (m *Pmap) Lookup(va uintptr) (Mapping, bool) { return lookupIn(m.Mem, m.Root, va) }

func lookupIn(mem PhysMem, root, va uintptr) (Mapping, bool) {
	table := root
	for level := 4; level >= 1; level-- {
		v := mem.Load(table + uintptr(Index(va, level))*8)
		if v&PTE_P == 0 {
			return Mapping{}, false
		}
		if isLeaf(v, level) {
			s := levelSize(level)
			p, a := decode(v, level)
			return Mapping{PA: leafFrame(v, level) | va&(s-1), Size: s, Prot: p, Attr: a}, true
		}
		table = uintptr(v & pteAddr)
	}
	return Mapping{}, false
}

func checkRange(va, n uintptr) error {
	if va%PageSize != 0 || n%PageSize != 0 {
		return ErrAlign
	}
	if va+n < va || va+n > 1<<47 {
		return ErrCanonical
	}
	return nil
}

type opKind uint8

const (
	opMap opKind = iota
	opUnmap
	opProtect
	opAttr
)

type op struct {
	kind  opKind
	delta uintptr // pa - va for opMap
	bits  uint64  // leaf bits for opMap (P, RW, NX, PWT, PCD); new bits for protect/attr
	mask  uint64  // bits opProtect/opAttr replace
	holes bool    // opProtect/opAttr/opUnmap met an unmapped part
	err   error
}

// Map maps [va, va+n) to [pa, pa+n) with prot and attr, using the largest
// pages alignment allows. Existing mappings in the range are replaced.
func (m *Pmap) Map(va, pa, n uintptr, prot Prot, attr Attr) error {
	if err := checkRange(va, n); err != nil {
		return err
	}
	if pa%PageSize != 0 {
		return ErrAlign
	}
	o := op{kind: opMap, delta: pa - va, bits: PTE_P | protPTE(prot) | attrPTE(attr)}
	return m.run(&o, va, n)
}

// Unmap removes every mapping in [va, va+n); frames are not freed (the
// caller owns them). ErrNotMapped reports that part was not mapped (the
// rest was unmapped).
func (m *Pmap) Unmap(va, n uintptr) error {
	if err := checkRange(va, n); err != nil {
		return err
	}
	o := op{kind: opUnmap}
	return m.run(&o, va, n)
}

// Protect sets the rights of every mapping in [va, va+n), keeping frames
// and attributes. ErrNotMapped reports holes (the mapped parts changed).
func (m *Pmap) Protect(va, n uintptr, prot Prot) error {
	if err := checkRange(va, n); err != nil {
		return err
	}
	o := op{kind: opProtect, bits: protPTE(prot), mask: protBits}
	return m.run(&o, va, n)
}

// SetAttr sets the caching attribute of every mapping in [va, va+n),
// keeping frames and rights. ErrNotMapped reports holes.
func (m *Pmap) SetAttr(va, n uintptr, attr Attr) error {
	if err := checkRange(va, n); err != nil {
		return err
	}
	o := op{kind: opAttr, bits: attrPTE(attr), mask: attrBits}
	return m.run(&o, va, n)
}

func (m *Pmap) run(o *op, va, n uintptr) error {
	m.flush, m.nfree = false, 0
	if n > 0 {
		m.level(o, m.Root, 4, 0, va, va+n)
	}
	m.finish()
	switch {
	case o.err != nil:
		return o.err
	case o.holes:
		return ErrNotMapped
	}
	return nil
}

// finish flushes if anything present changed, then frees the tables the
// operation took out of the tree.
func (m *Pmap) finish() {
	if m.flush {
		m.Stats.Flushes++
		if m.Flush != nil {
			m.Flush()
		}
		m.flush = false
	}
	for _, t := range m.free[:m.nfree] {
		m.Mem.FreeTable(t)
		m.Stats.TablesFreed++
	}
	m.nfree = 0
}

// retire queues table t (already unlinked) for freeing after the flush;
// a full queue flushes early.
func (m *Pmap) retire(t uintptr) {
	m.flush = true
	if m.nfree == len(m.free) {
		m.finish()
		m.flush = true
	}
	m.free[m.nfree] = t
	m.nfree++
}

// retireTree retires table t of level and every table below it.
func (m *Pmap) retireTree(t uintptr, level int) {
	if level > 1 {
		for i := uintptr(0); i < 512; i++ {
			v := m.Mem.Load(t + i*8)
			if v&PTE_P != 0 && !isLeaf(v, level) {
				m.retireTree(uintptr(v&pteAddr), level-1)
			}
		}
	}
	m.retire(t)
}

// leafOK reports whether a leaf may sit at level.
func (m *Pmap) leafOK(level int) bool {
	return level == 1 || level == 2 || level == 3 && m.Huge1G
}

// level applies o to [va, end) within the table at level whose span starts
// at base.
func (m *Pmap) level(o *op, table uintptr, level int, base, va, end uintptr) {
	span := levelSize(level)
	for va < end && o.err == nil {
		i := Index(va, level)
		eBase := base + uintptr(i)*span
		cEnd := min(end, eBase+span)
		e := table + uintptr(i)*8
		v := m.Mem.Load(e)
		whole := va == eBase && cEnd == eBase+span
		present := v&PTE_P != 0
		leaf := present && isLeaf(v, level)

		switch {
		case o.kind == opMap && whole && m.leafOK(level) && (va+o.delta)%span == 0:
			nv := uint64(va+o.delta) | o.bits
			if level > 1 {
				nv |= PTE_PS
			}
			if present {
				if !leaf {
					m.Mem.Store(e, nv)
					m.retireTree(uintptr(v&pteAddr), level-1)
					break
				}
				if v&^(PTE_A|PTE_D) != nv {
					m.flush = true
				}
			}
			m.Mem.Store(e, nv)
		case !present && o.kind != opMap:
			o.holes = true
		case leaf && whole:
			switch o.kind {
			case opUnmap:
				m.Mem.Store(e, 0)
				m.flush = true
			default: // protect, attr
				if nv := v&^o.mask | o.bits; nv != v {
					m.Mem.Store(e, nv)
					m.flush = true
				}
			}
		default:
			// Part of this entry's span, or a table: go down.
			if level == 1 {
				panic("vm.Pmap: partial 4 KiB page") // ranges are page-aligned
			}
			sub, ok := m.descend(e, v, level)
			if !ok {
				o.err = ErrNoTables
				return
			}
			m.level(o, sub, level-1, eBase, va, cEnd)
			m.collapse(e, sub, level)
		}
		va = cEnd
	}
}

// descend returns the table entry e (of level) points to, allocating an
// empty one or splitting a leaf into one.
func (m *Pmap) descend(e uintptr, v uint64, level int) (uintptr, bool) {
	if v&PTE_P != 0 && !isLeaf(v, level) {
		return uintptr(v & pteAddr), true
	}
	t, ok := m.Mem.AllocTable()
	if !ok {
		return 0, false
	}
	m.Stats.TablesAlloc++
	if v&PTE_P != 0 {
		// Split: the same frames, rights and attributes in 512 smaller
		// leaves. The PAT bit of a large leaf (bit 12) is never set
		// (PATValue), so the flags carry over as they are.
		flags := v &^ pteAddr &^ PTE_PS
		frame := leafFrame(v, level)
		sub := levelSize(level - 1)
		if level-1 > 1 {
			flags |= PTE_PS
		}
		for i := uintptr(0); i < 512; i++ {
			m.Mem.Store(t+i*8, uint64(frame+i*sub)|flags)
		}
		m.Stats.Splits++
		m.flush = true // SDM §4.10.2.3: a page-size change is invalidated
	}
	// A new table entry: present, writable, executable; the leaves below
	// decide the rights (the most restrictive level wins).
	m.Mem.Store(e, uint64(t)|PTE_P|PTE_RW)
	return t, true
}

// collapse frees table t (below entry e of level) if it is empty, or merges
// it into one leaf if its entries are one aligned contiguous run with the
// same bits and a leaf may sit at level.
func (m *Pmap) collapse(e, t uintptr, level int) {
	first := m.Mem.Load(t)
	if first&PTE_P == 0 {
		for i := uintptr(1); i < 512; i++ {
			if m.Mem.Load(t+i*8) != 0 {
				return
			}
		}
		m.Mem.Store(e, 0)
		m.retire(t)
		return
	}
	if !m.leafOK(level) || !isLeaf(first, level-1) {
		return
	}
	frame := leafFrame(first, level-1)
	if frame%levelSize(level) != 0 {
		return
	}
	sub := levelSize(level - 1)
	for i := uintptr(1); i < 512; i++ {
		v := m.Mem.Load(t + i*8)
		if v&PTE_P == 0 || !isLeaf(v, level-1) || v&mergeMask != first&mergeMask || leafFrame(v, level-1) != frame+i*sub {
			return
		}
	}
	m.Mem.Store(e, uint64(frame)|first&mergeMask|PTE_PS)
	m.Stats.Merges++
	m.retire(t)
}

// Count is a census of the leaves: by level (0 = 4 KiB, 1 = 2 MiB,
// 2 = 1 GiB), attribute and rights.
type Count [3][nAttrs][4]uint64

// Census counts the leaves mapping [va, va+n) (whole leaves that start in
// the range).
func (m *Pmap) Census(va, n uintptr, c *Count) {
	m.census(m.Root, 4, 0, va, va+n, c)
}

func (m *Pmap) census(table uintptr, level int, base, va, end uintptr, c *Count) {
	span := levelSize(level)
	for va < end {
		i := Index(va, level)
		eBase := base + uintptr(i)*span
		v := m.Mem.Load(table + uintptr(i)*8)
		if v&PTE_P != 0 {
			if isLeaf(v, level) {
				if eBase >= va && level <= 3 {
					p, a := decode(v, level)
					c[level-1][a][p]++
				}
			} else {
				m.census(uintptr(v&pteAddr), level-1, eBase, va, min(end, eBase+span), c)
			}
		}
		va = eBase + span
		if i == 511 {
			return
		}
	}
}
