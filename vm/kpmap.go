package vm

import "github.com/smpgo/smpgo/arch/amd64"

// The kernel's pmap: the one page-table tree (CR3) seen through the
// identity map, its tables from the page allocator. The kernel maps
// device registers with it (identity addresses, uncached), write-protects
// its image, unmaps stack guard pages and keeps [KVABase, KVATop) for
// mappings at addresses of its choosing (aliases, self-tests).
//
// Callers run with interrupts off: boot code before the runtime, or trap
// context (goroutine code goes through the kernel's private system call,
// kern.MapKernel and friends, so that nothing under the lock can grow a
// goroutine stack or take a demand fault). Operations are serialised with
// the runtime's address space by vm's lock: both change the same tree.

// The kernel's own window, between the identity map's PML4 entry and the
// runtime's space.
const (
	KVABase = 1 << 39
	KVATop  = SpaceBase
)

type identityMem struct{}

func (identityMem) Load(pa uintptr) uint64     { return amd64.Load64(pa) }
func (identityMem) Store(pa uintptr, v uint64) { amd64.Store64(pa, v) }
func (identityMem) AllocTable() (uintptr, bool) {
	var pa uintptr
	var ok bool
	if physReady {
		pa, ok = allocPage(UseTables)
	} else {
		pa, ok = earlyPage() // mapping RAM above 4 GiB at boot (phys.go)
	}
	if ok {
		amd64.ZeroPage(pa)
	}
	return pa, ok
}

// FreeTable returns a table to the allocator; the boot code's tables
// (below BootTablesEnd) and those taken before the allocators existed
// (earlyPage) are not the allocator's and are only dropped.
func (identityMem) FreeTable(pa uintptr) {
	if pa < BootTablesEnd || isEarlyPage(pa) {
		BootTablesDropped++
		return
	}
	freePage(pa, UseTables)
}

var (
	kpmap = Pmap{Mem: identityMem{}, Flush: kflush}

	// BootTablesEnd bounds the boot code's page tables, set by the kernel
	// before the first operation (c).
	BootTablesEnd uintptr
	// BootTablesDropped counts boot tables a merge took out (guarded by lock).
	BootTablesDropped uint64
)

// kflush makes every CPU drop the old entries: the kernel's shootdown
// (which reloads this CPU's CR3 too), or a CR3 reload before SMP.
func kflush() {
	if Shootdown != nil {
		Shootdown()
		return
	}
	amd64.WriteCR3(amd64.ReadCR3())
}

// InitKernelPmap takes the boot page tables over (BSP, at boot, before
// InitPhys, which maps the RAM above 4 GiB with it). huge1G allows 1 GiB
// leaves (CPUID Page1GB).
func InitKernelPmap(huge1G bool) {
	kpmap.Root = root()
	kpmap.Huge1G = huge1G
}

//go:nosplit
func lockPmap() uint64 {
	f := amd64.Flags()
	amd64.Cli()
	lockSpace()
	return f
}

//go:nosplit
func unlockPmap(f uint64) {
	lock.Release()
	if f&amd64.IF != 0 {
		amd64.Sti()
	}
}

// KernelMap maps [va, va+n) to pa (see Pmap.Map). Trap context or boot.
func KernelMap(va, pa, n uintptr, prot Prot, attr Attr) error {
	f := lockPmap()
	defer unlockPmap(f)
	return kpmap.Map(va, pa, n, prot, attr)
}

// KernelUnmap unmaps [va, va+n) (see Pmap.Unmap). Trap context or boot.
func KernelUnmap(va, n uintptr) error {
	f := lockPmap()
	defer unlockPmap(f)
	return kpmap.Unmap(va, n)
}

// KernelProtect sets the rights of [va, va+n). Trap context or boot.
func KernelProtect(va, n uintptr, prot Prot) error {
	f := lockPmap()
	defer unlockPmap(f)
	return kpmap.Protect(va, n, prot)
}

// KernelSetAttr sets the caching attribute of [va, va+n). Trap context or boot.
func KernelSetAttr(va, n uintptr, attr Attr) error {
	f := lockPmap()
	defer unlockPmap(f)
	return kpmap.SetAttr(va, n, attr)
}

// KernelLookup returns the mapping of va.
func KernelLookup(va uintptr) (Mapping, bool) {
	f := lockPmap()
	defer unlockPmap(f)
	return kpmap.Lookup(va)
}

// KernelCensus counts the leaves of [va, va+n) into c and returns the
// operations' statistics.
func KernelCensus(va, n uintptr, c *Count) PmapStats {
	f := lockPmap()
	defer unlockPmap(f)
	kpmap.Census(va, n, c)
	return kpmap.Stats
}

// MapMMIO makes the device registers at [pa, pa+n) reachable at their
// identity address with attr (UC for registers, WC for a framebuffer),
// read-write, not executable; the range is widened to whole pages. Below
// 4 GiB this replaces the boot identity map's entries with the same
// frames; above (BARs placed high, up to the identity PML4 entry's
// 512 GiB) it maps them. Trap context or boot.
func MapMMIO(pa, n uintptr, attr Attr) (uintptr, error) {
	a := pa &^ (PageSize - 1)
	b := pageUp(pa + n)
	if a == 0 || b < a || b > KVABase {
		return 0, ErrCanonical
	}
	f := lockPmap()
	defer unlockPmap(f)
	return pa, kpmap.Map(a, a, b-a, ProtWrite, attr)
}
