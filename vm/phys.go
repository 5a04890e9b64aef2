package vm

import (
	"sync/atomic"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/kern/spin"
)

// Physical memory per NUMA domain (FreeBSD vm_phys.c, vm_domainset.c).
//
// At boot the kernel hands every usable range of the memory map, already
// split by the SRAT's memory affinity ranges, to AddMemory with its
// domain, then calls InitPhys. Ranges are split at 4 GiB (DMA32), so no
// range straddles the reach of a 32-bit DMA engine.
//
// RAM above 4 GiB is reached by extending the boot's identity map over it
// (mapHigh: 1 GiB and 2 MiB pages where alignment allows, writable, NX),
// rather than through a separate direct map at another address. The
// identity map already is the kernel's direct map below 4 GiB: every
// user of a page (page tables, UMA slabs, DMA rings, ZeroPage) treats
// the physical address as the kernel's address for it, and keeping that
// true above 4 GiB needs no translation anywhere. The identity map's
// PML4 entry spans 512 GiB (the boot PDPT), below the kernel's window at
// KVABase, so memory above MaxPhys is reported and left unused. Only the
// RAM ranges themselves are mapped, never the holes between them (MMIO
// must not be mapped write-back).
//
// Each domain's ranges are grouped into segments (vm_phys_seg): a run of
// nearby ranges on one side of 4 GiB whose span fits one buddy allocator
// (MaxSpanPages). A segment's span starts at a 4 MiB boundary, so blocks
// are physically aligned to their size. Its metadata (one word per span
// page) is carved at boot from the top of the segment's own largest
// range, so the metadata grows with the memory instead of being a fixed
// array, and a domain's bookkeeping lives in that domain. The few
// page-table pages mapHigh needs before any allocator exists come from
// the top of the largest range below 4 GiB and are never freed.
//
// Allocation takes a Policy: FirstTouch (the calling CPU's domain),
// Preferred (a given domain), RoundRobin (domains in turn), each falling
// back to the other domains nearest first by SLIT distance; Bind never
// falls back. Within a domain the segments above 4 GiB are tried first,
// so low memory stays for devices that need it (FreeBSD orders its free
// lists DEFAULT before DMA32 the same way); Policy.Below restricts an
// allocation to a device's DMA reach.
//
// Locking: one raw spin lock per domain, taken with interrupts disabled
// (callers in goroutine context would otherwise be preempted holding it
// and a page fault on the same CPU would spin on it forever). The page
// fault path calls in with vm's address-space lock held; that lock is
// always taken first (lock order: space, then domain). A goroutine
// holding a domain lock must therefore never fault or grow its stack:
// a stack growth copies the stack to fresh pages, the first touch
// demand-faults, and the fault handler wants the space lock (then, for
// the page, the domain lock this CPU already holds) — a deadlock, or an
// ABBA with a CPU that faulted first. So goroutine-context entry points
// first pin the goroutine and grow and touch a stack reserve (gEnter,
// glock.go), and every function that runs with a domain lock held is
// nosplit: no prologue can call morestack (which is also where the Go
// runtime acts on a preemption request), the linker proves the whole
// section fits the reserve, and a host test (nosplit_test.go) proves
// every function in the section carries the directive. The metadata is
// mapped at boot and never faults. lockSpace checks the order on every
// acquisition of the space lock: a CPU that holds a domain lock gets a
// kernel panic naming the reversal instead of a silent hang.

// MaxDomains bounds the NUMA domains managed.
const MaxDomains = 8

const (
	// MaxPhys bounds the physical memory managed: the identity map's
	// PML4 entry (512 GiB), below the kernel's window.
	MaxPhys = KVABase
	// DMA32 is the first address a 32-bit DMA engine cannot reach.
	DMA32 = 1 << 32

	maxDomRanges = 32
	maxSegs      = 8
	spanAlign    = PageSize << (MaxOrder - 1)
	// segGap: a hole at least this large between two ranges starts a new
	// segment (its metadata would cost 2 KiB per MiB of hole).
	segGap = 64 << 20
	// maxSegBytes bounds the memory of one range in a segment, so that
	// the span from its aligned base fits MaxSpanPages.
	maxSegBytes = (MaxSpanPages*PageSize)&^(spanAlign-1) - spanAlign
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
	// Below, when not zero, is the allocation's physical reach: every
	// page lies below this address (DMA32 for a device with 32-bit DMA
	// addresses).
	Below uintptr
}

// Use classes: who holds allocated pages, so that every page is accounted
// for (free + the classes = total).
const (
	UseKernel  = iota // AllocPages/AllocContig callers (UMA slabs, DMA)
	UseRuntime        // demand-zero pages backing the runtime's mmap
	UseTables         // page-table pages
	nUses
)

// segment is one buddy allocator over part of a domain's memory.
type segment struct {
	buddy     Buddy   // guarded by the domain's lock
	base      uintptr // (c) physical address of span page 0 (4 MiB aligned)
	lo, hi    uintptr // (c) from its lowest managed page to the end of its highest
	meta      uintptr // (c) physical address of its metadata
	metaPages int     // (c)
}

// Domain is one NUMA domain's physical memory.
type Domain struct {
	lock  spin.Lock
	segs  [maxSegs]segment // buddies guarded by lock, sorted by address
	nsegs int              // (c)

	ranges  [maxDomRanges][2]uintptr // (c) memory managed, sorted (metadata carved out)
	nranges int                      // (c)

	Allocs  atomic.Uint64       // (a) successful allocations from this domain
	Frees   atomic.Uint64       // (a)
	Foreign atomic.Uint64       // (a) allocations served here for a policy preferring another domain
	Failed  atomic.Uint64       // (a) allocations this domain could not serve (fell through)
	Held    [nUses]atomic.Int64 // (a, changed under lock) pages held, by use
}

// PhysBoot describes what InitPhys did with the memory it was given (c).
type PhysBoot struct {
	HighBytes    uint64 // RAM above 4 GiB mapped and managed
	MetaBytes    uint64 // buddy metadata carved from the memory itself
	EarlyTables  int    // page-table pages taken before the allocators existed
	DroppedBytes uint64 // memory given but not managed (above MaxPhys, too many ranges, unmappable)
	Segments     int
}

var (
	domains  [MaxDomains]Domain
	ndomains = 1 // (c) after InitPhys

	// Boot is filled in by InitPhys (c).
	Boot PhysBoot

	physReady bool // (c) the allocators exist

	// earlyDom/earlyIdx name the range early page-table pages come from;
	// [earlyLo, earlyHi) are those pages (c).
	earlyDom, earlyIdx = -1, -1
	earlyLo, earlyHi   uintptr

	// distance[i][j] is the SLIT distance; fallback[i] lists all domains
	// nearest first (i itself first). (c) after boot.
	distance [MaxDomains][MaxDomains]uint8
	fallback [MaxDomains][MaxDomains]int8

	rrNext        atomic.Uint32
	haveDistances bool // (c)

	// CPUDomain, set by the kernel at boot, returns the calling CPU's
	// domain (trap-safe). Nil means domain 0.
	CPUDomain func() int
	// CPUID, set by the kernel at boot, returns the calling CPU's index
	// (trap-safe): the owner recorded in vm's spin locks. Nil means 0.
	CPUID func() int
	// Fatal, set by the kernel at boot, stops the kernel with a report
	// (trap-safe, never returns): a lock-order violation. Nil spins.
	Fatal func(msg string)

	// LowPages counts allocations that found every allowed domain
	// exhausted (a)
	LowPages atomic.Uint64
)

// AddMemory gives the physical range [a, b) to domain d (boot only,
// before InitPhys; ranges must not overlap). A range crossing 4 GiB is
// split there; memory above MaxPhys and domains beyond MaxDomains are
// refused. It reports whether any of the range was taken.
func AddMemory(d int, a, b uintptr) bool {
	a = pageUp(a)
	b &^= PageSize - 1
	if d < 0 || d >= MaxDomains || b <= a {
		return false
	}
	if b > MaxPhys {
		Boot.DroppedBytes += uint64(b - max(a, MaxPhys))
		b = MaxPhys
		if b <= a {
			return true // counted as dropped
		}
	}
	if a < DMA32 && b > DMA32 {
		ok := addRange(d, a, DMA32)
		return addRange(d, DMA32, b) || ok
	}
	return addRange(d, a, b)
}

func addRange(d int, a, b uintptr) bool {
	dm := &domains[d]
	if dm.nranges == maxDomRanges {
		Boot.DroppedBytes += uint64(b - a)
		return true
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

// InitPhys builds each domain's allocators from the ranges given to
// AddMemory (boot only, one CPU, after InitKernelPmap): it maps the RAM
// above 4 GiB, groups each domain's ranges into segments and carves their
// metadata. It returns the number of pages managed.
func InitPhys() uint64 {
	if !haveDistances {
		SetDistances(0, nil)
	}
	for d := 0; d < ndomains; d++ {
		sortRanges(&domains[d])
		splitLarge(&domains[d])
	}
	mapHigh()
	var total uint64
	for d := 0; d < ndomains; d++ {
		dm := &domains[d]
		buildSegments(d)
		for s := 0; s < dm.nsegs; s++ {
			total += dm.segs[s].buddy.Stats().Total
		}
		Boot.Segments += dm.nsegs
	}
	physReady = true
	return total
}

// sortRanges orders a domain's ranges by address (insertion sort: boot,
// no allocation).
func sortRanges(dm *Domain) {
	r := dm.ranges[:dm.nranges]
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j][0] < r[j-1][0]; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

// insertRange puts [a, b) at index i, shifting the rest up.
func insertRange(dm *Domain, i int, a, b uintptr) bool {
	if dm.nranges == maxDomRanges {
		return false
	}
	copy(dm.ranges[i+1:dm.nranges+1], dm.ranges[i:dm.nranges])
	dm.ranges[i] = [2]uintptr{a, b}
	dm.nranges++
	return true
}

func removeRange(d, i int) {
	dm := &domains[d]
	Boot.DroppedBytes += uint64(dm.ranges[i][1] - dm.ranges[i][0])
	copy(dm.ranges[i:], dm.ranges[i+1:dm.nranges])
	dm.nranges--
	if earlyDom == d && earlyIdx > i {
		earlyIdx--
	}
}

// splitLarge cuts every range too large for one segment at 4 MiB
// boundaries.
func splitLarge(dm *Domain) {
	for i := 0; i < dm.nranges; i++ {
		a, b := dm.ranges[i][0], dm.ranges[i][1]
		if cut := a&^(spanAlign-1) + maxSegBytes; b > cut {
			dm.ranges[i][1] = cut
			if !insertRange(dm, i+1, cut, b) {
				Boot.DroppedBytes += uint64(b - cut)
			}
		}
	}
}

// mapHigh extends the identity map over the RAM ranges above 4 GiB (see
// the comment at the top); a range the pmap cannot map is dropped.
func mapHigh() {
	for d := 0; d < ndomains; d++ {
		dm := &domains[d]
		for i := 0; i < dm.nranges; i++ {
			a, b := dm.ranges[i][0], dm.ranges[i][1]
			if a < DMA32 {
				continue
			}
			if kpmap.Root == 0 || KernelMap(a, a, b-a, ProtWrite, WB) != nil {
				removeRange(d, i)
				i--
				continue
			}
			Boot.HighBytes += uint64(b - a)
		}
	}
}

// earlyPage returns a page for a page table before the allocators exist:
// the top page of the largest range below 4 GiB (already mapped), which
// shrinks. These pages are never freed (identityMem.FreeTable).
func earlyPage() (uintptr, bool) {
	if earlyDom < 0 {
		var best uintptr
		for d := 0; d < ndomains; d++ {
			dm := &domains[d]
			for i, r := range dm.ranges[:dm.nranges] {
				if r[1] <= DMA32 && r[1]-r[0] > best && !isHeld(r[0], r[1]) {
					best, earlyDom, earlyIdx = r[1]-r[0], d, i
				}
			}
		}
		if earlyDom < 0 {
			return 0, false
		}
		earlyHi = domains[earlyDom].ranges[earlyIdx][1]
		earlyLo = earlyHi
	}
	r := &domains[earlyDom].ranges[earlyIdx]
	if r[1]-r[0] < 2*PageSize {
		return 0, false
	}
	r[1] -= PageSize
	earlyLo = r[1]
	Boot.EarlyTables++
	return r[1], true
}

// isEarlyPage reports whether pa is one of earlyPage's.
func isEarlyPage(pa uintptr) bool { return pa >= earlyLo && pa < earlyHi }

// buildSegments groups dm's sorted ranges into segments and builds their
// allocators.
func buildSegments(d int) {
	dm := &domains[d]
	i := 0
	for i < dm.nranges {
		if dm.nsegs == maxSegs {
			for dm.nranges > i {
				removeRange(d, i)
			}
			return
		}
		lo := dm.ranges[i][0]
		base := lo &^ (spanAlign - 1)
		j := i + 1
		for j < dm.nranges {
			r := dm.ranges[j]
			if (r[0] >= DMA32) != (lo >= DMA32) || r[0]-dm.ranges[j-1][1] >= segGap || r[1]-base > maxSegBytes+spanAlign {
				break
			}
			j++
		}
		if initSegment(dm, i, j, base) {
			i = j
			continue
		}
		for k := i; k < j; k++ { // no room for the metadata
			removeRange(d, i)
		}
	}
}

// initSegment makes ranges [i, j) of dm one segment whose span starts at
// base, its metadata carved from the top of the largest of them.
func initSegment(dm *Domain, i, j int, base uintptr) bool {
	span := int((dm.ranges[j-1][1] - base) / PageSize)
	metaPages := (span*8 + PageSize - 1) / PageSize
	best := -1
	for k := i; k < j; k++ {
		n := int((dm.ranges[k][1] - dm.ranges[k][0]) / PageSize)
		if n > metaPages && !isHeld(dm.ranges[k][0], dm.ranges[k][1]) &&
			(best < 0 || n > int((dm.ranges[best][1]-dm.ranges[best][0])/PageSize)) {
			best = k
		}
	}
	if best < 0 {
		return false
	}
	s := &dm.segs[dm.nsegs]
	dm.nsegs++
	s.base, s.lo, s.hi = base, dm.ranges[i][0], dm.ranges[j-1][1] // the metadata included
	dm.ranges[best][1] -= uintptr(metaPages) * PageSize
	meta := dm.ranges[best][1]
	Boot.MetaBytes += uint64(metaPages) * PageSize
	s.meta, s.metaPages = meta, metaPages
	s.buddy.Init(unsafe.Slice((*uint64)(physPtr(meta)), span))
	for k := i; k < j; k++ {
		r := dm.ranges[k]
		if isHeld(r[0], r[1]) {
			continue // given by ReleaseHeld (held.go)
		}
		s.buddy.AddRange(int((r[0]-base)/PageSize), int((r[1]-r[0])/PageSize))
	}
	return true
}

// physPtr turns an identity-mapped physical address into a pointer to
// memory the garbage collector does not own (reinterpreting the
// uintptr's storage keeps go vet's unsafeptr check meaningful elsewhere).
func physPtr(pa uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&pa)) }

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

// cpuID returns the calling CPU's index for vm's spin locks.
//
//go:nosplit
func cpuID() int {
	if CPUID == nil {
		return 0
	}
	return CPUID()
}

// fatal stops the kernel (trap context: a constant message).
//
//go:nosplit
func fatal(msg string) {
	if Fatal != nil {
		Fatal(msg)
	}
	for {
		amd64.Cli()
	}
}

// lockIntr disables interrupts and takes the domain's lock. Everything
// from here to unlockIntr is nosplit (see the comment at the top).
//
//go:nosplit
func (dm *Domain) lockIntr() uint64 {
	f := amd64.Flags()
	amd64.Cli()
	me := cpuID()
	if dm.lock.Owner() == me {
		fatal("vm: page allocator domain lock recursed on this CPU (a fault or allocation inside its section)")
	}
	dm.lock.Acquire(me)
	return f
}

//go:nosplit
func (dm *Domain) unlockIntr(f uint64) {
	dm.lock.Release()
	if f&amd64.IF != 0 {
		amd64.Sti()
	}
}

// DomainLocked reports whether the calling CPU holds any domain's lock
// (trap-safe).
//
//go:nosplit
func DomainLocked() bool {
	me := cpuID()
	for d := 0; d < ndomains; d++ {
		if domains[d].lock.Owner() == me {
			return true
		}
	}
	return false
}

// CrashHoldingDomainLock runs fn holding domain 0's lock with interrupts
// off, breaking the rule above on purpose: the deliberate crash=vmorder,
// whose fn demand-faults, so that lockSpace must report the reversal (a
// hang before the check existed). Nothing else may call it.
func CrashHoldingDomainLock(fn func()) {
	f := domains[0].lockIntr()
	fn()
	domains[0].unlockIntr(f)
}

// take allocates 2^order pages (or a run of run pages aligned to align
// pages) below below (0: anywhere) from dm's segments, highest first.
//
//go:nosplit
func (dm *Domain) take(order, run, align, use int, below uintptr) (uintptr, bool) {
	f := dm.lockIntr()
	for s := dm.nsegs - 1; s >= 0; s-- {
		sg := &dm.segs[s]
		limit := sg.buddy.Span()
		if below != 0 {
			if sg.lo >= below {
				continue
			}
			if end := sg.base + uintptr(limit)*PageSize; below < end {
				limit = int((below - sg.base) / PageSize)
			}
		}
		var i int
		var ok bool
		n := int64(1) << order
		if run > 0 {
			i, ok = sg.buddy.AllocRunBelow(run, align, limit)
			n = int64(run)
		} else {
			i, ok = sg.buddy.AllocBelow(order, limit)
		}
		if ok {
			dm.Held[use].Add(n)
			dm.unlockIntr(f)
			return sg.base + uintptr(i)*PageSize, true
		}
	}
	dm.unlockIntr(f)
	return 0, false
}

// give frees a block (run == 0) or a run into segment s.
//
//go:nosplit
func (dm *Domain) give(s int, pa uintptr, order, run, use int) error {
	sg := &dm.segs[s]
	i := int((pa - sg.base) / PageSize)
	f := dm.lockIntr()
	var err error
	n := int64(1) << order
	if run > 0 {
		err = sg.buddy.FreeRun(i, run)
		n = int64(run)
	} else {
		err = sg.buddy.Free(i, order)
	}
	if err == nil {
		dm.Held[use].Add(-n)
	}
	dm.unlockIntr(f)
	return err
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
		pa, ok := dm.take(order, run, align, use, p.Below)
		if !ok {
			dm.Failed.Add(1)
			continue
		}
		dm.Allocs.Add(1)
		if int(d) != start {
			dm.Foreign.Add(1)
		}
		return pa, true
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

// segmentOf returns the domain and segment managing pa, or -1.
func segmentOf(pa uintptr) (int, int) {
	for d := 0; d < ndomains; d++ {
		dm := &domains[d]
		for s := 0; s < dm.nsegs; s++ {
			if pa >= dm.segs[s].lo && pa < dm.segs[s].hi {
				return d, s
			}
		}
	}
	return -1, -1
}

func free(pa uintptr, order, run, use int) error {
	d, s := segmentOf(pa)
	if d < 0 || pa%PageSize != 0 {
		return ErrOutOfSpan
	}
	dm := &domains[d]
	if err := dm.give(s, pa, order, run, use); err != nil {
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

// SegmentStats describes one segment of a domain.
type SegmentStats struct {
	Lo, Hi      uintptr // managed memory lies in [Lo, Hi)
	Base        uintptr // span page 0
	Span        int     // pages the metadata covers
	Meta        uintptr // where the metadata lives
	MetaPages   int
	Total, Free uint64
}

// DomainStats is a snapshot of one domain.
type DomainStats struct {
	Domain                         int
	Ranges                         [][2]uintptr
	Segments                       []SegmentStats
	Buddy                          BuddyStats // all segments together
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
		s.Segments = make([]SegmentStats, dm.nsegs) // before the lock (glock.go)
		var per [maxSegs]BuddyStats
		var held [nUses]int64
		gEnter()
		s.Consistent = dm.snapshot(&per, &held, check)
		gExit()
		s.Buddy.LargestOrder = -1
		for i := range s.Segments {
			sg, b := &dm.segs[i], &per[i]
			s.Segments[i] = SegmentStats{Lo: sg.lo, Hi: sg.hi, Base: sg.base, Span: sg.buddy.Span(),
				Meta: sg.meta, MetaPages: sg.metaPages, Total: b.Total, Free: b.Free}
			s.Buddy.Total += b.Total
			s.Buddy.Free += b.Free
			s.Buddy.Allocs += b.Allocs
			s.Buddy.Frees += b.Frees
			for k := range b.Blocks {
				s.Buddy.Blocks[k] += b.Blocks[k]
			}
			s.Buddy.LargestOrder = max(s.Buddy.LargestOrder, b.LargestOrder)
		}
		s.Kernel, s.Runtime, s.Tables = held[UseKernel], held[UseRuntime], held[UseTables]
		s.Allocs, s.Frees = dm.Allocs.Load(), dm.Frees.Load()
		s.Foreign, s.Failed = dm.Foreign.Load(), dm.Failed.Load()
	}
	return out
}

// snapshot copies every segment's counters under the lock into the
// caller's (already zeroed, so touched) locals, checking the free lists
// if asked; it returns the first inconsistency, or "". The held counts
// are read under the lock too, so free + held = total holds in the
// snapshot. The caller is in gEnter (glock.go).
//
//go:nosplit
func (dm *Domain) snapshot(per *[maxSegs]BuddyStats, held *[nUses]int64, check bool) string {
	f := dm.lockIntr()
	for u := range held {
		held[u] = dm.Held[u].Load()
	}
	bad := ""
	for i := 0; i < dm.nsegs; i++ {
		per[i] = dm.segs[i].buddy.Stats()
		if check && bad == "" {
			bad = dm.segs[i].buddy.Check()
		}
	}
	dm.unlockIntr(f)
	return bad
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
		n += domains[d].freePages()
	}
	return n
}

//go:nosplit
func (dm *Domain) freePages() uint64 {
	f := dm.lockIntr()
	var n uint64
	for i := 0; i < dm.nsegs; i++ {
		n += dm.segs[i].buddy.free
	}
	dm.unlockIntr(f)
	return n
}
