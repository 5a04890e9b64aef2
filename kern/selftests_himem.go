package kern

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Self-tests of memory above 4 GiB (vm/phys.go): pages there allocated,
// written and read back through the identity map, the 32-bit DMA
// constraint, and the Go runtime's heap on high memory. On a guest
// without memory above 4 GiB the high-page checks say so and the rest
// still runs.
func init() {
	for _, t := range []Test{
		{Name: "VM/HighPagesPatterns", Fn: testHighPages},
		{Name: "VM/LowDMAConstraint", Fn: testLowDMA},
		{Name: "VM/RuntimeLargeSlice", Fn: testRuntimeLargeSlice},
		{Name: "VM/HighMemory1GiBPages", Fn: testHigh1GiBPages},
	} {
		RegisterTest(t)
	}
}

// highFree returns the free pages in domain d's segments above 4 GiB
// (every domain's for d < 0).
func highFree(d int) uint64 {
	var n uint64
	for _, s := range vm.Stats(false) {
		if d >= 0 && s.Domain != d {
			continue
		}
		for _, sg := range s.Segments {
			if sg.Lo >= vm.DMA32 {
				n += sg.Free
			}
		}
	}
	return n
}

// fillPattern writes a pattern derived from seed and each word's address
// over [pa, pa+n) through the identity map; checkPattern counts the words
// that do not hold it.
func fillPattern(pa, n uintptr, seed uint64) {
	for a := pa; a < pa+n; a += 8 {
		amd64.Store64(a, uint64(a)*0x9e3779b97f4a7c15^seed)
	}
}

func checkPattern(pa, n uintptr, seed uint64) int {
	bad := 0
	for a := pa; a < pa+n; a += 8 {
		if amd64.Load64(a) != uint64(a)*0x9e3779b97f4a7c15^seed {
			bad++
		}
	}
	return bad
}

// testHighPages: in every domain with memory above 4 GiB, 128 single
// pages and 8 order-4 blocks bound to it come from above 4 GiB (the
// allocator serves high memory first), hold a full-page pattern, are
// freed, and are handed out again (the same frames, a new pattern).
func testHighPages(t *T) {
	if vm.Boot.HighBytes == 0 {
		t.Logf("no memory above 4 GiB: not applicable")
		return
	}
	before := vm.Stats(false)
	tested := 0
	for d := 0; d < vm.NumDomains(); d++ {
		if highFree(d) < 4096 {
			continue
		}
		tested++
		type blk struct {
			pa    uintptr
			order int
		}
		round := func(seed uint64) []blk {
			var got []blk
			for i := 0; i < 136; i++ {
				order := 0
				if i >= 128 {
					order = 4
				}
				pa, ok := vm.AllocPages(vm.Policy{Kind: vm.Bind, Domain: d}, order)
				if !ok {
					t.Errorf("domain %d: no order-%d block", d, order)
					continue
				}
				n := uintptr(vm.PageSize) << order
				if pa < vm.DMA32 {
					t.Errorf("domain %d: block %#x below 4 GiB while %d high pages are free", d, pa, highFree(d))
				}
				if vm.DomainOf(pa) != d || !inSRATDomain(pa, n, d) {
					t.Errorf("domain %d: block %#x outside the domain", d, pa)
				}
				fillPattern(pa, n, seed)
				got = append(got, blk{pa, order})
			}
			for _, b := range got {
				n := uintptr(vm.PageSize) << b.order
				if bad := checkPattern(b.pa, n, seed); bad != 0 {
					t.Errorf("block %#x: %d of %d words lost their pattern", b.pa, bad, n/8)
				}
			}
			return got
		}
		first := round(0x5a5a5a5a5a5a5a5a)
		seen := map[uintptr]bool{}
		for _, b := range first {
			seen[b.pa] = true
			if err := vm.FreePages(b.pa, b.order); err != nil {
				t.Errorf("free %#x: %v", b.pa, err)
			}
		}
		second := round(0xa5a5a5a5a5a5a5a5)
		reused := 0
		for _, b := range second {
			if seen[b.pa] {
				reused++
			}
			if err := vm.FreePages(b.pa, b.order); err != nil {
				t.Errorf("free %#x: %v", b.pa, err)
			}
		}
		if reused == 0 {
			t.Errorf("domain %d: none of %d freed high blocks was handed out again", d, len(first))
		}
		t.Logf("domain %d: %d high blocks from %#x up, %d reused after free", d, len(first), lowest(first, func(b blk) uintptr { return b.pa }), reused)
	}
	if tested == 0 {
		t.Errorf("%d bytes above 4 GiB mapped but no domain has free pages there", vm.Boot.HighBytes)
	}
	for d, s := range vm.Stats(true) {
		if s.Kernel != before[d].Kernel {
			t.Errorf("domain %d: kernel allocations hold %d pages, %d before", d, s.Kernel, before[d].Kernel)
		}
		if s.Consistent != "" {
			t.Errorf("domain %d: %s", d, s.Consistent)
		}
	}
}

func lowest[E any](s []E, f func(E) uintptr) uintptr {
	m := ^uintptr(0)
	for _, e := range s {
		m = min(m, f(e))
	}
	return m
}

// testLowDMA: allocations with Policy.Below stay below it (4 GiB, and a
// tight 16 MiB), in every domain that has such memory; a domain that has
// none refuses a bound allocation and a preferred one falls back to a
// domain that has; an impossible limit fails cleanly and is counted; and
// without a limit the allocator serves high memory first.
func testLowDMA(t *T) {
	for d := 0; d < vm.NumDomains(); d++ {
		var low, tight bool
		for _, sg := range vm.Stats(false)[d].Segments {
			low = low || sg.Lo < vm.DMA32
			tight = tight || sg.Lo < 16<<20
		}
		bind := vm.Policy{Kind: vm.Bind, Domain: d, Below: vm.DMA32}
		pa, ok := vm.AllocContig(bind, 64, 16)
		switch {
		case ok && !low:
			t.Errorf("domain %d has no memory below 4 GiB but gave %#x", d, pa)
		case !ok && low:
			t.Errorf("domain %d: no 64-page run below 4 GiB", d)
		}
		if ok {
			if pa+64*vm.PageSize > vm.DMA32 || pa%(16*vm.PageSize) != 0 {
				t.Errorf("domain %d: DMA32 run [%#x, %#x) not below 4 GiB or misaligned", d, pa, pa+64*vm.PageSize)
			}
			fillPattern(pa, 64*vm.PageSize, 1)
			if bad := checkPattern(pa, 64*vm.PageSize, 1); bad != 0 {
				t.Errorf("DMA32 run %#x: %d words lost", pa, bad)
			}
			if err := vm.FreeContig(pa, 64); err != nil {
				t.Errorf("free DMA32 run: %v", err)
			}
		}
		if !low {
			pref := vm.Policy{Kind: vm.Preferred, Domain: d, Below: vm.DMA32}
			if pa, ok := vm.AllocPages(pref, 0); !ok || pa >= vm.DMA32 {
				t.Errorf("domain %d (all above 4 GiB): preferred DMA32 page %#x, ok %v", d, pa, ok)
			} else {
				vm.FreePages(pa, 0)
			}
		}
		if tight {
			var held []uintptr
			for i := 0; i < 8; i++ {
				pa, ok := vm.AllocPages(vm.Policy{Kind: vm.Bind, Domain: d, Below: 16 << 20}, 0)
				if !ok {
					break // that low memory may be in use
				}
				if pa >= 16<<20 {
					t.Errorf("domain %d: page %#x not below 16 MiB", d, pa)
				}
				held = append(held, pa)
			}
			for _, pa := range held {
				vm.FreePages(pa, 0)
			}
			if len(held) == 0 {
				t.Logf("domain %d: nothing free below 16 MiB", d)
			}
		}
	}
	lowFail := vm.LowPages.Load()
	if pa, ok := vm.AllocPages(vm.Policy{Below: 2 * vm.PageSize}, 0); ok {
		t.Errorf("a page below 8 KiB (never managed): %#x", pa)
		vm.FreePages(pa, 0)
	}
	if vm.LowPages.Load() == lowFail {
		t.Errorf("the impossible allocation was not counted")
	}
	if highFree(-1) > 1024 {
		pa, ok := vm.AllocPages(vm.Policy{Kind: vm.Bind, Domain: vm.NumDomains() - 1}, 0)
		if ok {
			if d := vm.NumDomains() - 1; pa < vm.DMA32 && highFree(d) > 1024 {
				t.Errorf("unconstrained page %#x below 4 GiB while domain %d has %d free high pages", pa, d, highFree(d))
			}
			vm.FreePages(pa, 0)
		}
	}
}

// testRuntimeLargeSlice: the Go runtime allocates VM_BIG_MIB MiB (256 with
// a GiB or more above 4 GiB, else 64) as one []byte, every page touched
// and read back; the pages (sampled through the page tables) lie above
// 4 GiB wherever their domain had enough free memory there. Dropping it and forcing a GC
// and a scavenge gives the pages back to the allocator.
func testRuntimeLargeSlice(t *T) {
	mib := 64
	if vm.Boot.HighBytes >= 1<<30 {
		mib = 256
	}
	if v, err := strconv.Atoi(os.Getenv("VM_BIG_MIB")); err == nil && v > 0 {
		mib = v
	}
	size := mib << 20
	pages := uint64(size / vm.PageSize)
	if free := vm.FreePageCount(); free < pages+pages/4+16384 {
		t.Logf("%d MiB free: not enough for %d MiB", free>>8, mib)
		return
	}
	// The runtime's pages are first-touch: from the faulting CPU's
	// domain, high memory first. A page below 4 GiB is wrong only if its
	// domain had plenty of high memory free.
	var domHigh [vm.MaxDomains]uint64
	for d := 0; d < vm.NumDomains(); d++ {
		domHigh[d] = highFree(d)
	}
	runtime.GC()
	debug.FreeOSMemory()
	free0 := vm.FreePageCount()

	b := make([]byte, size)
	for i := 0; i < size; i += vm.PageSize {
		b[i] = byte(i >> 12)
		b[i+vm.PageSize-1] = ^byte(i >> 12)
	}
	var bad, high, sampled, lowWithHigh int
	step := max(size/512, vm.PageSize)
	for i := 0; i < size; i += vm.PageSize {
		if b[i] != byte(i>>12) || b[i+vm.PageSize-1] != ^byte(i>>12) {
			bad++
		}
		if i%step == 0 {
			m, ok := KernelLookup(uintptr(unsafe.Pointer(&b[i])))
			if !ok {
				t.Errorf("touched page at offset %#x not mapped", i)
				continue
			}
			sampled++
			if m.PA >= vm.DMA32 {
				high++
			} else if d := vm.DomainOf(m.PA); d >= 0 && domHigh[d] > pages+pages/8+8192 {
				lowWithHigh++
			}
		}
	}
	if bad != 0 {
		t.Errorf("%d of %d pages lost their contents", bad, pages)
	}
	if lowWithHigh != 0 {
		t.Errorf("%d of %d sampled pages below 4 GiB in a domain with more high pages free than the slice needs", lowWithHigh, sampled)
	}
	touched := vm.FreePageCount()
	if used := free0 - min(free0, touched); used < pages*9/10 {
		t.Errorf("touching %d pages took only %d from the allocator", pages, used)
	}
	runtime.KeepAlive(b)
	b = nil
	runtime.GC()
	debug.FreeOSMemory()
	after := vm.FreePageCount()
	if after < touched+pages*9/10 {
		t.Errorf("after GC and scavenge %d pages free, %d while the slice lived: %d of %d given back",
			after, touched, after-min(after, touched), pages)
	}
	t.Logf("%d MiB: %d/%d sampled pages above 4 GiB; free pages %d -> %d -> %d", mib, high, sampled, free0, touched, after)
}

// pdpte reads the page-directory-pointer entry for va from the live page
// tables (from CR3 down, through the identity map), 0 if its PML4 entry
// is not present.
func pdpte(va uintptr) uint64 {
	const frame = 0x000ffffffffff000
	pml4 := uintptr(amd64.ReadCR3() & frame)
	e := amd64.Load64(pml4 + (va>>39&511)*8)
	if e&1 == 0 {
		return 0
	}
	return amd64.Load64(uintptr(e&frame) + (va>>30&511)*8)
}

// testHigh1GiBPages: on a CPU with 1 GiB pages (CPUID Page1GB; QEMU's
// default model lacks it, -cpu qemu64,+pdpe1gb has it) every whole,
// aligned GiB of RAM above 4 GiB is identity-mapped by one 1 GiB leaf:
// its PDPTE, read from the live tables, is present, writable, NX, has PS
// set and maps itself, and KernelLookup says the same. Memory in those
// leaves holds patterns (2 MiB blocks from the page allocator, which
// serves high memory first), and a 4 KiB alias of frames in them sees
// what the 1 GiB leaf wrote, and the other way round.
func testHigh1GiBPages(t *T) {
	const gib = 1 << 30
	_, _, _, edx := amd64.Cpuid(0x80000001, 0)
	if edx&(1<<26) == 0 || vm.Boot.HighBytes < gib {
		t.Logf("not applicable: Page1GB %v, %d MiB above 4 GiB", edx&(1<<26) != 0, vm.Boot.HighBytes>>20)
		return
	}
	leaves := 0
	inLeaf := map[uintptr]bool{}
	for _, s := range vm.Stats(false) {
		for _, sg := range s.Segments {
			if sg.Lo < vm.DMA32 {
				continue
			}
			for g := (sg.Lo + gib - 1) &^ (gib - 1); g+gib <= sg.Hi; g += gib {
				e := pdpte(g)
				const p, rw, ps, nx = 1 << 0, 1 << 1, 1 << 7, 1 << 63
				if e&(p|rw|ps|nx) != p|rw|ps|nx || uintptr(e&0x000fffffc0000000) != g {
					t.Errorf("GiB at %#x: PDPTE %#x, want a present writable NX 1 GiB leaf mapping itself", g, e)
					continue
				}
				if m, ok := KernelLookup(g + 0x12345678); !ok || m.Size != gib || m.PA != g+0x12345678 || m.Prot != vm.ProtWrite || m.Attr != vm.WB {
					t.Errorf("GiB at %#x: KernelLookup %+v (%v), want a 1 GiB rw- WB leaf", g, m, ok)
				}
				leaves++
				inLeaf[g] = true
			}
		}
	}
	if leaves == 0 {
		t.Fatalf("%d MiB above 4 GiB but no whole aligned GiB of RAM there", vm.Boot.HighBytes>>20)
	}
	// Memory behind the leaves: 2 MiB blocks, patterns through the
	// identity map (the 1 GiB leaves) and through a 4 KiB alias.
	const order, blocks = 9, 16
	var got []uintptr
	defer func() {
		for _, pa := range got {
			vm.FreePages(pa, order)
		}
	}()
	checked := 0
	for i := 0; i < 4*blocks && checked < blocks; i++ {
		pa, ok := vm.AllocPages(vm.Policy{}, order)
		if !ok {
			break
		}
		got = append(got, pa)
		if !inLeaf[pa&^(gib-1)] {
			continue
		}
		n := uintptr(vm.PageSize) << order
		seed := uint64(i) * 0x0123456789abcdef
		fillPattern(pa, n, seed)
		if bad := checkPattern(pa, n, seed); bad != 0 {
			t.Errorf("block %#x: %d of %d words lost their pattern", pa, bad, n/8)
		}
		// The block's last page through a 4 KiB alias: both ways.
		last := pa + n - vm.PageSize
		if err := MapKernel(kvaGiga, last, vm.PageSize, vm.ProtWrite, vm.WB); err != nil {
			t.Fatalf("alias: %v", err)
		}
		for o := uintptr(0); o < vm.PageSize; o += 8 {
			if v, want := amd64.Load64(kvaGiga+o), uint64(last+o)*0x9e3779b97f4a7c15^seed; v != want {
				t.Errorf("alias of %#x+%#x reads %#x, the 1 GiB leaf wrote %#x", last, o, v, want)
				break
			}
			amd64.Store64(kvaGiga+o, ^uint64(o)^seed)
		}
		for o := uintptr(0); o < vm.PageSize; o += 8 {
			if v := amd64.Load64(last + o); v != ^uint64(o)^seed {
				t.Errorf("%#x through the 1 GiB leaf reads %#x, the alias wrote %#x", last+o, v, ^uint64(o)^seed)
				break
			}
		}
		if err := UnmapKernel(kvaGiga, vm.PageSize); err != nil {
			t.Fatalf("unmap alias: %v", err)
		}
		checked++
	}
	if checked == 0 {
		t.Fatalf("none of %d 2 MiB blocks lay in a 1 GiB leaf", len(got))
	}
	t.Logf("%d 1 GiB leaves map the RAM above 4 GiB; %d 2 MiB blocks in them hold patterns, seen through 4 KiB aliases", leaves, checked)
}
