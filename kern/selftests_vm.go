package kern

import (
	"math/rand"
	"sync"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// VM self-tests: the physical page allocators per NUMA domain, checked
// against the SRAT as package acpi parses it (GetTopology), not against
// the early scan that built them.
func init() {
	for _, t := range []Test{
		{Name: "VM/DomainsMatchSRAT", Fn: testDomainsMatchSRAT},
		{Name: "VM/PolicyPlacesPages", Fn: testPolicyPlaces},
		{Name: "VM/FallbackByDistance", Fn: testFallback},
		{Name: "VM/ContiguousDMARun", Fn: testContig},
		{Name: "VM/StressAccounting", Fn: testPhysStress},
	} {
		RegisterTest(t)
	}
}

// inSRATDomain reports whether [pa, pa+n) lies in one of domain d's SRAT
// memory ranges (any memory when there is no SRAT).
func inSRATDomain(pa, n uintptr, d int) bool {
	topo := GetTopology()
	if topo.Memory == nil {
		return d == 0
	}
	if d >= len(topo.Memory) {
		return false
	}
	for _, r := range topo.Memory[d] {
		if uint64(pa) >= r.Base && uint64(pa+n) <= r.Base+r.Length {
			return true
		}
	}
	return false
}

func testDomainsMatchSRAT(t *T) {
	topo := GetTopology()
	if vm.NumDomains() != topo.Domains {
		t.Errorf("page allocators have %d domains, the SRAT/SLIT %d", vm.NumDomains(), topo.Domains)
	}
	for _, s := range vm.Stats(true) {
		if s.Consistent != "" {
			t.Errorf("domain %d: %s", s.Domain, s.Consistent)
		}
		if s.Buddy.Total == 0 && topo.Memory != nil && len(topo.Memory[s.Domain]) > 0 {
			t.Errorf("domain %d has SRAT memory but no pages", s.Domain)
		}
		for _, r := range s.Ranges {
			if !inSRATDomain(r[0], r[1]-r[0], s.Domain) {
				t.Errorf("domain %d was given [%#x, %#x), outside its SRAT ranges", s.Domain, r[0], r[1])
			}
		}
		for j := 0; j < topo.Domains; j++ {
			if vm.Distance(s.Domain, j) != topo.Distance(s.Domain, j) {
				t.Errorf("distance %d-%d: %d, SLIT %d", s.Domain, j, vm.Distance(s.Domain, j), topo.Distance(s.Domain, j))
			}
		}
	}
	for c := 0; c < NumCPU(); c++ {
		if CPUDomain(c) != topo.CPUs[c].Domain {
			t.Errorf("cpu %d: first-touch domain %d, SRAT %d", c, CPUDomain(c), topo.CPUs[c].Domain)
		}
	}
	t.Logf("%d domain(s), %d pages free", vm.NumDomains(), vm.FreePageCount())
}

// checkedAlloc allocates and checks the block lands in domain want.
func checkedAlloc(t *T, p vm.Policy, order, want int) (uintptr, bool) {
	pa, ok := vm.AllocPages(p, order)
	if !ok {
		t.Errorf("policy %+v order %d: no memory", p, order)
		return 0, false
	}
	n := uintptr(vm.PageSize) << order
	if pa%n != 0 {
		t.Errorf("order %d block at %#x not aligned to its size", order, pa)
	}
	if !inSRATDomain(pa, n, want) || vm.DomainOf(pa) != want {
		t.Errorf("policy %+v: block %#x (domain %d) not in domain %d's SRAT ranges", p, pa, vm.DomainOf(pa), want)
	}
	return pa, true
}

func testPolicyPlaces(t *T) {
	nd := vm.NumDomains()
	for d := 0; d < nd; d++ {
		for order := 0; order < 4; order++ {
			for _, k := range []vm.PolicyKind{vm.Bind, vm.Preferred} {
				if pa, ok := checkedAlloc(t, vm.Policy{Kind: k, Domain: d}, order, d); ok {
					amd64.Store64(pa, uint64(pa)) // the page is really there
					if err := vm.FreePages(pa, order); err != nil {
						t.Errorf("free %#x: %v", pa, err)
					}
				}
			}
		}
	}
	// First touch: the domain of the CPU the caller runs on.
	var wg sync.WaitGroup
	for c := 0; c < NumCPU(); c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			onCPU(t, c, func() {
				if pa, ok := checkedAlloc(t, vm.Policy{Kind: vm.FirstTouch}, 0, GetTopology().CPUs[c].Domain); ok {
					vm.FreePages(pa, 0)
				}
			})
		}(c)
	}
	wg.Wait()
	// Round robin visits every domain.
	seen := map[int]bool{}
	var held []uintptr
	for i := 0; i < 2*nd; i++ {
		pa, ok := vm.AllocPages(vm.Policy{Kind: vm.RoundRobin}, 0)
		if !ok {
			t.Fatalf("round robin: no memory")
		}
		seen[vm.DomainOf(pa)] = true
		held = append(held, pa)
	}
	for _, pa := range held {
		vm.FreePages(pa, 0)
	}
	if len(seen) != nd {
		t.Errorf("round robin over %d allocations reached %d of %d domains", 2*nd, len(seen), nd)
	}
}

// testFallback empties one domain, then checks that Bind fails cleanly
// and Preferred is served by the nearest other domain (by SLIT).
func testFallback(t *T) {
	nd := vm.NumDomains()
	if nd < 2 {
		t.Logf("one domain: fallback not applicable")
		return
	}
	d := nd - 1
	type blk struct {
		pa    uintptr
		order int
	}
	var held []blk
	bind := vm.Policy{Kind: vm.Bind, Domain: d}
	for order := vm.MaxOrder - 1; order >= 0; order-- {
		for {
			pa, ok := vm.AllocPages(bind, order)
			if !ok {
				break
			}
			held = append(held, blk{pa, order})
		}
	}
	defer func() {
		for _, b := range held {
			if err := vm.FreePages(b.pa, b.order); err != nil {
				t.Errorf("free %#x order %d: %v", b.pa, b.order, err)
			}
		}
	}()
	if _, ok := vm.AllocPages(bind, 0); ok {
		t.Errorf("domain %d still has pages after being emptied", d)
	}
	near, best := -1, 1<<30
	for j := 0; j < nd; j++ {
		if j != d && vm.Distance(d, j) < best {
			near, best = j, vm.Distance(d, j)
		}
	}
	foreign := vm.Stats(false)[near].Foreign
	// Pages freed into domain d since it was emptied (the runtime's
	// madvise, other CPUs' frees) are served first: hold them too, until
	// the preferred allocation falls back.
	var pa uintptr
	refills := 0
	for {
		p, ok := vm.AllocPages(vm.Policy{Kind: vm.Preferred, Domain: d}, 0)
		if !ok {
			t.Fatalf("preferred domain %d empty: no fallback", d)
		}
		held = append(held, blk{p, 0})
		if vm.DomainOf(p) != d || refills == 10000 {
			pa = p
			break
		}
		refills++
	}
	if refills > 0 {
		t.Logf("%d pages freed into domain %d meanwhile, taken first", refills, d)
	}
	if got := vm.DomainOf(pa); got != near || !inSRATDomain(pa, vm.PageSize, near) {
		t.Errorf("fallback from domain %d went to domain %d, nearest is %d", d, got, near)
	}
	if vm.Stats(false)[near].Foreign <= foreign {
		t.Errorf("domain %d's foreign count did not grow", near)
	}
	t.Logf("emptied domain %d with %d blocks; fallback to domain %d (distance %d)", d, len(held)-1-refills, near, best)
}

func testContig(t *T) {
	for _, c := range []struct{ n, align int }{{1, 1}, {37, 16}, {300, 256}, {1024, 1}} {
		for d := 0; d < vm.NumDomains(); d++ {
			pa, ok := vm.AllocContig(vm.Policy{Kind: vm.Bind, Domain: d}, c.n, c.align)
			if !ok {
				t.Errorf("domain %d: no run of %d pages", d, c.n)
				continue
			}
			size := uintptr(c.n) * vm.PageSize
			if pa%(uintptr(c.align)*vm.PageSize) != 0 {
				t.Errorf("run %#x not aligned to %d pages", pa, c.align)
			}
			if !inSRATDomain(pa, size, d) {
				t.Errorf("run [%#x, %#x) not inside domain %d", pa, pa+size, d)
			}
			for off := uintptr(0); off < size; off += vm.PageSize {
				amd64.Store64(pa+off, uint64(pa+off))
			}
			for off := uintptr(0); off < size; off += vm.PageSize {
				if amd64.Load64(pa+off) != uint64(pa+off) {
					t.Errorf("run page %#x does not hold its data", pa+off)
				}
			}
			if err := vm.FreeContig(pa, c.n-1); err == nil {
				t.Errorf("freeing a run with the wrong length was accepted")
			}
			if err := vm.FreeContig(pa, c.n); err != nil {
				t.Errorf("free run: %v", err)
			}
			if err := vm.FreeContig(pa, c.n); err == nil {
				t.Errorf("double free of a run was accepted")
			}
		}
	}
}

// testPhysStress: every CPU allocates and frees blocks of orders 0..4
// under every policy, tagging each page and checking the tag when it
// frees it (a page handed out twice would be overwritten). Afterwards the
// pages held by kernel allocations are back where they started and, in
// every domain, free + held by each use = total, with consistent lists.
func testPhysStress(t *T) {
	before := vm.Stats(false)
	var wg sync.WaitGroup
	for c := 0; c < NumCPU(); c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			onCPU(t, c, func() {
				rng := rand.New(rand.NewSource(int64(c)))
				type blk struct {
					pa    uintptr
					order int
					tag   uint64
				}
				var live []blk
				for i := 0; i < 6000; i++ {
					if len(live) < 64 && (rng.Intn(2) == 0 || len(live) == 0) {
						p := vm.Policy{Kind: vm.PolicyKind(rng.Intn(4)), Domain: rng.Intn(vm.NumDomains())}
						order := rng.Intn(5)
						pa, ok := vm.AllocPages(p, order)
						if !ok {
							continue
						}
						tag := uint64(c)<<56 | uint64(i)
						for off := uintptr(0); off < vm.PageSize<<order; off += vm.PageSize {
							amd64.Store64(pa+off, tag)
						}
						live = append(live, blk{pa, order, tag})
						continue
					}
					j := rng.Intn(len(live))
					b := live[j]
					live[j] = live[len(live)-1]
					live = live[:len(live)-1]
					for off := uintptr(0); off < vm.PageSize<<b.order; off += vm.PageSize {
						if v := amd64.Load64(b.pa + off); v != b.tag {
							t.Errorf("cpu %d: page %#x holds %#x, not its tag %#x: handed out twice", c, b.pa+off, v, b.tag)
						}
					}
					if err := vm.FreePages(b.pa, b.order); err != nil {
						t.Errorf("cpu %d: free %#x: %v", c, b.pa, err)
					}
				}
				for _, b := range live {
					vm.FreePages(b.pa, b.order)
				}
			})
		}(c)
	}
	wg.Wait()
	after := vm.Stats(true)
	var ops uint64
	for d, s := range after {
		if s.Kernel != before[d].Kernel {
			t.Errorf("domain %d: kernel allocations hold %d pages, %d before the stress run", d, s.Kernel, before[d].Kernel)
		}
		if got := s.Buddy.Free + uint64(s.Kernel+s.Runtime+s.Tables); got != s.Buddy.Total {
			t.Errorf("domain %d: free %d + kernel %d + runtime %d + tables %d = %d, total %d",
				d, s.Buddy.Free, s.Kernel, s.Runtime, s.Tables, got, s.Buddy.Total)
		}
		if s.Consistent != "" {
			t.Errorf("domain %d: %s", d, s.Consistent)
		}
		ops += s.Allocs - before[d].Allocs
	}
	t.Logf("%d allocations on %d CPUs; every page accounted for", ops, NumCPU())
}
