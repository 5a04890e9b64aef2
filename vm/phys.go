package vm

import (
	"sync/atomic"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/kern/spin"
)

// Physical memory per NUMA domain (FreeBSD vm_phys.c, vm_domainset.c).
//
// At boot the kernel hands every usable range of the memory map, already
// split by the SRAT's memory affinity ranges, to AddMemory with its
// domain, then calls InitPhys: each domain gets a buddy allocator whose
// span runs from its lowest range (rounded down to a 4 MiB boundary, so
// blocks are physically aligned to their size) to its highest. The
// allocators' metadata (one word per page) lives in the BSS, so nothing
// is carved from the pages themselves and the kernel's footprint is
// fixed. Only memory below 4 GiB (the identity map) is managed.
//
// Allocation takes a Policy: FirstTouch (the calling CPU's domain),
// Preferred (a given domain), RoundRobin (domains in turn), each falling
// back to the other domains nearest first by SLIT distance; Bind never
// falls back. Pages are reached through the identity map, so the
// physical address is also the kernel's address for them.
//
// Locking: one raw spin lock per domain, taken with interrupts disabled
// (callers in goroutine context would otherwise be preempted holding it
// and a page fault on the same CPU would spin on it forever). The page
// fault path calls in with vm's own lock held; that lock is always taken
// first.

// MaxDomains bounds the NUMA domains managed.
const MaxDomains = 8

const (
	maxPhysPages  = 1 << 20 // 4 GiB of 4 KiB pages: the identity map
	maxDomRanges  = 16
	spanAlign     = PageSize << (MaxOrder - 1)
	maxMetaSlices = maxPhysPages + MaxDomains*(1<<(MaxOrder-1))
)

// PolicyKind selects how a domain is chosen.
type PolicyKind uint8

// Domain policies.
const (
	FirstTouch PolicyKind = iota // the calling CPU's domain, then nearest
	Preferred                    // Policy.Domain, then nearest
	RoundRobin                   // each domain in turn, then nearest
	Bind                         // Policy.Domain only
)

// Policy is a domain policy for an allocation.
type Policy struct {
	Kind   PolicyKind
	Domain int // for Preferred and Bind
}

// Use classes: who holds allocated pages, so that every page is accounted
// for (free + the classes = total).
const (
	UseKernel  = iota // AllocPages/AllocContig callers (UMA slabs, DMA)
	UseRuntime        // demand-zero pages backing the runtime's mmap
	UseTables         // page-table pages
	nUses
)

// Domain is one NUMA domain's physical memory.
type Domain struct {
	lock  spin.Lock
	buddy Buddy   // guarded by lock
	base  uintptr // (c) physical address of span page 0

	ranges  [maxDomRanges][2]uintptr // (c) memory given at boot
	nranges int                      // (c)

	Allocs  atomic.Uint64       // (a) successful allocations from this domain
	Frees   atomic.Uint64       // (a)
	Foreign atomic.Uint64       // (a) allocations served here for a policy preferring another domain
	Failed  atomic.Uint64       // (a) allocations this domain could not serve (fell through)
	Held    [nUses]atomic.Int64 // (a, changed under lock) pages held, by use
}

var (
	domains  [MaxDomains]Domain
	ndomains = 1 // (c) after InitPhys
	pageMeta [maxMetaSlices]uint64

	// distance[i][j] is the SLIT distance; fallback[i] lists all domains
	// nearest first (i itself first). (c) after boot.
	distance [MaxDomains][MaxDomains]uint8
	fallback [MaxDomains][MaxDomains]int8

	rrNext        atomic.Uint32
	haveDistances bool // (c)

	// CPUDomain, set by the kernel at boot, returns the calling CPU's
	// domain (trap-safe). Nil means domain 0.
	CPUDomain func() int

	// LowPages counts allocations that found every allowed domain
	// exhausted (a)
	LowPages atomic.Uint64
)

// AddMemory gives the physical range [a, b) to domain d (boot only,
// before InitPhys; ranges must not overlap). Parts above 4 GiB and
// domains beyond MaxDomains are ignored; it reports whether it was used.
func AddMemory(d int, a, b uintptr) bool {
	a = pageUp(a)
	if b > maxPhysPages*PageSize {
		b = maxPhysPages * PageSize
	}
	b &^= PageSize - 1
	if d < 0 || d >= MaxDomains || b <= a {
		return false
	}
	dm := &domains[d]
	if dm.nranges == maxDomRanges {
		return false
	}
	dm.ranges[dm.nranges] = [2]uintptr{a, b}
	dm.nranges++
	if d >= ndomains {
		ndomains = d + 1
	}
	return true
}

// SetDistances records the SLIT (boot only): dist(i, j) for n domains.
// Without it every remote domain is at distance 20.
func SetDistances(n int, dist func(i, j int) int) {
	n = min(n, MaxDomains)
	for i := 0; i < MaxDomains; i++ {
		for j := 0; j < MaxDomains; j++ {
			d := 20
			if i == j {
				d = 10
			} else if i < n && j < n {
				d = dist(i, j)
			}
			distance[i][j] = uint8(min(max(d, 0), 255))
		}
	}
	if n > ndomains {
		ndomains = n
	}
	haveDistances = true
	computeFallback()
}

func computeFallback() {
	for i := 0; i < MaxDomains; i++ {
		FallbackOrder(i, MaxDomains, func(a, b int) int { return int(distance[a][b]) }, fallback[i][:])
	}
}

// FallbackOrder fills out with the domains 0..n-1 sorted by distance
// from d (ties by number), d itself first. No allocation (insertion sort).
func FallbackOrder(d, n int, dist func(a, b int) int, out []int8) {
	k := 0
	for j := 0; j < n && k < len(out); j++ {
		out[k] = int8(j)
		for m := k; m > 0; m-- {
			x, y := int(out[m-1]), int(out[m])
			if key(d, x, dist) <= key(d, y, dist) {
				break
			}
			out[m-1], out[m] = out[m], out[m-1]
		}
		k++
	}
}

// key orders domains by distance from d, d itself before any other.
func key(d, j int, dist func(a, b int) int) int {
	if j == d {
		return -1
	}
	return dist(d, j)<<8 | j
}

// InitPhys builds each domain's allocator from the ranges given to
// AddMemory (boot only). It returns the number of pages managed.
func InitPhys() uint64 {
	if !haveDistances {
		SetDistances(0, nil)
	}
	var total uint64
	next := 0
	for d := 0; d < ndomains; d++ {
		dm := &domains[d]
		if dm.nranges == 0 {
			dm.buddy.Init(pageMeta[next:next])
			continue
		}
		lo, hi := dm.ranges[0][0], dm.ranges[0][1]
		for _, r := range dm.ranges[1:dm.nranges] {
			lo, hi = min(lo, r[0]), max(hi, r[1])
		}
		lo &^= spanAlign - 1
		span := int((hi - lo) / PageSize)
		if next+span > len(pageMeta) {
			span = len(pageMeta) - next // cannot happen below 4 GiB
		}
		dm.base = lo
		dm.buddy.Init(pageMeta[next : next+span])
		next += span
		for _, r := range dm.ranges[:dm.nranges] {
			first := int((r[0] - lo) / PageSize)
			n := min(int((r[1]-r[0])/PageSize), span-first)
			dm.buddy.AddRange(first, n)
		}
		total += dm.buddy.Stats().Total
	}
	return total
}

// NumDomains returns the number of domains (at least 1).
func NumDomains() int { return ndomains }

// Distance returns the SLIT distance between domains i and j.
func Distance(i, j int) int { return int(distance[i][j]) }

// curDomain returns the calling CPU's domain.
func curDomain() int {
	if CPUDomain == nil {
		return 0
	}
	if d := CPUDomain(); d >= 0 && d < ndomains {
		return d
	}
	return 0
}

// first returns the domain a policy starts with.
func (p Policy) first() int {
	switch p.Kind {
	case Preferred, Bind:
		if p.Domain >= 0 && p.Domain < ndomains {
			return p.Domain
		}
		return 0
	case RoundRobin:
		return int(rrNext.Add(1)-1) % ndomains
	}
	return curDomain()
}

// lockIntr disables interrupts and takes the domain's lock.
func (dm *Domain) lockIntr() uint64 {
	f := amd64.Flags()
	amd64.Cli()
	dm.lock.Acquire(0)
	return f
}

func (dm *Domain) unlockIntr(f uint64) {
	dm.lock.Release()
	if f&amd64.IF != 0 {
		amd64.Sti()
	}
}

// alloc allocates 2^order pages (run pages with align if run > 0) for use
// under policy p.
func alloc(p Policy, order, run, align, use int) (uintptr, bool) {
	start := p.first()
	for _, d := range fallback[start][:ndomains] {
		if p.Kind == Bind && int(d) != start {
			break
		}
		dm := &domains[d]
		f := dm.lockIntr()
		var i int
		var ok bool
		n := int64(1) << order
		if run > 0 {
			i, ok = dm.buddy.AllocRun(run, align)
			n = int64(run)
		} else {
			i, ok = dm.buddy.Alloc(order)
		}
		if ok {
			dm.Held[use].Add(n)
		}
		dm.unlockIntr(f)
		if !ok {
			dm.Failed.Add(1)
			continue
		}
		dm.Allocs.Add(1)
		if int(d) != start {
			dm.Foreign.Add(1)
		}
		return dm.base + uintptr(i)*PageSize, true
	}
	LowPages.Add(1)
	return 0, false
}

// AllocPages allocates 2^order contiguous pages, aligned to their size
// (contents undefined).
// Goroutine context (glock.go).
func AllocPages(p Policy, order int) (uintptr, bool) {
	gEnter()
	defer gExit()
	return alloc(p, order, 0, 0, UseKernel)
}

// AllocContig allocates n contiguous pages whose address is a multiple of
// alignPages pages (a power of two), for DMA.
func AllocContig(p Policy, n, alignPages int) (uintptr, bool) {
	if n <= 0 {
		return 0, false
	}
	gEnter()
	defer gExit()
	return alloc(p, 0, n, alignPages, UseKernel)
}

// DomainOf returns the domain whose memory holds pa, or -1.
func DomainOf(pa uintptr) int {
	for d := 0; d < ndomains; d++ {
		dm := &domains[d]
		for _, r := range dm.ranges[:dm.nranges] {
			if pa >= r[0] && pa < r[1] {
				return d
			}
		}
	}
	return -1
}

func free(pa uintptr, order, run, use int) error {
	d := DomainOf(pa)
	if d < 0 || pa%PageSize != 0 {
		return ErrOutOfSpan
	}
	dm := &domains[d]
	i := int((pa - dm.base) / PageSize)
	f := dm.lockIntr()
	var err error
	n := int64(1) << order
	if run > 0 {
		err = dm.buddy.FreeRun(i, run)
		n = int64(run)
	} else {
		err = dm.buddy.Free(i, order)
	}
	if err == nil {
		dm.Held[use].Add(-n)
	}
	dm.unlockIntr(f)
	if err != nil {
		return err
	}
	dm.Frees.Add(1)
	return nil
}

// FreePages frees a block from AllocPages.
func FreePages(pa uintptr, order int) error {
	gEnter()
	defer gExit()
	return free(pa, order, 0, UseKernel)
}

// FreeContig frees a run from AllocContig.
func FreeContig(pa uintptr, n int) error {
	gEnter()
	defer gExit()
	return free(pa, 0, n, UseKernel)
}

// allocPage and freePage serve the runtime's demand-zero pages and the
// page tables: the faulting CPU's domain first.
func allocPage(use int) (uintptr, bool) { return alloc(Policy{Kind: FirstTouch}, 0, 0, 0, use) }

func freePage(pa uintptr, use int) {
	if free(pa, 0, 0, use) != nil {
		// A broken invariant (the page tables held a page twice); no
		// allocation in trap context, so a constant message.
		panic("vm.freePage: page not allocated")
	}
}

// DomainStats is a snapshot of one domain.
type DomainStats struct {
	Domain                         int
	Ranges                         [][2]uintptr
	Buddy                          BuddyStats
	Allocs, Frees, Foreign, Failed uint64
	Kernel, Runtime, Tables        int64 // pages held by each use
	Consistent                     string
}

// Stats returns every domain's figures; with check set it also walks the
// free lists (Consistent is "" when they check out).
func Stats(check bool) []DomainStats {
	out := make([]DomainStats, ndomains)
	for d := range out {
		dm := &domains[d]
		s := &out[d]
		s.Domain = d
		s.Ranges = append(s.Ranges, dm.ranges[:dm.nranges]...)
		b, c, k, r, t := dm.snapshot(check)
		s.Buddy, s.Consistent = b, c
		s.Kernel, s.Runtime, s.Tables = k, r, t
		s.Allocs, s.Frees = dm.Allocs.Load(), dm.Frees.Load()
		s.Foreign, s.Failed = dm.Foreign.Load(), dm.Failed.Load()
	}
	return out
}

// snapshot reads a domain's figures under its lock, into locals only
// (Stats' result is fresh heap memory, which may fault on first touch:
// glock.go).
func (dm *Domain) snapshot(check bool) (b BuddyStats, consistent string, kernel, runtime, tables int64) {
	gEnter()
	defer gExit()
	f := dm.lockIntr()
	b = dm.buddy.Stats()
	if check {
		consistent = dm.buddy.Check()
	}
	kernel = dm.Held[UseKernel].Load()
	runtime = dm.Held[UseRuntime].Load()
	tables = dm.Held[UseTables].Load()
	dm.unlockIntr(f)
	return
}

// FreePageCount returns the free pages of every domain. Goroutine
// context; FreePageCountEarly before the runtime runs.
func FreePageCount() uint64 {
	gEnter()
	defer gExit()
	return FreePageCountEarly()
}

// FreePageCountEarly is FreePageCount for the boot, before the runtime
// (and so goroutines) exist.
func FreePageCountEarly() uint64 {
	var n uint64
	for d := 0; d < ndomains; d++ {
		dm := &domains[d]
		f := dm.lockIntr()
		n += dm.buddy.Stats().Free
		dm.unlockIntr(f)
	}
	return n
}
