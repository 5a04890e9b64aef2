package kern

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Self-tests of the kernel pmap and the protections built on it (pmap.go):
// W^X of the image, NX data, guard pages, PAT and CR0.WP on every CPU,
// an uncached alias, a protection change seen by every CPU at once, and a
// 2 MiB page split and merged with its contents kept. Each test uses its
// own slice of the kernel's window [vm.KVABase, vm.KVATop).
func init() {
	RegisterTest(Test{Name: "VM/PagingControlsOnEveryCPU", Fn: testPagingControls})
	RegisterTest(Test{Name: "VM/KernelImageWX", Fn: testImageWX})
	RegisterTest(Test{Name: "VM/WriteToTextFaults", Fn: testWriteText})
	RegisterTest(Test{Name: "VM/ExecuteDataFaults", Fn: testExecData})
	RegisterTest(Test{Name: "VM/GuardPagesUnmapped", Fn: testGuardPages})
	RegisterTest(Test{Name: "VM/UncachedAlias", Fn: testUncachedAlias})
	RegisterTest(Test{Name: "VM/ProtectSeenByEveryCPU", Fn: testProtectAllCPUs})
	RegisterTest(Test{Name: "VM/SplitMergeKeepsContents", Fn: testSplitMerge})
	RegisterTest(Test{Name: "VM/ShowPmap", Fn: testShowPmap})
	RegisterShow("pmap", "kernel page tables: leaves by size, caching attribute and rights; splits, merges, flushes", showPmap)
}

// Slices of the kernel window, one per test.
const (
	kvaAlias   uintptr = vm.KVABase + 0<<30
	kvaProtect uintptr = vm.KVABase + 1<<30
	kvaSplit   uintptr = vm.KVABase + 2<<30
	kvaGiga    uintptr = vm.KVABase + 4<<30 // 3: kvaBench
)

// faultAddr runs fn and returns the address of the memory fault it took
// (the runtime turns the kernel's SIGSEGV into a recoverable panic under
// debug.SetPanicOnFault).
func faultAddr(fn func()) (addr uintptr, faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			addr, faulted = e.Addr(), true
		}
	}()
	fn()
	return 0, false
}

func testPagingControls(t *T) {
	for c := 0; c < NumCPU(); c++ {
		onCPU(t, c, func() {
			if v := amd64.Rdmsr(vm.IA32_PAT); v != vm.PATValue {
				t.Errorf("cpu %d: IA32_PAT %#x, want %#x", c, v, uint64(vm.PATValue))
			}
			if amd64.ReadCR0()&cr0WP == 0 {
				t.Errorf("cpu %d: CR0.WP clear", c)
			}
			if amd64.Rdmsr(amd64.IA32_EFER)&eferNXE == 0 {
				t.Errorf("cpu %d: EFER.NXE clear", c)
			}
		})
	}
}

func expectProt(t *T, what string, va uintptr, want vm.Prot) {
	m, ok := KernelLookup(va)
	switch {
	case !ok:
		t.Errorf("%s %#x not mapped", what, va)
	case m.Prot != want:
		t.Errorf("%s %#x is %v, want %v", what, va, m.Prot, want)
	}
}

func testImageWX(t *T) {
	if nImageSegs < 3 {
		t.Fatalf("%d image segments from the ELF header, want text, rodata, data", nImageSegs)
	}
	var x, w int
	for _, s := range imageSegs[:nImageSegs] {
		if s.Prot&vm.ProtExec != 0 {
			x++
		}
		if s.Prot&vm.ProtWrite != 0 {
			w++
		}
		if s.Prot&vm.ProtExec != 0 && s.Prot&vm.ProtWrite != 0 {
			t.Errorf("segment [%#x, %#x) writable and executable", s.VA, s.End)
		}
		// First, middle and last page of each segment.
		for _, va := range []uintptr{s.VA, (s.VA + s.End) / 2, s.End - 1} {
			if _, _, guard := guardHit(va); guard {
				continue
			}
			expectProt(t, "image page", va&^(vm.PageSize-1), s.Prot)
		}
	}
	if x != 1 || w != 1 {
		t.Errorf("%d executable and %d writable segments, want 1 and 1", x, w)
	}
	if textLo < imageSegs[0].VA || textHi > imageSegs[0].End {
		t.Errorf("text [%#x, %#x) outside the first segment [%#x, %#x)", textLo, textHi, imageSegs[0].VA, imageSegs[0].End)
	}
	expectProt(t, "kernel text", textStart(), vm.ProtExec)
	expectProt(t, "string constant", uintptr(unsafe.Pointer(unsafe.StringData("rodata"))), vm.ProtRead)
	expectProt(t, "BSS", uintptr(unsafe.Pointer(&cpus[0])), vm.ProtWrite)
	expectProt(t, "low memory", 0x200000, vm.ProtWrite)
	expectProt(t, "high identity memory", 0xc0000000, vm.ProtWrite)
	expectProt(t, "AP trampoline after boot", trampAddr, vm.ProtWrite)
	if _, ok := KernelLookup(0); ok {
		t.Errorf("page 0 mapped")
	}
	if m, ok := KernelLookup(0xfee00000); !ok || m.Attr != vm.UC || m.Prot != vm.ProtWrite {
		t.Errorf("LAPIC page %+v (mapped %v), want UC rw-", m, ok)
	}
	if lo, hi := fbWC(); lo < hi {
		for _, va := range []uintptr{lo, hi - vm.PageSize} {
			if m, ok := KernelLookup(va); !ok || m.Attr != vm.WC || m.Prot != vm.ProtWrite {
				t.Errorf("framebuffer page %#x: %+v (mapped %v), want WC rw-", va, m, ok)
			}
		}
	}
}

func testWriteText(t *T) {
	for _, c := range []struct {
		what string
		va   uintptr
	}{
		{"kernel text", textStart() + 64},
		{"a function", funcPC(testWriteText) + 3},
		{"read-only data", uintptr(unsafe.Pointer(unsafe.StringData("a string constant in rodata")))},
	} {
		b := amd64.Load8(c.va)
		// The same byte back: should the write go through, nothing changes.
		addr, ok := faultAddr(func() { amd64.Store8(c.va, b) })
		if !ok {
			t.Errorf("writing %s at %#x did not fault", c.what, c.va)
		} else if addr != c.va {
			t.Errorf("writing %s at %#x faulted at %#x", c.what, c.va, addr)
		}
	}
}

// funcPC returns the entry address of a Go function.
func funcPC(f func(*T)) uintptr { return **(**uintptr)(unsafe.Pointer(&f)) }

// callAt calls the code at a as a func().
func callAt(a uintptr) {
	fv := &struct{ pc uintptr }{a}
	f := *(*func())(unsafe.Pointer(&fv))
	f()
}

// execPage holds a RET in a data page (the BSS).
var execPage [2 * vm.PageSize]byte

func testExecData(t *T) {
	bss := (uintptr(unsafe.Pointer(&execPage)) + vm.PageSize - 1) &^ (vm.PageSize - 1)
	heap := make([]byte, 2*vm.PageSize)
	hp := (uintptr(unsafe.Pointer(&heap[0])) + vm.PageSize - 1) &^ (vm.PageSize - 1)
	stackBuf := [1]byte{0xc3}
	for _, c := range []struct {
		what string
		va   uintptr
	}{
		{"the BSS", bss},
		{"the Go heap", hp},
		{"a goroutine stack", uintptr(unsafe.Pointer(&stackBuf))},
	} {
		amd64.Store8(c.va, 0xc3) // RET: harmless should it run
		addr, ok := faultAddr(func() { callAt(c.va) })
		if !ok {
			t.Errorf("executing %s at %#x did not fault", c.what, c.va)
		} else if addr != c.va {
			t.Errorf("executing %s at %#x faulted at %#x", c.what, c.va, addr)
		}
	}
	runtime.KeepAlive(heap)
}

func testGuardPages(t *T) {
	for k := range stackKinds {
		sk := &stackKinds[k]
		n := sk.slots
		if k != stackMain {
			// Online CPUs' stacks and the rest alike.
			n = min(n, NumCPU()*(sk.slots/MaxCPU)+1)
		}
		for i := 0; i < n; i++ {
			g, lo, hi := stackSlot(k, i)
			if _, ok := KernelLookup(g); ok {
				t.Errorf("%s stack %d: guard page %#x mapped", sk.name, i, g)
			}
			if kind, slot, ok := guardHit(g + 100); !ok || kind != k || slot != i {
				t.Errorf("%s stack %d: guardHit(%#x) = %d, %d, %v", sk.name, i, g+100, kind, slot, ok)
			}
			if _, _, ok := guardHit(lo); ok {
				t.Errorf("%s stack %d: its lowest byte %#x taken for a guard", sk.name, i, lo)
			}
			expectProt(t, sk.name+" stack", lo, vm.ProtWrite)
			expectProt(t, sk.name+" stack", hi-1, vm.ProtWrite)
		}
	}
	if lo, hi := stackBounds(stackKernel, 0); cpus[0].kstackTop != hi || cpus[0].kg[0] != lo {
		t.Errorf("CPU 0 kernel stack [%#x, %#x), fake g says [%#x, %#x)", lo, hi, cpus[0].kg[0], cpus[0].kstackTop)
	}
	var l kline
	stackOverflowMsg(&l, stackIST, 2*nIST+1, 7)
	if got, want := string(l.buf[:l.n]), "stack overflow: CPU 2 IST2 stack (thread 7)"; got != want {
		t.Errorf("report %q, want %q", got, want)
	}
}

// testUncachedAlias maps a page a second time, uncached, in the kernel
// window: what one mapping writes the other reads, both ways, and the
// alias is gone after the unmap.
func testUncachedAlias(t *T) {
	pa, ok := vm.AllocPages(vm.Policy{}, 0)
	if !ok {
		t.Fatalf("no page")
	}
	defer vm.FreePages(pa, 0)
	if err := MapKernel(kvaAlias, pa, vm.PageSize, vm.ProtWrite, vm.UC); err != nil {
		t.Fatalf("map: %v", err)
	}
	m, ok := KernelLookup(kvaAlias + 8)
	if !ok || m.PA != pa+8 || m.Attr != vm.UC || m.Size != vm.PageSize || m.Prot != vm.ProtWrite {
		t.Errorf("alias %+v (mapped %v), want pa %#x+8 UC 4 KiB rw-", m, ok, pa)
	}
	for i := uintptr(0); i < vm.PageSize; i += 8 {
		amd64.Store64(kvaAlias+i, uint64(pa+i)^0x5a5a5a5a)
	}
	for i := uintptr(0); i < vm.PageSize; i += 8 {
		if v := amd64.Load64(pa + i); v != uint64(pa+i)^0x5a5a5a5a {
			t.Fatalf("offset %#x: identity map reads %#x after the uncached write", i, v)
		}
		amd64.Store64(pa+i, ^uint64(i))
	}
	for i := uintptr(0); i < vm.PageSize; i += 8 {
		if v := amd64.Load64(kvaAlias + i); v != ^uint64(i) {
			t.Fatalf("offset %#x: uncached alias reads %#x after the write-back write", i, v)
		}
	}
	if err := UnmapKernel(kvaAlias, vm.PageSize); err != nil {
		t.Fatalf("unmap: %v", err)
	}
	if addr, ok := faultAddr(func() { amd64.Load64(kvaAlias + 16) }); !ok || addr != kvaAlias+16 {
		t.Errorf("read after unmap: fault %v at %#x", ok, addr)
	}
	if err := UnmapKernel(kvaAlias, vm.PageSize); err != vm.ErrNotMapped {
		t.Errorf("second unmap: %v, want %v", err, vm.ErrNotMapped)
	}
}

// testProtectAllCPUs: every other CPU writes a page (a writable, dirty
// translation in its TLB) and keeps reading it; CPU 0 makes it read-only,
// and the moment ProtectKernel returns raises a flag; each CPU's next
// write must fault. A write that went through used a stale TLB entry.
func testProtectAllCPUs(t *T) {
	n := NumCPU()
	pa, ok := vm.AllocPages(vm.Policy{}, 0)
	if !ok {
		t.Fatalf("no page")
	}
	defer vm.FreePages(pa, 0)
	if err := MapKernel(kvaProtect, pa, vm.PageSize, vm.ProtWrite, vm.WB); err != nil {
		t.Fatalf("map: %v", err)
	}
	defer UnmapKernel(kvaProtect, vm.PageSize)
	const rounds = 10
	var stale atomic.Int32
	for round := 0; round < rounds; round++ {
		if err := ProtectKernel(kvaProtect, vm.PageSize, vm.ProtWrite); err != nil {
			t.Fatalf("protect rw: %v", err)
		}
		var ready, wg sync.WaitGroup
		var done atomic.Bool
		for c := 1; c < n; c++ {
			ready.Add(1)
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				onCPU(t, c, func() {
					slot := kvaProtect + uintptr(c)*8
					amd64.Store64(slot, uint64(round))
					ready.Done()
					for !done.Load() {
						amd64.Load64(slot)
					}
					if _, ok := faultAddr(func() { amd64.Store64(slot, 0xbad) }); !ok {
						stale.Add(1)
					}
				})
			}(c)
		}
		ready.Wait()
		onCPU(t, 0, func() {
			if err := ProtectKernel(kvaProtect, vm.PageSize, vm.ProtRead); err != nil {
				t.Errorf("protect r: %v", err)
			}
			done.Store(true)
		})
		wg.Wait()
		if addr, ok := faultAddr(func() { amd64.Store64(kvaProtect, 1) }); !ok || addr != kvaProtect {
			t.Errorf("round %d: write on the protecting CPU: fault %v at %#x", round, ok, addr)
		}
		for c := 1; c < n; c++ {
			if v := amd64.Load64(kvaProtect + uintptr(c)*8); v != uint64(round) {
				t.Errorf("round %d: cpu %d's slot holds %#x", round, c, v)
			}
		}
	}
	if s := stale.Load(); s != 0 {
		t.Errorf("%d writes through a stale writable TLB entry over %d rounds on %d CPUs", s, rounds, n-1)
	}
}

// testSplitMerge maps a 2 MiB block with one large page, protects one
// 4 KiB page inside (a split), checks every page's contents and rights,
// restores it (a merge), unmaps one page (a split again) and checks again.
func testSplitMerge(t *T) {
	const big = 2 << 20
	pa, ok := vm.AllocPages(vm.Policy{}, 9)
	if !ok {
		t.Fatalf("no 2 MiB block")
	}
	defer vm.FreePages(pa, 9)
	if pa%big != 0 {
		t.Fatalf("2 MiB block at %#x not aligned", pa)
	}
	if err := MapKernel(kvaSplit, pa, big, vm.ProtWrite, vm.WB); err != nil {
		t.Fatalf("map: %v", err)
	}
	defer UnmapKernel(kvaSplit, big)
	size := func(va uintptr) uintptr {
		m, _ := KernelLookup(va)
		return m.Size
	}
	if s := size(kvaSplit + 12345); s != big {
		t.Fatalf("mapped with %#x pages, want one 2 MiB page", s)
	}
	pattern := func(i, off uintptr) uint64 { return uint64(i)<<32 | uint64(off) ^ 0xa5 }
	for i := uintptr(0); i < 512; i++ {
		for off := uintptr(0); off < vm.PageSize; off += 512 {
			amd64.Store64(kvaSplit+i*vm.PageSize+off, pattern(i, off))
		}
	}
	check := func(stage string, skip uintptr) {
		for i := uintptr(0); i < 512; i++ {
			if i == skip {
				continue
			}
			for off := uintptr(0); off < vm.PageSize; off += 512 {
				if v := amd64.Load64(kvaSplit + i*vm.PageSize + off); v != pattern(i, off) {
					t.Fatalf("%s: page %d offset %#x reads %#x", stage, i, off, v)
				}
				if v := amd64.Load64(pa + i*vm.PageSize + off); v != pattern(i, off) {
					t.Fatalf("%s: page %d offset %#x reads %#x through the identity map", stage, i, off, v)
				}
			}
		}
	}
	const mid = 300
	midVA := kvaSplit + mid*vm.PageSize
	if err := ProtectKernel(midVA, vm.PageSize, vm.ProtRead); err != nil {
		t.Fatalf("protect: %v", err)
	}
	if s := size(midVA); s != vm.PageSize {
		t.Errorf("after protecting one page: %#x page, want 4 KiB", s)
	}
	check("split", ^uintptr(0))
	expectProt(t, "protected page", midVA, vm.ProtRead)
	expectProt(t, "its neighbour", midVA+vm.PageSize, vm.ProtWrite)
	if _, ok := faultAddr(func() { amd64.Store64(midVA, 0) }); !ok {
		t.Errorf("write to the read-only page did not fault")
	}
	amd64.Store64(midVA+vm.PageSize+8, pattern(mid+1, 8)) // neighbour writable (same value)
	if err := ProtectKernel(midVA, vm.PageSize, vm.ProtWrite); err != nil {
		t.Fatalf("protect back: %v", err)
	}
	if s := size(midVA); s != big {
		t.Errorf("after restoring: %#x page, want the 2 MiB page merged back", s)
	}
	check("merged", ^uintptr(0))
	if err := UnmapKernel(midVA, vm.PageSize); err != nil {
		t.Fatalf("unmap one page: %v", err)
	}
	if _, ok := KernelLookup(midVA); ok {
		t.Errorf("unmapped page still mapped")
	}
	check("split by unmap", mid)
	if s := size(kvaSplit); s != vm.PageSize {
		t.Errorf("after unmapping one page: %#x pages, want 4 KiB", s)
	}
}

// testShowPmap: the census sees the image's text (4 KiB, read-only,
// executable), the device window (2 MiB, uncached) and NX memory.
func testShowPmap(t *T) {
	var b strings.Builder
	showPmap(&b, nil)
	out := b.String()
	for _, want := range []string{"identity [0x0, 0x8000000000): ", "4K/WB/r-x:", "4K/WB/r--:", "2M/UC/rw-:", "2M/WB/rw-:", "runtime [", "merges "} {
		if !strings.Contains(out, want) {
			t.Errorf("show pmap lacks %q:\n%s", want, out)
		}
	}
	t.Logf("%s", out)
}

var sizeNames = [...]string{"4K", "2M", "1G"}

func showPmap(w io.Writer, _ []string) {
	var st vm.PmapStats
	for _, r := range []struct {
		name   string
		lo, hi uintptr
	}{
		{"identity", 0, vm.KVABase},
		{"kernel window", vm.KVABase, vm.KVATop},
		{"runtime", vm.SpaceBase, vm.SpaceTop},
	} {
		var c vm.Count
		c, st = KernelCensus(r.lo, r.hi-r.lo)
		fmt.Fprintf(w, "%s [%#x, %#x):", r.name, r.lo, r.hi)
		any := false
		for s := range c {
			for a := range c[s] {
				for p := range c[s][a] {
					if c[s][a][p] != 0 {
						fmt.Fprintf(w, " %s/%v/%v:%d", sizeNames[s], vm.Attr(a), vm.Prot(p), c[s][a][p])
						any = true
					}
				}
			}
		}
		if !any {
			fmt.Fprint(w, " none")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "splits %d, merges %d, tables allocated %d, freed %d, flushes %d\n", st.Splits, st.Merges, st.TablesAlloc, st.TablesFreed, st.Flushes)
	for _, s := range imageSegs[:nImageSegs] {
		fmt.Fprintf(w, "image segment [%#x, %#x) %v\n", s.VA, s.End, s.Prot)
	}
}
