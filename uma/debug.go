package uma

import "fmt"

// Debug zones (FreeBSD INVARIANTS: uma_dbg_alloc/uma_dbg_free and the
// trash_ctor/trash_dtor poisoning). Each slab of a Debug zone has an
// in-use bitmap: set when a consumer gets the item, cleared when it gives
// it back, so a second free, or a free of an address that is not an
// item, is caught at once. Items of zones without Init/Fini are filled
// with a poison pattern whenever they are free (new slabs included) and
// checked when handed out: a write through a dangling pointer shows up
// as a changed word, reported with its offset and value.

// DebugError reports a misuse caught by a Debug zone.
type DebugError struct {
	Zone   string
	Kind   string // "double free", "use after free", "bad free"
	Addr   uintptr
	Offset int    // use after free: offset of the first changed word
	Value  uint64 // its value
}

func (e *DebugError) Error() string {
	switch e.Kind {
	case "use after free":
		return fmt.Sprintf("uma: zone %q: use after free: item %#x was modified while free (offset %d holds %#x, poison %#x)",
			e.Zone, e.Addr, e.Offset, e.Value, uint64(poisonWord))
	case "double free":
		return fmt.Sprintf("uma: zone %q: double free of item %#x", e.Zone, e.Addr)
	}
	return fmt.Sprintf("uma: zone %q: free of %#x, which is not an item of this zone", e.Zone, e.Addr)
}

// poisonItem fills the item's whole stride with the poison pattern.
func (z *RawZone) poisonItem(p uintptr) {
	for off := uintptr(0); off < z.keg.stride; off += 8 {
		store64(p+off, poisonWord)
	}
}

// poisonSlab poisons every item of a new slab of a Debug zone.
func (k *keg) poisonSlab(s *slab) {
	for off := uintptr(0); off+8 <= uintptr(k.ipers)*k.stride; off += 8 {
		store64(s.va+off, poisonWord)
	}
}

// itemIndex returns p's slab and index, or nil if p is not an item.
func (z *RawZone) itemIndex(p uintptr) (*slab, int) {
	s := z.keg.slabOf(p)
	if s == nil || (p-s.va)%z.keg.stride != 0 || int((p-s.va)/z.keg.stride) >= z.keg.ipers {
		return nil, 0
	}
	return s, int((p - s.va) / z.keg.stride)
}

// debugAlloc checks the poison of an item about to be handed out and
// marks it in use. A poisoned item found modified is quarantined (never
// handed out or reused) and reported.
func (z *RawZone) debugAlloc(p uintptr) error {
	s, i := z.itemIndex(p)
	if s == nil {
		return &DebugError{Zone: z.name, Kind: "bad free", Addr: p}
	}
	if z.poison {
		for off := uintptr(0); off < z.keg.stride; off += 8 {
			if v := load64(p + off); v != poisonWord {
				z.useAfterFree.Add(1)
				z.quarantined.Add(1)
				return &DebugError{Zone: z.name, Kind: "use after free", Addr: p, Offset: int(off), Value: v}
			}
		}
	}
	kd := &z.keg.doms[s.dom]
	kd.mu.Lock()
	s.inUse[i/64] |= 1 << (i % 64)
	kd.mu.Unlock()
	return nil
}

// debugFree checks that p is an item a consumer holds and marks it free.
func (z *RawZone) debugFree(p uintptr) error {
	s, i := z.itemIndex(p)
	if s == nil {
		z.doubleFrees.Add(1)
		return &DebugError{Zone: z.name, Kind: "bad free", Addr: p}
	}
	kd := &z.keg.doms[s.dom]
	kd.mu.Lock()
	held := s.inUse[i/64]&(1<<(i%64)) != 0
	s.inUse[i/64] &^= 1 << (i % 64)
	kd.mu.Unlock()
	if !held {
		z.doubleFrees.Add(1)
		return &DebugError{Zone: z.name, Kind: "double free", Addr: p}
	}
	return nil
}
