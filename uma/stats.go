package uma

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Statistics, the shell's "show uma", and the reclaim path.

// CPUStats are one CPU's figures for a zone.
type CPUStats struct {
	Allocs, Frees     uint64
	AllocBkt, FreeBkt int // items in the CPU's buckets
}

// DomainStats are one domain cache's figures.
type DomainStats struct {
	FullBuckets, CachedItems int
	WSS                      int // working-set estimate (items)
	Trimmed                  uint64
}

// Stats is a snapshot of a zone.
type Stats struct {
	Name                       string
	Size, BucketSize           int
	Limit                      int
	Allocs, Frees, InUse       uint64 // InUse = Allocs - Frees
	Items                      int64  // out of the keg: in use + cached (+ quarantined)
	Cached                     int    // in per-CPU and domain buckets
	Imports, Releases          uint64
	Ctors, Dtors, Inits, Finis uint64
	LimitFails, NoMem, Sleeps  uint64
	DoubleFrees, UseAfterFree  uint64
	WaitokInCritical           uint64
	Quarantined                int64
	SlowAllocs, SlowFrees      uint64
	Drains, TrimmedPages       uint64
	CPUs                       []CPUStats
	Domains                    []DomainStats
	Keg                        KegStats
}

// Stats returns the zone's figures. Per-CPU counters are read without
// stopping the CPUs: exact once the zone is quiet.
func (z *RawZone) Stats() Stats {
	z.trimMu.Lock()
	defer z.trimMu.Unlock()
	s := Stats{
		Name: z.name, Size: z.size, BucketSize: z.bsize, Limit: int(z.limit),
		Items:   z.items.Load(),
		Imports: z.imports.Load(), Releases: z.releases.Load(),
		Ctors: z.ctors.Load(), Dtors: z.dtors.Load(), Inits: z.inits.Load(), Finis: z.finis.Load(),
		LimitFails: z.limitFails.Load(), NoMem: z.noMem.Load(), Sleeps: z.sleeps.Load(),
		DoubleFrees: z.doubleFrees.Load(), UseAfterFree: z.useAfterFree.Load(), Quarantined: z.quarantined.Load(),
		WaitokInCritical: z.badWaitok.Load(),
		SlowAllocs:       z.slowAllocs.Load(), SlowFrees: z.slowFrees.Load(),
		Drains: z.drains.Load(), TrimmedPages: z.trimmedPage.Load(),
	}
	for cpu := range z.cpus {
		c := &z.cpus[cpu]
		// Another CPU's fields, read without stopping it: word-sized
		// reads, exact once the zone is quiet.
		var cs CPUStats
		cs.Allocs, cs.Frees = c.allocs, c.frees
		if b := c.alloc; b != nil {
			cs.AllocBkt = b.n
		}
		if b := c.free; b != nil {
			cs.FreeBkt = b.n
		}
		s.Allocs += cs.Allocs
		s.Frees += cs.Frees
		s.Cached += cs.AllocBkt + cs.FreeBkt
		s.CPUs = append(s.CPUs, cs)
	}
	for d := range z.doms {
		zd := &z.doms[d]
		zd.mu.Lock()
		ds := DomainStats{FullBuckets: len(zd.full), CachedItems: zd.ws.nitems, WSS: zd.ws.est, Trimmed: zd.trimmed}
		zd.mu.Unlock()
		s.Cached += ds.CachedItems
		s.Domains = append(s.Domains, ds)
	}
	s.InUse = s.Allocs - s.Frees
	s.Keg = z.keg.stats()
	return s
}

// Zones returns every zone's statistics, by name.
func Zones() []Stats {
	zonesMu.Lock()
	zs := append([]*RawZone(nil), zones...)
	zonesMu.Unlock()
	out := make([]Stats, 0, len(zs))
	for _, z := range zs {
		out = append(out, z.Stats())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WriteStats prints the zones (detail adds per-CPU and per-domain lines).
func WriteStats(w io.Writer, detail bool) {
	fmt.Fprintln(w, "zone                 size  bkt   limit      in-use     cached   allocs       frees        slabs  fails  sleeps")
	for _, s := range Zones() {
		lim := "-"
		if s.Limit > 0 {
			lim = fmt.Sprint(s.Limit)
		}
		fmt.Fprintf(w, "%-20s %4d %4d %7s %11d %10d %-12d %-12d %5d %6d %7d\n", s.Name, s.Size, s.BucketSize, lim,
			s.InUse, s.Cached, s.Allocs, s.Frees, s.Keg.Slabs, s.LimitFails+s.NoMem, s.Sleeps)
		if !detail {
			continue
		}
		fmt.Fprintf(w, "  keg: %d-byte stride, %d items per %d-byte slab, %d free items; imports %d releases %d; ctor %d dtor %d init %d fini %d\n",
			s.Keg.Stride, s.Keg.ItemsPerSlab, s.Keg.SlabBytes, s.Keg.FreeItems, s.Imports, s.Releases, s.Ctors, s.Dtors, s.Inits, s.Finis)
		for d, ds := range s.Domains {
			fmt.Fprintf(w, "  domain %d: %d slabs, %d full buckets (%d items), wss %d, trimmed %d\n",
				d, s.Keg.SlabsByDomain[d], ds.FullBuckets, ds.CachedItems, ds.WSS, ds.Trimmed)
		}
		for cpu, cs := range s.CPUs {
			fmt.Fprintf(w, "  cpu %d: allocs %d frees %d buckets %d+%d\n", cpu, cs.Allocs, cs.Frees, cs.AllocBkt, cs.FreeBkt)
		}
		if s.DoubleFrees+s.UseAfterFree+s.WaitokInCritical > 0 {
			fmt.Fprintf(w, "  errors: %d double/bad frees, %d use-after-free, %d quarantined, %d M_WAITOK in a critical section\n",
				s.DoubleFrees, s.UseAfterFree, s.Quarantined, s.WaitokInCritical)
		}
	}
}

// Reclaim returns cached memory to vm: with drain, every cache of every
// zone (memory pressure); otherwise each zone's surplus over its working
// set (the periodic trim).
func Reclaim(drain bool) {
	zonesMu.Lock()
	zs := append([]*RawZone(nil), zones...)
	zonesMu.Unlock()
	for _, z := range zs {
		if drain {
			z.Drain()
		} else {
			z.Trim()
		}
	}
}

// TrimInterval is the working-set interval of the periodic trim (FreeBSD
// UMA_TIMEOUT is 20 s).
var TrimInterval = 5 * time.Second

// LowMemory, if set (by the kernel), reports memory pressure: the trimmer
// then drains instead of trimming.
var LowMemory func() bool

var trimOnce sync.Once

// startTrimmer starts the periodic trim (kernel only; host tests call
// Trim themselves).
func startTrimmer() {
	if fake != nil {
		return
	}
	trimOnce.Do(func() {
		go func() {
			for {
				time.Sleep(TrimInterval)
				Reclaim(LowMemory != nil && LowMemory())
			}
		}()
	})
}
