package kern

import (
	"errors"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/boot/multiboot"
	"github.com/smpgo/smpgo/vm"
)

// The kernel's page protections (vm's kernel pmap, used from here):
//
//   - every CPU: IA32_PAT = vm.PATValue (WB, WC, UC-, UC by PWT/PCD),
//     CR0.WP so that ring 0 honours read-only pages, EFER.NXE (set by
//     the entry code and the AP trampoline before paging);
//   - the kernel image W^X from its own ELF program headers: text
//     read-only and executable, read-only data read-only, data and BSS
//     writable, neither executable;
//   - the rest of the 4 GiB identity map writable, not executable; page 0
//     unmapped; the AP trampoline page executable only while APs start;
//   - device registers uncached (the 0xfec00000-4 GiB window of the
//     IOAPIC, LAPIC and HPET; PCI BARs by MapMMIO), an RGB framebuffer
//     write-combining;
//   - a guard page below every kernel stack (stacks.go).

const (
	cr0WP   = 1 << 16 // SDM §2.5: supervisor writes honour R/W
	eferNXE = 1 << 11

	deviceWindow = 0xfec00000 // IOAPIC, LAPIC, HPET up to 4 GiB
)

// initPaging programs this CPU's paging controls (loadCPU, every CPU, the
// same values).
func initPaging() {
	if amd64.Rdmsr(amd64.IA32_EFER)&eferNXE == 0 {
		Panic("kern.initPaging: EFER.NXE clear (the entry code sets it)")
	}
	// No entry used PA1 (PWT alone) before, so changing it needs no cache
	// flush; the TLB reload drops entries cached under the old PAT.
	amd64.Wrmsr(vm.IA32_PAT, vm.PATValue)
	amd64.WriteCR0(amd64.ReadCR0() | cr0WP)
	amd64.WriteCR3(amd64.ReadCR3())
}

// bootPmapFailed stops the boot: the kernel pmap refused an operation.
func bootPmapFailed(what string, va uintptr, err error) {
	var l kline
	l.s("kern: ").s(what).s(" at ").x(uint64(va)).s(": ").s(err.Error())
	Panic(unsafe.String(&l.buf[0], l.n))
}

// Image layout found at boot (c), for the self-tests and show pmap.
var (
	imageHdr   [vm.PageSize]byte
	imageSegs  [8]vm.Segment
	nImageSegs int
	textLo     uintptr
	textHi     uintptr
)

func textStart() uintptr
func textEnd() uintptr

// initKernelPmap applies the protections above (BSP, at boot, after the
// page allocator and vm.InitKernelPmap, before the APs start). RAM above
// 4 GiB was mapped writable and not executable by vm.InitPhys.
func initKernelPmap() {
	textLo, textHi = textStart(), textEnd()
	// The ELF file starts one page above the image tool's header page.
	amd64.Memmove(uintptr(unsafe.Pointer(&imageHdr)), kernelLoadAddr+vm.PageSize, vm.PageSize)
	n, err := vm.ImageSegments(imageHdr[:], imageSegs[:])
	if err != nil {
		// Not the image tool's layout: protect what the linker's symbols
		// bound (text), the rest stays writable.
		var l kline
		l.s("smpgo: kernel image: ").s(err.Error()).s(": text write-protected from linker symbols only").nl().print()
		imageSegs[0] = vm.Segment{VA: textLo, End: textHi, Prot: vm.ProtExec}
		n = 1
	}
	nImageSegs = n

	// Everything not in an executable segment: writable, not executable
	// (page 0 is a hole, reported and ignored). Executable segments are
	// never made non-executable on the way: this code runs from them.
	cur := uintptr(vm.PageSize)
	for _, s := range imageSegs[:n] {
		a := s.VA &^ (vm.PageSize - 1)
		b := (s.End + vm.PageSize - 1) &^ (vm.PageSize - 1)
		if a > cur {
			protectBoot(cur, a, vm.ProtWrite)
		}
		protectBoot(a, b, s.Prot)
		cur = max(cur, b)
	}
	protectBoot(cur, 1<<32, vm.ProtWrite)
	if err := vm.KernelUnmap(0, vm.PageSize); err != nil {
		bootPmapFailed("unmapping page 0", 0, err)
	}
	if err := vm.KernelProtect(trampAddr, vm.PageSize, vm.ProtWrite|vm.ProtExec); err != nil {
		bootPmapFailed("the AP trampoline", trampAddr, err)
	}
	if _, err := vm.MapMMIO(deviceWindow, 1<<32-deviceWindow, vm.UC); err != nil {
		bootPmapFailed("the device window", deviceWindow, err)
	}
	if lo, hi := fbWC(); lo < hi {
		if _, err := vm.MapMMIO(lo, hi-lo, vm.WC); err != nil {
			bootPmapFailed("the framebuffer", lo, err)
		}
	}
	unmapGuards()
}

// protectBoot sets the rights of [a, b); holes (page 0) are fine.
func protectBoot(a, b uintptr, p vm.Prot) {
	if b <= a {
		return
	}
	if err := vm.KernelProtect(a, b-a, p); err != nil && err != vm.ErrNotMapped {
		bootPmapFailed("protecting the identity map", a, err)
	}
}

// apsStarted closes the AP trampoline page for execution.
func apsStarted() {
	if err := vm.KernelProtect(trampAddr, vm.PageSize, vm.ProtWrite); err != nil {
		bootPmapFailed("the AP trampoline", trampAddr, err)
	}
}

// The private system call's pmap operation: goroutine code changes the
// kernel's mappings in trap context (interrupts off, the kernel stack),
// where nothing can grow a goroutine stack or demand-fault while vm's
// lock is held.
const opPmap = 6

const (
	pmapMap = iota
	pmapUnmap
	pmapProtect
	pmapAttr
	pmapMMIO
	pmapCensus
	pmapLookup
)

type pmapReq struct {
	op        int
	va, pa, n uintptr
	prot      vm.Prot
	attr      vm.Attr
	err       int // index in pmapErrs, 0 = none

	count vm.Count     // pmapCensus: leaves of [va, va+n)
	stats vm.PmapStats // pmapCensus: the kernel pmap's counters
}

// pmapErrs are the errors the kernel pmap returns; the system call passes
// an index (trap context stores no interface into goroutine memory).
var pmapErrs = [...]*error{nil, &vm.ErrAlign, &vm.ErrNoTables, &vm.ErrNotMapped, &vm.ErrCanonical}

func pmapSyscall(r *pmapReq) int64 {
	var err error
	switch r.op {
	case pmapMap:
		err = vm.KernelMap(r.va, r.pa, r.n, r.prot, r.attr)
	case pmapUnmap:
		err = vm.KernelUnmap(r.va, r.n)
	case pmapProtect:
		err = vm.KernelProtect(r.va, r.n, r.prot)
	case pmapAttr:
		err = vm.KernelSetAttr(r.va, r.n, r.attr)
	case pmapMMIO:
		r.va, err = vm.MapMMIO(r.pa, r.n, r.attr)
	case pmapLookup:
		m, ok := vm.KernelLookup(r.va)
		r.pa, r.n, r.prot, r.attr = m.PA, m.Size, m.Prot, m.Attr
		if !ok {
			err = vm.ErrNotMapped
		}
	case pmapCensus:
		r.stats = vm.KernelCensus(r.va, r.n, &r.count)
	default:
		return -EINVAL
	}
	r.err = 0
	if err != nil {
		r.err = -1
		for i := 1; i < len(pmapErrs); i++ {
			if *pmapErrs[i] == err {
				r.err = i
			}
		}
	}
	return 0
}

func pmapCall(r *pmapReq) error {
	rawSyscall(sysSmpgoDebug, opPmap, uintptr(unsafe.Pointer(r)))
	switch {
	case r.err < 0:
		return errPmapUnknown
	case r.err > 0:
		return *pmapErrs[r.err]
	}
	return nil
}

var errPmapUnknown = errors.New("kern: kernel pmap: unknown error")

// MapKernel maps [va, va+n) to physical pa in the kernel's page tables
// (vm.KVABase..vm.KVATop is the kernel's window for such mappings), with
// prot and caching attribute attr; every CPU sees the new mapping when it
// returns.
func MapKernel(va, pa, n uintptr, prot vm.Prot, attr vm.Attr) error {
	return pmapCall(&pmapReq{op: pmapMap, va: va, pa: pa, n: n, prot: prot, attr: attr})
}

// UnmapKernel removes [va, va+n) from the kernel's page tables; no CPU
// uses the old mappings when it returns.
func UnmapKernel(va, n uintptr) error {
	return pmapCall(&pmapReq{op: pmapUnmap, va: va, n: n})
}

// ProtectKernel sets the rights of [va, va+n); a weakening is seen by
// every CPU when it returns.
func ProtectKernel(va, n uintptr, prot vm.Prot) error {
	return pmapCall(&pmapReq{op: pmapProtect, va: va, n: n, prot: prot})
}

// SetKernelAttr sets the caching attribute of [va, va+n).
func SetKernelAttr(va, n uintptr, attr vm.Attr) error {
	return pmapCall(&pmapReq{op: pmapAttr, va: va, n: n, attr: attr})
}

// MapMMIO makes device memory [pa, pa+n) reachable with attr (vm.UC for
// registers, vm.WC for frame buffers) and returns its address. The boot
// framebuffer, which the screen console owns, stays write-combining when
// a range covering it (its PCI BAR) is mapped.
func MapMMIO(pa, n uintptr, attr vm.Attr) (uintptr, error) {
	r := pmapReq{op: pmapMMIO, pa: pa, n: n, attr: attr}
	if err := pmapCall(&r); err != nil {
		return 0, err
	}
	if a, b := fbWC(); a < b && attr != vm.WC && a < pa+n && pa < b {
		lo, hi := max(a, pa&^(vm.PageSize-1)), min(b, (pa+n+vm.PageSize-1)&^(vm.PageSize-1))
		if err := SetKernelAttr(lo, hi-lo, vm.WC); err != nil {
			return 0, err
		}
	}
	return r.va, nil
}

// fbWC returns the page-aligned range of the write-combining boot
// framebuffer, empty if there is none.
func fbWC() (lo, hi uintptr) {
	if fbmem.base == 0 || bootFB.Type != multiboot.FramebufferRGB {
		return 0, 0
	}
	lo = fbmem.base &^ (vm.PageSize - 1)
	hi = (fbmem.base + uintptr(bootFB.Pitch)*uintptr(bootFB.Height) + vm.PageSize - 1) &^ (vm.PageSize - 1)
	return lo, hi
}

// KernelCensus counts the kernel page tables' leaves in [va, va+n) by
// size, attribute and rights, and returns the pmap's counters.
func KernelCensus(va, n uintptr) (vm.Count, vm.PmapStats) {
	r := pmapReq{op: pmapCensus, va: va, n: n}
	pmapCall(&r)
	return r.count, r.stats
}

// KernelLookup returns the kernel mapping of va.
func KernelLookup(va uintptr) (vm.Mapping, bool) {
	r := pmapReq{op: pmapLookup, va: va}
	if pmapCall(&r) != nil {
		return vm.Mapping{}, false
	}
	return vm.Mapping{PA: r.pa, Size: r.n, Prot: r.prot, Attr: r.attr}, true
}
