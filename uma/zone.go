package uma

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// Flags modify one allocation.
type Flags int

// Allocation flags (FreeBSD malloc(9)).
const (
	M_WAITOK Flags = 0      // may sleep until the zone's limit allows the item
	M_NOWAIT Flags = 1 << 0 // fail at once instead of sleeping
	M_ZERO   Flags = 1 << 1 // zero the item (before the constructor)
)

// ZoneFlags select zone behaviour.
type ZoneFlags int

// RawZone flags.
const (
	// Debug poisons freed items (zones without Init/Fini, whose items are
	// not type-stable), checks the poison when an item is handed out
	// again (use after free), and tracks which items consumers hold
	// (double free, free of a foreign address). Slower: every call
	// takes the keg's slab map lock.
	Debug ZoneFlags = 1 << iota
	// NoCache skips the per-CPU and per-domain caches: every call goes
	// to the keg under its lock (the single-lock slab, for comparison).
	NoCache
)

// Errors returned by allocation.
var (
	ErrLimit   = errors.New("uma: zone limit reached (M_NOWAIT)")
	ErrNoMem   = errors.New("uma: out of pages")
	ErrBadArgs = errors.New("uma: bad zone arguments")
	// ErrCritical: an M_WAITOK allocation inside a critical section,
	// where it could sleep with the goroutine pinned to its CPU. A
	// programming error, but the runtime cannot survive a panic there
	// ("panic holding locks"), so it is counted, reported and refused.
	ErrCritical = errors.New("uma: M_WAITOK allocation inside a critical section")
)

// Args describe a zone. Item functions receive the item's address; Ctor
// and Dtor run on every allocation and free, Init and Fini when an item
// enters and leaves the zone's caches (it keeps its Init state while
// cached: type-stable memory).
type Args struct {
	Size, Align          int // Align a power of two, default 8
	Ctor, Dtor           func(p uintptr)
	Init, Fini           func(p uintptr)
	Flags                ZoneFlags
	Limit                int // most items out of the keg at once; 0 = none
	BucketSize           int // 0 = by item size (BucketSize)
	DomainPolicyRoundRob bool
}

// cpuCache is one CPU's pair of buckets, touched only by that CPU inside
// a critical section; padded to its own cache lines.
type cpuCache struct {
	alloc, free *bucket // (cpu)
	allocs      uint64  // (cpu)
	frees       uint64  // (cpu)
	_           [96]byte
}

// zoneDomain is a zone's per-domain bucket cache.
type zoneDomain struct {
	mu      zmutex
	full    []*bucket // (mu) LIFO of full buckets
	empty   []*bucket // (mu) spare empty buckets
	ws      wss       // (mu)
	trimmed uint64    // (mu) items trimmed
	_       [64]byte
}

// RawZone is an allocator of fixed-size items.
type RawZone struct {
	name   string
	size   int // requested item size
	bsize  int // bucket capacity
	flags  ZoneFlags
	args   Args
	keg    *keg
	cpus   []cpuCache
	doms   []zoneDomain
	limit  int64
	poison bool // Debug and no Init/Fini
	fast   bool // the per-CPU caches through the kernel's inlined section (not Debug or NoCache, not on the host tests' fake)

	items    atomic.Int64 // (a) items out of the keg (in use or cached)
	sleepers atomic.Int32 // (a) M_WAITOK callers waiting for the limit
	wake     chan struct{}

	// (a) counters
	ctors, dtors, inits, finis     atomic.Uint64
	imports, releases              atomic.Uint64
	limitFails, noMem, sleeps      atomic.Uint64
	doubleFrees, useAfterFree      atomic.Uint64
	badWaitok                      atomic.Uint64
	quarantined                    atomic.Int64
	bucketAllocs, slowAllocs       atomic.Uint64
	slowFrees, drains, trimmedPage atomic.Uint64

	lockedMu zmutex // NoCache zones: the single lock

	// trimMu serialises Trim and Drain with each other and with Stats,
	// so a snapshot never sees items half-way from a cache to the keg.
	trimMu zsx
}

const poisonWord = 0xdeadc0dedeadc0de

var (
	zonesMu sync.Mutex
	zones   []*RawZone // (zonesMu) every zone, for show uma and reclaim
)

// NewZone creates a zone.
func NewZone(name string, a Args) (*RawZone, error) {
	if a.Align == 0 {
		a.Align = 8
	}
	if a.Size <= 0 || a.Align&(a.Align-1) != 0 || a.Align > pageSize || a.Size > 64*pageSize || a.Limit < 0 {
		return nil, fmt.Errorf("%w: zone %q size %d align %d limit %d", ErrBadArgs, name, a.Size, a.Align, a.Limit)
	}
	stride := (uintptr(a.Size) + uintptr(a.Align) - 1) &^ (uintptr(a.Align) - 1)
	stride = (stride + 7) &^ 7 // room for the poison words
	z := &RawZone{
		name: name, size: a.Size, flags: a.Flags, args: a,
		keg:   newKeg(stride, numDomains()),
		cpus:  make([]cpuCache, numCPU()),
		doms:  make([]zoneDomain, numDomains()),
		limit: int64(a.Limit),
		wake:  make(chan struct{}, 1),
	}
	z.poison = a.Flags&Debug != 0 && a.Init == nil && a.Fini == nil
	z.fast = a.Flags&(Debug|NoCache) == 0 && fake == nil
	z.lockedMu.init("uma single-lock slab")
	z.trimMu.init("uma zone trim")
	for d := range z.doms {
		z.doms[d].mu.init("uma zone domain")
	}
	z.bsize = a.BucketSize
	if z.bsize <= 0 {
		z.bsize = BucketSize(int(stride))
	}
	if z.limit > 0 {
		// A bucket must not hide a large share of the limit in one CPU.
		z.bsize = max(1, min(z.bsize, int(z.limit)/(2*len(z.cpus))))
	}
	zonesMu.Lock()
	zones = append(zones, z)
	zonesMu.Unlock()
	startTrimmer()
	return z, nil
}

// Name returns the zone's name.
func (z *RawZone) Name() string { return z.name }

// ItemSize returns the item size the zone was created with.
func (z *RawZone) ItemSize() int { return z.size }

// PhysAddr returns the physical address of item p (for DMA).
func (z *RawZone) PhysAddr(p uintptr) uintptr {
	s := z.keg.slabOf(p)
	if s == nil {
		return 0
	}
	return s.pa + (p - s.va)
}

// Alloc returns an item. With M_NOWAIT it fails with ErrLimit when the
// zone is at its limit, or ErrNoMem without pages; M_WAITOK sleeps at the
// limit (and must not be called where sleeping is illegal: WITNESS and
// the critical-section check report it).
//
// Alloc is //go:nosplit for the inlined kern.CriticalEnterCPU (see there):
// no asynchronous preemption inside it. It only calls functions that
// check their own stacks.
//
//go:nosplit
func (z *RawZone) Alloc(flags Flags) (uintptr, error) {
	if z.fast {
		// The kernel's section inlined, with no call: calls and returns
		// are indirect jumps, dear under TCG (kern.CriticalEnterCPU).
		cpu, tok := kern.CriticalEnterCPU()
		p, ok := z.cpus[cpu].pop()
		if !kern.CriticalExitCPUFast(tok) {
			kern.CriticalExitCPUPreempt(tok)
		}
		if ok {
			if flags&M_ZERO != 0 || z.args.Ctor != nil {
				z.construct(p, flags)
			}
			return p, nil
		}
	} else if z.flags&(Debug|NoCache) == 0 { // host tests' fake machine
		cpu, tok := enter()
		p, ok := z.cpus[cpu].pop()
		exit(cpu, tok)
		if ok {
			z.construct(p, flags)
			return p, nil
		}
	}
	return z.allocSlow(flags)
}

// pop takes an item from the CPU's alloc bucket (in its critical section).
func (c *cpuCache) pop() (uintptr, bool) {
	b := c.alloc
	if b == nil || b.n == 0 {
		return 0, false
	}
	b.n--
	c.allocs++
	return b.items[b.n], true
}

// push puts an item into the CPU's free bucket (in its critical section).
func (c *cpuCache) push(p uintptr) bool {
	b := c.free
	if b == nil || b.n >= len(b.items) {
		return false
	}
	b.items[b.n] = p
	b.n++
	c.frees++
	return true
}

// construct runs M_ZERO and the constructor.
func (z *RawZone) construct(p uintptr, flags Flags) {
	if flags&M_ZERO != 0 {
		memclr(p, z.size&^7)
		for i := z.size &^ 7; i < z.size; i++ {
			*(*byte)(ptr(p + uintptr(i))) = 0
		}
	}
	if z.args.Ctor != nil {
		z.args.Ctor(p)
		z.ctors.Add(1)
	}
}

// Free returns item p to the zone. //go:nosplit as Alloc.
//
//go:nosplit
func (z *RawZone) Free(p uintptr) {
	if z.fast && z.args.Dtor == nil && z.sleepers.Load() == 0 {
		cpu, tok := kern.CriticalEnterCPU()
		ok := z.cpus[cpu].push(p)
		if !kern.CriticalExitCPUFast(tok) {
			kern.CriticalExitCPUPreempt(tok)
		}
		if !ok {
			z.freeSlow(p)
		}
		return
	}
	if z.flags&Debug != 0 {
		if err := z.debugFree(p); err != nil {
			panic(err) // before the destructor runs twice
		}
	}
	if z.args.Dtor != nil {
		z.args.Dtor(p)
		z.dtors.Add(1)
	}
	if z.flags&(Debug|NoCache) == 0 && z.sleepers.Load() == 0 {
		cpu, tok := enter()
		ok := z.cpus[cpu].push(p)
		exit(cpu, tok)
		if ok {
			return
		}
	}
	z.freeSlow(p)
}

// mayBlock is the "may sleep" check of an M_WAITOK allocation: WITNESS
// reports non-sleepable locks held, and a critical section refuses it.
func (z *RawZone) mayBlock() error {
	if criticalNest() > 0 {
		z.badWaitok.Add(1)
		return fmt.Errorf("%w (zone %q)", ErrCritical, z.name)
	}
	witness.WarnSleep(owner(), "uma: M_WAITOK allocation from zone "+z.name)
	return nil
}

// allocSlow refills the CPU's alloc bucket: from its free bucket (swap),
// else a full bucket from the domain cache, else a new bucket filled from
// the keg. The critical section is left for everything that locks or
// allocates, so the CPU's state is checked again on re-entry (the
// goroutine may now run elsewhere).
func (z *RawZone) allocSlow(flags Flags) (uintptr, error) {
	if flags&M_NOWAIT == 0 {
		if err := z.mayBlock(); err != nil {
			return 0, err
		}
	}
	if z.flags&(Debug|NoCache) != 0 {
		return z.allocDirect(flags)
	}
	z.slowAllocs.Add(1)
	for {
		cpu, tok := enter()
		c := &z.cpus[cpu]
		if c.alloc != nil && c.alloc.n == 0 && c.free != nil && c.free.n > 0 {
			c.alloc, c.free = c.free, c.alloc
		}
		if b := c.alloc; b != nil && b.n > 0 {
			b.n--
			p := b.items[b.n]
			c.allocs++
			exit(cpu, tok)
			z.construct(p, flags)
			return p, nil
		}
		d := cpuDomain(cpu)
		exit(cpu, tok)

		b, err := z.fullBucket(d, flags)
		if err != nil {
			return 0, err
		}
		cpu, tok = enter()
		c = &z.cpus[cpu]
		if c.alloc == nil || c.alloc.n == 0 {
			old := c.alloc
			c.alloc = b
			b.n--
			p := b.items[b.n]
			c.allocs++
			exit(cpu, tok)
			if old != nil {
				z.putEmpty(cpuDomain(cpu), old)
			}
			z.construct(p, flags)
			return p, nil
		}
		exit(cpu, tok) // someone refilled this CPU meanwhile: cache ours
		z.putFull(d, b)
	}
}

// fullBucket returns a full (or partly filled) bucket for domain d: from
// the domain cache, else from the keg, else from another domain's cache.
func (z *RawZone) fullBucket(d int, flags Flags) (*bucket, error) {
	if b := z.takeFull(d); b != nil {
		return b, nil
	}
	for {
		b, err := z.fillBucket(d)
		if b != nil {
			return b, nil
		}
		// At the limit or out of pages: items cached in any domain are
		// the only supply.
		for o := range z.doms {
			if b := z.takeFull(o); b != nil {
				return b, nil
			}
		}
		if err != nil {
			return nil, err
		}
		if flags&M_NOWAIT != 0 {
			z.limitFails.Add(1)
			return nil, ErrLimit
		}
		z.sleepLimit()
	}
}

// sleepLimit waits for items to come back to the keg. While anyone
// sleeps, frees bypass the caches (Free checks sleepers) and wake us; the
// timeout catches a free that raced with our arrival, and items stranded
// in other CPUs' buckets are drained back after a few rounds.
func (z *RawZone) sleepLimit() {
	z.sleeps.Add(1)
	z.sleepers.Add(1)
	defer z.sleepers.Add(-1)
	for round := 0; z.items.Load() >= z.limit; round++ {
		select {
		case <-z.wake:
		case <-time.After(10 * time.Millisecond):
			if round%4 == 3 {
				z.drainCPUs()
			}
		}
	}
}

// fillBucket imports items from the keg into a new bucket, within the
// limit. A nil bucket with nil error means the limit is reached.
func (z *RawZone) fillBucket(d int) (*bucket, error) {
	want := int64(z.bsize)
	if z.limit > 0 {
		for {
			cur := z.items.Load()
			n := min(want, z.limit-cur)
			if n <= 0 {
				return nil, nil
			}
			if z.items.CompareAndSwap(cur, cur+n) {
				want = n
				break
			}
		}
	} else {
		z.items.Add(want)
	}
	b := z.getEmpty(d)
	n := z.keg.importItems(d, b.items[:want], z.flags&Debug != 0)
	if int64(n) < want {
		z.items.Add(int64(n) - want)
		z.wakeSleeper()
	}
	if n == 0 {
		z.noMem.Add(1)
		z.putEmpty(d, b)
		return nil, ErrNoMem
	}
	b.n = n
	z.imports.Add(uint64(n))
	z.bucketAllocs.Add(1)
	for _, p := range b.items[:n] {
		z.initItem(p)
	}
	return b, nil
}

func (z *RawZone) initItem(p uintptr) {
	if z.args.Init != nil {
		z.args.Init(p)
		z.inits.Add(1)
	}
}

// release returns items to the keg (running Fini) and wakes a sleeper.
func (z *RawZone) release(items []uintptr) {
	for _, p := range items {
		if z.args.Fini != nil {
			z.args.Fini(p)
			z.finis.Add(1)
		}
		z.keg.releaseItem(p)
	}
	z.releases.Add(uint64(len(items)))
	z.items.Add(-int64(len(items)))
	z.wakeSleeper()
}

func (z *RawZone) wakeSleeper() {
	if z.sleepers.Load() > 0 {
		select {
		case z.wake <- struct{}{}:
		default:
		}
	}
}

// freeSlow: the CPU's free bucket is full (or missing). Swap with an
// empty alloc bucket, else hand the full bucket to the domain cache and
// install an empty one. With sleepers at the limit, the item goes
// straight back to the keg.
func (z *RawZone) freeSlow(p uintptr) {
	if z.flags&(Debug|NoCache) != 0 {
		z.freeDirect(p)
		return
	}
	if z.sleepers.Load() > 0 {
		cpu, tok := enter()
		z.cpus[cpu].frees++
		exit(cpu, tok)
		z.release([]uintptr{p})
		return
	}
	z.slowFrees.Add(1)
	for {
		cpu, tok := enter()
		c := &z.cpus[cpu]
		if c.free != nil && c.free.full() && c.alloc != nil && c.alloc.empty() {
			c.alloc, c.free = c.free, c.alloc
		}
		if b := c.free; b != nil && !b.full() {
			b.items[b.n] = p
			b.n++
			c.frees++
			exit(cpu, tok)
			return
		}
		full := c.free
		c.free = nil
		d := cpuDomain(cpu)
		exit(cpu, tok)
		if full != nil {
			z.putFull(d, full)
		}
		e := z.getEmpty(d)
		cpu, tok = enter()
		c = &z.cpus[cpu]
		if c.free == nil {
			c.free = e
			e = nil
		}
		if b := c.free; !b.full() {
			b.items[b.n] = p
			b.n++
			c.frees++
			exit(cpu, tok)
			if e != nil {
				z.putEmpty(d, e)
			}
			return
		}
		exit(cpu, tok)
		if e != nil {
			z.putEmpty(d, e)
		}
	}
}

// Domain caches.

func (z *RawZone) takeFull(d int) *bucket {
	zd := &z.doms[d]
	zd.mu.Lock()
	defer zd.mu.Unlock()
	n := len(zd.full)
	if n == 0 {
		return nil
	}
	b := zd.full[n-1]
	zd.full = zd.full[:n-1]
	zd.ws.remove(b.n)
	return b
}

func (z *RawZone) putFull(d int, b *bucket) {
	if b.n == 0 {
		z.putEmpty(d, b)
		return
	}
	zd := &z.doms[d]
	zd.mu.Lock()
	zd.full = append(zd.full, b)
	zd.ws.add(b.n)
	zd.mu.Unlock()
}

func (z *RawZone) getEmpty(d int) *bucket {
	zd := &z.doms[d]
	zd.mu.Lock()
	if n := len(zd.empty); n > 0 {
		b := zd.empty[n-1]
		zd.empty = zd.empty[:n-1]
		zd.mu.Unlock()
		return b
	}
	zd.mu.Unlock()
	return newBucket(z.bsize)
}

// maxEmpty bounds the spare empty buckets kept per domain.
const maxEmpty = 16

func (z *RawZone) putEmpty(d int, b *bucket) {
	b.n = 0
	zd := &z.doms[d]
	zd.mu.Lock()
	if len(zd.empty) < maxEmpty {
		zd.empty = append(zd.empty, b)
	}
	zd.mu.Unlock()
}

// Trim closes a working-set interval in every domain cache and releases
// the items cached beyond the estimate, then empty slabs beyond one per
// domain. The trimmer calls it periodically.
func (z *RawZone) Trim() {
	z.trimMu.Lock()
	defer z.trimMu.Unlock()
	for d := range z.doms {
		zd := &z.doms[d]
		var victims []*bucket
		zd.mu.Lock()
		zd.ws.update()
		for len(zd.full) > 0 && zd.ws.surplus() >= zd.full[0].n {
			b := zd.full[0] // the oldest bucket
			zd.full = zd.full[1:]
			zd.ws.remove(b.n)
			zd.ws.imin = zd.ws.nitems // trimming is not demand
			zd.trimmed += uint64(b.n)
			victims = append(victims, b)
		}
		zd.mu.Unlock()
		for _, b := range victims {
			z.release(b.items[:b.n])
			z.putEmpty(d, b)
		}
	}
	z.trimmedPage.Add(uint64(z.keg.freeSlabs(1)))
}

// Drain empties every cache of the zone back into the keg and returns the
// keg's empty slabs to vm (the reclaim path). It binds itself to each CPU
// in turn to take that CPU's buckets, so it runs in ordinary goroutine
// context.
func (z *RawZone) Drain() {
	z.trimMu.Lock()
	defer z.trimMu.Unlock()
	z.drains.Add(1)
	z.drainCPUs()
	for d := range z.doms {
		for {
			b := z.takeFull(d)
			if b == nil {
				break
			}
			z.release(b.items[:b.n])
			z.putEmpty(d, b)
		}
		zd := &z.doms[d]
		zd.mu.Lock()
		zd.ws = wss{}
		zd.empty = nil
		zd.mu.Unlock()
	}
	z.trimmedPage.Add(uint64(z.keg.freeSlabs(0)))
}

// drainCPUs takes every CPU's buckets and releases their items.
func (z *RawZone) drainCPUs() {
	if z.flags&(Debug|NoCache) != 0 {
		return
	}
	for cpu := range z.cpus {
		var a, f *bucket
		onCPU(cpu, func() {
			me, tok := enter()
			c := &z.cpus[me]
			a, f, c.alloc, c.free = c.alloc, c.free, nil, nil
			exit(me, tok)
		})
		for _, b := range []*bucket{a, f} {
			if b != nil {
				z.release(b.items[:b.n])
			}
		}
	}
}

// Destroy drains the zone and forgets it. Items still allocated are
// leaked with their slabs (reported in the error).
func (z *RawZone) Destroy() error {
	z.Drain()
	zonesMu.Lock()
	for i, o := range zones {
		if o == z {
			zones = append(zones[:i], zones[i+1:]...)
			break
		}
	}
	zonesMu.Unlock()
	if n := z.items.Load(); n > 0 {
		return fmt.Errorf("uma: zone %q destroyed with %d items allocated", z.name, n)
	}
	return nil
}

// allocDirect and freeDirect serve Debug and NoCache zones: no caches,
// every item straight from and to the keg.
func (z *RawZone) allocDirect(flags Flags) (uintptr, error) {
	var one [1]uintptr
	for {
		if z.limit > 0 {
			if cur := z.items.Load(); cur >= z.limit {
				if flags&M_NOWAIT != 0 {
					z.limitFails.Add(1)
					return 0, ErrLimit
				}
				z.sleepLimit()
				continue
			} else if !z.items.CompareAndSwap(cur, cur+1) {
				continue
			}
		} else {
			z.items.Add(1)
		}
		break
	}
	cpu, tok := enter()
	d := cpuDomain(cpu)
	exit(cpu, tok)
	if z.flags&NoCache != 0 {
		z.lockedMu.Lock()
	}
	n := z.keg.importItems(d, one[:], z.flags&Debug != 0)
	if z.flags&NoCache != 0 {
		z.lockedMu.Unlock()
	}
	if n == 0 {
		z.items.Add(-1)
		z.noMem.Add(1)
		return 0, ErrNoMem
	}
	p := one[0]
	z.imports.Add(1)
	z.initItem(p)
	if z.flags&Debug != 0 {
		if err := z.debugAlloc(p); err != nil {
			panic(err)
		}
	}
	cpu, tok = enter()
	z.cpus[cpu].allocs++
	exit(cpu, tok)
	z.construct(p, flags)
	return p, nil
}

func (z *RawZone) freeDirect(p uintptr) {
	if z.poison {
		z.poisonItem(p)
	}
	cpu, tok := enter()
	z.cpus[cpu].frees++
	exit(cpu, tok)
	if z.flags&NoCache != 0 {
		z.lockedMu.Lock()
		defer z.lockedMu.Unlock()
	}
	z.release([]uintptr{p})
}
