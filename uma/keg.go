package uma

import (
	"math/bits"
)

// Kegs and slabs (FreeBSD uma_keg/uma_slab): a keg carves slabs of
// 2^order pages from vm into items of a fixed stride. Slab bookkeeping
// (free bitmap, debug bitmap) lives on the Go heap, off the page, so the
// items fill the pages exactly and the page's contents are all the
// consumer's. Slabs are aligned to their size, so an item's slab is
// found by masking its address.
//
// Lock order: zone domain lock, then keg domain lock, then keg.mapMu
// (never the other way).

// slab is one run of pages cut into items.
type slab struct {
	va, pa uintptr
	dom    int
	nfree  int      // (kd.mu)
	free   []uint64 // (kd.mu) bit i set: item i is in the keg
	inUse  []uint64 // (kd.mu) debug zones: bit i set: item i is allocated to a consumer
	list   int      // (kd.mu) which list it is on
}

const (
	onPartial = iota
	onFull    // no free items
	onFree    // all items free
)

// kegDomain is a keg's slabs from one domain.
type kegDomain struct {
	mu      zmutex
	partial map[*slab]struct{} // (mu) some items free
	free    map[*slab]struct{} // (mu) all items free
	nfull   int                // (mu)
	nfree   int                // (mu) free items in the keg
	slabs   int                // (mu)
}

// keg is the backing store of a zone.
type keg struct {
	stride    uintptr // item size rounded up to the alignment
	order     int     // slab = 2^order pages
	slabBytes uintptr
	ipers     int // items per slab
	doms      []kegDomain

	mapMu zrw
	slabs map[uintptr]*slab // (mapMu) by slab address
}

// slabOrder picks the smallest slab (up to 64 KiB) that wastes at most
// 1/8 of its bytes on the tail, and returns its order and item count.
func slabOrder(stride uintptr) (order, ipers int) {
	for order = 0; order < 4; order++ {
		bytes := uintptr(pageSize) << order
		if stride <= bytes && (bytes%stride)*8 <= bytes {
			return order, int(bytes / stride)
		}
	}
	for bytes := uintptr(pageSize) << order; stride > bytes; bytes <<= 1 {
		order++
	}
	return order, int((uintptr(pageSize) << order) / stride)
}

const pageSize = 4096

func newKeg(stride uintptr, ndom int) *keg {
	k := &keg{stride: stride, doms: make([]kegDomain, ndom), slabs: map[uintptr]*slab{}}
	k.order, k.ipers = slabOrder(stride)
	k.slabBytes = uintptr(pageSize) << k.order
	k.mapMu.init("uma slab map")
	for i := range k.doms {
		k.doms[i].mu.init("uma keg domain")
		k.doms[i].partial = map[*slab]struct{}{}
		k.doms[i].free = map[*slab]struct{}{}
	}
	return k
}

// slabOf returns the slab holding item p, or nil.
func (k *keg) slabOf(p uintptr) *slab {
	k.mapMu.RLock()
	s := k.slabs[p&^(k.slabBytes-1)]
	k.mapMu.RUnlock()
	return s
}

// newSlab gets pages for a slab, preferably from domain d.
func (k *keg) newSlab(d int, debug bool) *slab {
	va, pa, dom, ok := allocPages(d, k.order)
	if !ok {
		return nil
	}
	if dom < 0 || dom >= len(k.doms) {
		dom = d
	}
	words := (k.ipers + 63) / 64
	s := &slab{va: va, pa: pa, dom: dom, nfree: k.ipers, free: make([]uint64, words)}
	for i := 0; i < k.ipers; i++ {
		s.free[i/64] |= 1 << (i % 64)
	}
	if debug {
		s.inUse = make([]uint64, words)
		k.poisonSlab(s)
	}
	k.mapMu.Lock()
	k.slabs[va] = s
	k.mapMu.Unlock()
	return s
}

// setList moves s to the list its free count says (kd.mu held).
func (kd *kegDomain) setList(s *slab, ipers int) {
	switch s.list {
	case onPartial:
		delete(kd.partial, s)
	case onFree:
		delete(kd.free, s)
	case onFull:
		kd.nfull--
	}
	switch {
	case s.nfree == 0:
		s.list = onFull
		kd.nfull++
	case s.nfree == ipers:
		s.list = onFree
		kd.free[s] = struct{}{}
	default:
		s.list = onPartial
		kd.partial[s] = struct{}{}
	}
}

// importItems takes up to len(out) items from domain d's slabs (new
// slabs as needed, which vm may place in another domain when d has no
// pages) and returns how many it took.
func (k *keg) importItems(d int, out []uintptr, debug bool) int {
	kd := &k.doms[d]
	n := 0
	kd.mu.Lock()
	for n < len(out) {
		var s *slab
		for c := range kd.partial {
			s = c
			break
		}
		if s == nil {
			for c := range kd.free {
				s = c
				break
			}
		}
		if s == nil {
			kd.mu.Unlock()
			s = k.newSlab(d, debug)
			if s == nil {
				return n
			}
			kd = &k.doms[s.dom]
			kd.mu.Lock()
			s.list = onFree
			kd.free[s] = struct{}{}
			kd.slabs++
			kd.nfree += k.ipers
		}
		for w := range s.free {
			for s.free[w] != 0 && n < len(out) {
				i := bits.TrailingZeros64(s.free[w])
				s.free[w] &^= 1 << i
				out[n] = s.va + uintptr(w*64+i)*k.stride
				n++
				s.nfree--
				kd.nfree--
			}
		}
		kd.setList(s, k.ipers)
		if kd != &k.doms[d] { // a slab from another domain: go back home
			kd.mu.Unlock()
			kd = &k.doms[d]
			kd.mu.Lock()
		}
	}
	kd.mu.Unlock()
	return n
}

// releaseItem returns item p to its slab.
func (k *keg) releaseItem(p uintptr) {
	s := k.slabOf(p)
	if s == nil {
		panic("uma: release of an address outside every slab")
	}
	i := int((p - s.va) / k.stride)
	kd := &k.doms[s.dom]
	kd.mu.Lock()
	s.free[i/64] |= 1 << (i % 64)
	s.nfree++
	kd.nfree++
	kd.setList(s, k.ipers)
	kd.mu.Unlock()
}

// freeSlabs returns all but keep of each domain's empty slabs to vm and
// reports how many pages it freed.
func (k *keg) freeSlabs(keep int) int {
	pages := 0
	for d := range k.doms {
		kd := &k.doms[d]
		var victims []*slab
		kd.mu.Lock()
		for s := range kd.free {
			if len(kd.free)-len(victims) <= keep {
				break
			}
			victims = append(victims, s)
		}
		for _, s := range victims {
			delete(kd.free, s)
			kd.slabs--
			kd.nfree -= k.ipers
		}
		kd.mu.Unlock()
		if len(victims) == 0 {
			continue
		}
		k.mapMu.Lock()
		for _, s := range victims {
			delete(k.slabs, s.va)
		}
		k.mapMu.Unlock()
		for _, s := range victims {
			freePages(s.va, k.order)
			pages += 1 << k.order
		}
	}
	return pages
}

// KegStats describes a keg.
type KegStats struct {
	Stride, SlabBytes  int
	ItemsPerSlab       int
	Slabs, FreeItems   int
	FullSlabs, Partial int
	EmptySlabs         int
	SlabsByDomain      []int
	FreeItemsByDomain  []int
}

func (k *keg) stats() KegStats {
	st := KegStats{Stride: int(k.stride), SlabBytes: int(k.slabBytes), ItemsPerSlab: k.ipers}
	for d := range k.doms {
		kd := &k.doms[d]
		kd.mu.Lock()
		st.Slabs += kd.slabs
		st.FreeItems += kd.nfree
		st.FullSlabs += kd.nfull
		st.Partial += len(kd.partial)
		st.EmptySlabs += len(kd.free)
		st.SlabsByDomain = append(st.SlabsByDomain, kd.slabs)
		st.FreeItemsByDomain = append(st.FreeItemsByDomain, kd.nfree)
		kd.mu.Unlock()
	}
	return st
}
