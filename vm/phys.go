package vm

import (
	"sync/atomic"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/kern/spin"
)

// Pool is the physical page allocator: a LIFO free list threaded through
// the free pages themselves (reached through the identity map), fed first
// from a bump pointer over the boot memory map's usable ranges.
type Pool struct {
	lock spin.Lock
	// Guarded by lock:
	free    uintptr // head of the free list (0 = empty)
	regions [32][2]uintptr
	nreg    int
	cur     int     // region the bump pointer is in
	bump    uintptr // next never-used page in regions[cur]

	Total atomic.Uint64 // (a) pages handed to the pool at boot
	Used  atomic.Uint64 // (a) pages allocated now
}

// Pages is the machine's page pool.
var Pages Pool

// AddRegion gives [a, b) to the pool (rounded inwards to pages). Boot only.
func (p *Pool) AddRegion(a, b uintptr) {
	a = pageUp(a)
	b &^= PageSize - 1
	if b <= a || p.nreg == len(p.regions) {
		return
	}
	p.regions[p.nreg] = [2]uintptr{a, b}
	if p.nreg == 0 {
		p.bump = a
	}
	p.nreg++
	p.Total.Add(uint64((b - a) / PageSize))
}

// Alloc returns a page (contents undefined).
func (p *Pool) Alloc() (uintptr, bool) {
	p.lock.Acquire(0)
	defer p.lock.Release()
	if pa := p.free; pa != 0 {
		p.free = uintptr(amd64.Load64(pa))
		p.Used.Add(1)
		return pa, true
	}
	for p.cur < p.nreg {
		if p.bump < p.regions[p.cur][1] {
			pa := p.bump
			p.bump += PageSize
			p.Used.Add(1)
			return pa, true
		}
		p.cur++
		if p.cur < p.nreg {
			p.bump = p.regions[p.cur][0]
		}
	}
	return 0, false
}

// Free returns a page to the pool.
func (p *Pool) Free(pa uintptr) {
	p.lock.Acquire(0)
	amd64.Store64(pa, uint64(p.free))
	p.free = pa
	p.Used.Add(^uint64(0))
	p.lock.Release()
}

// FreePages returns the number of pages not allocated.
func (p *Pool) FreePages() uint64 { return p.Total.Load() - p.Used.Load() }
