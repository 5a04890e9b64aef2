package vm

import "errors"

// Buddy is a binary buddy allocator over a span of pages (Knuth, TAOCP
// vol. 1 §2.5; FreeBSD vm_phys.c keeps the same free lists by order). It
// is pure bookkeeping: it hands out page indices relative to the span's
// first page, never touches the pages, and keeps all of its state in a
// caller-supplied metadata slice (one word per page), so it allocates
// nothing, runs in trap context and is tested on the host. The caller
// serialises access.
//
// A block of order k is 2^k pages starting at an index that is a
// multiple of 2^k; the span's first page must therefore be aligned to
// 2^(MaxOrder-1) pages for blocks to be physically aligned to their size.
// Pages the span covers but does not manage (holes in the memory map,
// the metadata itself) are never freed into it and never merge.
//
// Metadata word of page i (only block heads carry a state):
//
//	bits  0–23  next free block of the same order (nilPage = none)
//	bits 24–47  previous free block
//	bits 48–55  order of the block headed here
//	bits 56–63  state: stNone (not a head), stFree, stAlloc,
//	            stRunHead, stRunPart
type Buddy struct {
	meta   []uint64
	head   [MaxOrder]uint32 // first free block of each order
	nfree  [MaxOrder]uint64 // free blocks of each order
	free   uint64           // free pages
	total  uint64           // pages ever added
	allocs uint64           // successful allocation calls
	frees  uint64           // free calls
}

// MaxOrder is the number of block orders: the largest block is
// 2^(MaxOrder-1) pages (4 MiB).
const MaxOrder = 11

// MaxSpanPages bounds a span (the 24-bit links of a metadata word).
const MaxSpanPages = 1<<24 - 1

const (
	nilPage = 1<<24 - 1

	stNone    = 0
	stFree    = 1
	stAlloc   = 2 // a block from Alloc
	stRunHead = 3 // the first chunk of a run from AllocRun
	stRunPart = 4 // a later chunk of a run
)

// Errors from Buddy.Free.
var (
	ErrNotAllocated = errors.New("vm: free of a page that is not the head of an allocated block (double free?)")
	ErrWrongOrder   = errors.New("vm: free with a size other than the allocation's")
	ErrOutOfSpan    = errors.New("vm: page outside the allocator's span")
)

//go:nosplit
func mkMeta(next, prev uint32, order, state uint8) uint64 {
	return uint64(next) | uint64(prev)<<24 | uint64(order)<<48 | uint64(state)<<56
}

//go:nosplit
func (b *Buddy) next(i uint32) uint32 { return uint32(b.meta[i] & nilPage) }

//go:nosplit
func (b *Buddy) prev(i uint32) uint32 { return uint32(b.meta[i] >> 24 & nilPage) }

//go:nosplit
func (b *Buddy) order(i uint32) int { return int(b.meta[i] >> 48 & 0xff) }

//go:nosplit
func (b *Buddy) state(i uint32) int { return int(b.meta[i] >> 56) }

//go:nosplit
func (b *Buddy) setNext(i, n uint32) { b.meta[i] = b.meta[i]&^nilPage | uint64(n) }

//go:nosplit
func (b *Buddy) setPrev(i, p uint32) { b.meta[i] = b.meta[i]&^(nilPage<<24) | uint64(p)<<24 }

// Init makes b manage nothing yet over a span of len(meta) pages.
func (b *Buddy) Init(meta []uint64) {
	if len(meta) > MaxSpanPages {
		meta = meta[:MaxSpanPages]
	}
	*b = Buddy{meta: meta}
	for i := range meta {
		meta[i] = mkMeta(nilPage, nilPage, 0, stNone)
	}
	for k := range b.head {
		b.head[k] = nilPage
	}
}

// Span returns the number of pages the span covers.
//
//go:nosplit
func (b *Buddy) Span() int { return len(b.meta) }

// push puts the block at i on order k's free list.
//
//go:nosplit
func (b *Buddy) push(i uint32, k int) {
	h := b.head[k]
	b.meta[i] = mkMeta(h, nilPage, uint8(k), stFree)
	if h != nilPage {
		b.setPrev(h, i)
	}
	b.head[k] = i
	b.nfree[k]++
}

// unlink takes the free block at i off order k's list; its head state is
// left for the caller to set.
//
//go:nosplit
func (b *Buddy) unlink(i uint32, k int) {
	n, p := b.next(i), b.prev(i)
	if p == nilPage {
		b.head[k] = n
	} else {
		b.setNext(p, n)
	}
	if n != nilPage {
		b.setPrev(n, p)
	}
	b.meta[i] = mkMeta(nilPage, nilPage, 0, stNone)
	b.nfree[k]--
}

// release frees the block of order k at i, merging it with free buddies.
//
//go:nosplit
func (b *Buddy) release(i uint32, k int) {
	b.free += 1 << k
	for k < MaxOrder-1 {
		j := i ^ 1<<k
		if int(j)+1<<k > len(b.meta) || b.state(j) != stFree || b.order(j) != k {
			break
		}
		b.unlink(j, k)
		b.meta[i] = mkMeta(nilPage, nilPage, 0, stNone)
		i &= j
		k++
	}
	b.push(i, k)
}

// AddRange gives the pages [first, first+n) of the span to the allocator
// as free memory (at boot, and for held memory released later: ranges
// must not overlap).
//
//go:nosplit
func (b *Buddy) AddRange(first, n int) {
	if first < 0 || n <= 0 || first+n > len(b.meta) {
		return
	}
	i, end := uint32(first), uint32(first+n)
	for i < end {
		k := MaxOrder - 1
		for k > 0 && (i&(1<<k-1) != 0 || i+1<<k > end) {
			k--
		}
		b.total += 1 << k
		b.release(i, k)
		i += 1 << k
	}
}

// Alloc returns the first page of a free block of order k.
//
//go:nosplit
func (b *Buddy) Alloc(k int) (int, bool) {
	if k < 0 || k >= MaxOrder {
		return 0, false
	}
	j := k
	for j < MaxOrder && b.head[j] == nilPage {
		j++
	}
	if j == MaxOrder {
		return 0, false
	}
	return b.take(b.head[j], j, k), true
}

// AllocBelow returns the first page of a free block of order k that ends
// at or below page limit (a device's DMA reach): the free lists are walked
// for the first block low enough, smallest order first, and a larger block
// is split keeping its lower half, so the cost is the number of free blocks
// looked at. With limit at or past the span it is Alloc.
//
//go:nosplit
func (b *Buddy) AllocBelow(k, limit int) (int, bool) {
	if limit >= len(b.meta) {
		return b.Alloc(k)
	}
	if k < 0 || k >= MaxOrder {
		return 0, false
	}
	return b.allocBelowRun(1<<k, k, limit)
}

// take unlinks the free block of order j at i and splits it down to order
// k, keeping the lower half; the block at i of order k is allocated.
//
//go:nosplit
func (b *Buddy) take(i uint32, j, k int) int {
	b.unlink(i, j)
	for j > k { // split, keeping the lower half
		j--
		b.push(i+1<<j, j)
	}
	b.meta[i] = mkMeta(nilPage, nilPage, uint8(k), stAlloc)
	b.free -= 1 << k
	b.allocs++
	return int(i)
}

// Free returns the block of order k at page i.
//
//go:nosplit
func (b *Buddy) Free(i, k int) error {
	if i < 0 || i >= len(b.meta) {
		return ErrOutOfSpan
	}
	if b.state(uint32(i)) != stAlloc {
		return ErrNotAllocated
	}
	if b.order(uint32(i)) != k {
		return ErrWrongOrder
	}
	b.frees++
	b.release(uint32(i), k)
	return nil
}

// OrderFor returns the smallest order whose blocks hold n pages.
//
//go:nosplit
func OrderFor(n int) int {
	k := 0
	for 1<<k < n {
		k++
	}
	return k
}

// chunkOrder returns the order of the first aligned power-of-two chunk of
// the run [i, i+n): the decomposition both AllocRun and FreeRun use
// (loops, not a callback, so that the whole locked section is nosplit).
//
//go:nosplit
func chunkOrder(i, n int) int {
	k := 0
	for k+1 < MaxOrder && i&(1<<(k+1)-1) == 0 && 1<<(k+1) <= n {
		k++
	}
	return k
}

// AllocRun returns the first of n physically contiguous pages whose first
// page index is a multiple of align (a power of two, in pages), for DMA.
// The run is carved from one block of order max(OrderFor(n),
// OrderFor(align)); the unused tail goes straight back to the free lists,
// so only n pages are consumed. Free it with FreeRun(i, n).
//
//go:nosplit
func (b *Buddy) AllocRun(n, align int) (int, bool) {
	return b.AllocRunBelow(n, align, len(b.meta))
}

// AllocRunBelow is AllocRun for a run that must end at or below page
// limit.
//
//go:nosplit
func (b *Buddy) AllocRunBelow(n, align, limit int) (int, bool) {
	if n <= 0 || align <= 0 || align&(align-1) != 0 {
		return 0, false
	}
	k := max(OrderFor(n), OrderFor(align))
	var i int
	var ok bool
	if limit >= len(b.meta) {
		i, ok = b.Alloc(k)
	} else {
		i, ok = b.allocBelowRun(n, k, limit)
	}
	if !ok {
		return 0, false
	}
	// Re-mark the block as the run's chunks; the tail goes back free.
	b.meta[i] = mkMeta(nilPage, nilPage, 0, stNone)
	st := uint8(stRunHead)
	for c, left := i, n; left > 0; {
		ck := chunkOrder(c, left)
		b.meta[c] = mkMeta(nilPage, nilPage, uint8(ck), st)
		st = stRunPart
		c += 1 << ck
		left -= 1 << ck
	}
	for c, left := i+n, 1<<k-n; left > 0; {
		ck := chunkOrder(c, left)
		b.release(uint32(c), ck)
		c += 1 << ck
		left -= 1 << ck
	}
	return i, true
}

// allocBelowRun finds a free block of order k or larger whose first n
// pages end at or below limit, smallest order first, and splits it down to
// order k.
//
//go:nosplit
func (b *Buddy) allocBelowRun(n, k, limit int) (int, bool) {
	if k >= MaxOrder || limit <= 0 {
		return 0, false
	}
	for j := k; j < MaxOrder; j++ {
		for i := b.head[j]; i != nilPage; i = b.next(i) {
			if int(i)+n <= limit {
				return b.take(i, j, k), true
			}
		}
	}
	return 0, false
}

// FreeRun returns a run from AllocRun. Every chunk is checked before any
// is freed, so a bad call changes nothing.
//
//go:nosplit
func (b *Buddy) FreeRun(i, n int) error {
	if i < 0 || n <= 0 || i+n > len(b.meta) {
		return ErrOutOfSpan
	}
	want := stRunHead
	for c, left := i, n; left > 0; {
		ck := chunkOrder(c, left)
		switch {
		case b.state(uint32(c)) != want:
			return ErrNotAllocated
		case b.order(uint32(c)) != ck:
			return ErrWrongOrder
		}
		want = stRunPart
		c += 1 << ck
		left -= 1 << ck
	}
	if i+n < len(b.meta) && b.state(uint32(i+n)) == stRunPart {
		return ErrWrongOrder // the run goes on: n is too short
	}
	for c, left := i, n; left > 0; {
		ck := chunkOrder(c, left)
		b.release(uint32(c), ck)
		c += 1 << ck
		left -= 1 << ck
	}
	b.frees++
	return nil
}

// BuddyStats are an allocator's counters.
type BuddyStats struct {
	Total, Free    uint64 // pages managed, pages free
	Allocs, Frees  uint64 // calls that succeeded
	Blocks         [MaxOrder]uint64
	LargestOrder   int // largest free block's order, -1 if none
	FreeListsValid bool
}

// Stats returns b's counters (FreeListsValid is set by Check only).
//
//go:nosplit
func (b *Buddy) Stats() BuddyStats {
	s := BuddyStats{Total: b.total, Free: b.free, Allocs: b.allocs, Frees: b.frees, Blocks: b.nfree, LargestOrder: -1}
	for k := MaxOrder - 1; k >= 0; k-- {
		if b.nfree[k] > 0 {
			s.LargestOrder = k
			break
		}
	}
	return s
}

// Check walks every free list and verifies that the blocks are aligned,
// inside the span, marked free with their order, doubly linked, counted,
// and that their pages add up to the free count. It returns the first
// inconsistency found (a description), or "".
//
//go:nosplit
func (b *Buddy) Check() string {
	var pages uint64
	for k := 0; k < MaxOrder; k++ {
		var n uint64
		prev := uint32(nilPage)
		for i := b.head[k]; i != nilPage; i = b.next(i) {
			switch {
			case int(i)+1<<k > len(b.meta):
				return "free block beyond the span"
			case i&(1<<k-1) != 0:
				return "misaligned free block"
			case b.state(i) != stFree || b.order(i) != k:
				return "free-list block not marked free with its order"
			case b.prev(i) != prev:
				return "broken back link"
			}
			n++
			if n > b.nfree[k] {
				return "free list longer than its count (cycle?)"
			}
			prev = i
		}
		if n != b.nfree[k] {
			return "free list shorter than its count"
		}
		pages += n << k
	}
	if pages != b.free {
		return "free pages on the lists differ from the free count"
	}
	return ""
}
