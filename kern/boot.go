package kern

import (
	"unsafe"

	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/boot/multiboot"
	"github.com/smpgo/smpgo/kern/spin"
	"github.com/smpgo/smpgo/vm"
)

// Multiboot 1 (Multiboot Specification 0.6.96 §3.3).
const (
	mbFlagCmdline    = 1 << 2
	mbFlagMmap       = 1 << 6
	mbFlagLoaderName = 1 << 9
	mmapAvailable    = 1
	kernelLoadAddr   = 0xffe000 // image header page (boot/image), ELF headers, then -T 0x1000000
	lowReserved      = 2 << 20  // real-mode area, BIOS, boot page tables (boot.early*)
	mainStackSize    = 256 << 10
)

// Boot-time state (c): copied out of the boot loader's memory first thing.
var (
	bootCmdline [4096]byte
	bootCmdLen  int
	memRegions  [32][2]uintptr
	nMemRegions int
	memTotal    uint64

	auxRandom [16]byte
)

// Cmdline returns the kernel command line as the boot loader gave it.
func Cmdline() string { return string(bootCmdline[:bootCmdLen]) }

// Boot brings up the bootstrap processor and starts the Go runtime on the
// first thread. Called by boot.start64 on the early stack, in long mode,
// interrupts off, with the boot magic and information address, and for
// multiboot2 the information itself (copied by the entry code; nil if it
// was too large to copy). It never returns.
func Boot(magic, info uintptr, mb2 []byte, stackLo, stackHi uintptr) {
	conInit()
	conWrite([]byte("smpgo: booting\n"))
	if ownerSites == ownerSitesUnset || ownerSites == 0 {
		Panic("kern.Boot: the image's kern.Owner loads were not rewritten (build it with boot/image: smpgo build)")
	}
	switch magic {
	case multiboot.BootMagic1:
		parseMultiboot(info)
		parseMultiboot1Mods(info)
	case multiboot.BootMagic2:
		if mb2 == nil {
			Panic("kern.Boot: multiboot2 information larger than the entry's 64 KiB copy")
		}
		parseMultiboot2(mb2)
	default:
		Panic("kern.Boot: not started by a multiboot loader")
	}
	screenInit()
	printBootInfo()

	initIDT()
	initCPU(0)
	ncpu = 1
	schedInit()
	if _, _, ecx, _ := amd64.Cpuid(1, 0); ecx&(1<<30) != 0 {
		hasRDRAND = true
	}
	rngState ^= amd64.Rdtsc()

	acpiProblem = scanMADT() // before page 0 (the BIOS data area) is unmapped
	if acpiProblem != "" {
		var l kline
		l.s("smpgo: ACPI: ").s(acpiProblem).s(": running on the bootstrap CPU only").nl().print()
	}
	scanNUMA()
	initMemory()
	initInterrupts()
	vm.Shootdown = tlbShootdown
	spin.OnSpin = servicePending
	if acpiProblem == "" {
		startAPs()
	}
	apsStarted()
	assignCPUDomains()

	// CPU 0's idle thread, then the runtime's first thread.
	lockSched()
	idle := newIdleThreadLocked(0)
	m0 := allocThreadLocked(false)
	unlockSched()
	cpus[0].idleIdx = int32(threadIndex(idle))
	cpus[0].curIdx = cpus[0].idleIdx
	m0.Frame.RIP = uint64(rt0Addr())
	m0.Frame.RSP = uint64(buildInitialStack())
	m0.Frame.CS, m0.Frame.SS = 0x08, 0x10
	m0.Frame.RFLAGS = 0x202
	lockSched()
	switchLocked(&cpus[0], m0)
	unlockSched()
	m0.startNs = nanotime()

	var l kline
	l.s("smpgo: ").d(int64(ncpu)).s(" CPU(s), ").u(memTotal >> 20).s(" MiB, ").u(vm.FreePageCountEarly() * 4).s(" KiB free, tsc ").u(tscHz / 1000000).s(" MHz, starting runtime")
	screenStatus(l.buf[:l.n]) // the banner stays on the screen's top line
	l.nl().print()
	startTick()
	resumeFirst()
}

func resumeFirst()
func idleLoopAddr() uintptr
func rt0Addr() uintptr
func kernelEnd() uintptr

// initMemory gives the page allocators every available page except the
// low 2 MiB and the kernel image, split by NUMA domain: vm maps the RAM
// above 4 GiB into the identity map (with the boot page tables, taken
// over as the kernel pmap first) and carves each allocator's metadata
// from the memory itself. Then the kernel pmap's protections (pmap.go:
// W^X image, guard pages, page 0 unmapped, device window uncached).
func initMemory() {
	kend := (kernelEnd() + vm.PageSize - 1) &^ (vm.PageSize - 1)
	for i := 0; i < nMemRegions; i++ {
		a, b := memRegions[i][0], memRegions[i][1]
		if a < lowReserved {
			a = lowReserved
		}
		if a < kend && b > kernelLoadAddr { // split around the kernel
			if a < kernelLoadAddr {
				addMemoryAround(a, kernelLoadAddr)
			}
			a = kend
		}
		if a < b {
			addMemoryAround(a, b)
		}
	}
	vm.CPUID = thisCPU
	vm.Fatal = Panic
	_, _, _, edx := amd64.Cpuid(0x80000001, 0)
	vm.BootTablesEnd = lowReserved
	vm.InitKernelPmap(edx&(1<<26) != 0)
	pages := vm.InitPhys()
	var l kline
	l.s("smpgo: physical memory: ").u(pages >> 8).s(" MiB managed, ").u(vm.Boot.HighBytes >> 20).s(" MiB above 4 GiB, ").
		d(int64(vm.Boot.Segments)).s(" segment(s), metadata ").u(vm.Boot.MetaBytes >> 10).s(" KiB")
	if vm.Boot.DroppedBytes > 0 {
		l.s(", ").u(vm.Boot.DroppedBytes >> 10).s(" KiB not used (above 512 GiB or too many ranges)")
	}
	l.nl().print()
	initKernelPmap()
}

// initInterrupts masks the legacy 8259 PICs (after moving them off the
// exception vectors), enables this CPU's LAPIC and calibrates the clocks.
func initInterrupts() {
	amd64.Outb(0x20, 0x11)
	amd64.Outb(0xa0, 0x11)
	amd64.Outb(0x21, 0x20)
	amd64.Outb(0xa1, 0x28)
	amd64.Outb(0x21, 4)
	amd64.Outb(0xa1, 2)
	amd64.Outb(0x21, 1)
	amd64.Outb(0xa1, 1)
	amd64.Outb(0x21, 0xff)
	amd64.Outb(0xa1, 0xff)
	apic.Init(vecSpurious)
	cpus[0].apicID = apic.ID()
	reportLAPIC()
	calibrate()
}

func newIdleThreadLocked(cpu int) *Thread {
	t := allocThreadLocked(true)
	t.idle = true
	t.tid = int32(-1 - cpu)
	t.Frame.RIP = uint64(idleLoopAddr())
	_, hi := stackBounds(stackIdle, cpu)
	t.Frame.RSP = uint64(hi)
	t.Frame.CS, t.Frame.SS = 0x08, 0x10
	t.Frame.RFLAGS = 0x002 // idleLoop sets IF itself
	t.state = tRunning
	t.cpu = int32(cpu)
	return t
}

// buildInitialStack lays out what the Linux kernel gives a new process at
// its entry point: argc, argv[], NULL, envp[], NULL, auxv pairs, AT_NULL,
// then the strings; it returns the stack pointer.
func buildInitialStack() uintptr {
	_, top := stackBounds(stackMain, 0)
	var argv, envp [64][2]int
	na, ne := SplitCmdline(bootCmdline[:bootCmdLen], argv[:], envp[:])
	// Strings at the top; NUL-terminate words in place in a copy.
	strs := top - uintptr(bootCmdLen) - 1
	strs &^= 15
	amd64.Memmove(strs, uintptr(unsafe.Pointer(&bootCmdline)), uintptr(bootCmdLen))
	for _, w := range argv[:na] {
		amd64.Store8(strs+uintptr(w[1]), 0)
	}
	for _, w := range envp[:ne] {
		amd64.Store8(strs+uintptr(w[1]), 0)
	}
	for i := range auxRandom {
		auxRandom[i] = byte(random64())
	}
	platform := strs - 16
	amd64.Memmove(platform, stringAddr("x86_64\x00"), 7)

	_, _, _, edx := amd64.Cpuid(1, 0)
	// AT_SYSINFO_EHDR: the vDSO, unless vdso=off (AT_IGNORE then).
	sysinfoTag, sysinfo := uint64(33), uint64(vdsoSetup(!vdsoOffWord(bootCmdline[:bootCmdLen], argv[:na])))
	if sysinfo == 0 {
		sysinfoTag = 1
	}
	aux := [...]uint64{
		sysinfoTag, sysinfo, // AT_SYSINFO_EHDR
		6, vm.PageSize, // AT_PAGESZ
		25, uint64(uintptr(unsafe.Pointer(&auxRandom))), // AT_RANDOM
		16, uint64(edx), // AT_HWCAP
		17, HZ, // AT_CLKTCK
		15, uint64(platform), // AT_PLATFORM
		23, 0, // AT_SECURE
		0, 0, // AT_NULL
	}
	words := 1 + na + 1 + ne + 1 + len(aux)
	sp := (platform - uintptr(words)*8) &^ 15
	p := sp
	put := func(v uint64) { amd64.Store64(p, v); p += 8 }
	put(uint64(na))
	for _, w := range argv[:na] {
		put(uint64(strs + uintptr(w[0])))
	}
	put(0)
	for _, w := range envp[:ne] {
		put(uint64(strs + uintptr(w[0])))
	}
	put(0)
	for _, v := range aux {
		put(v)
	}
	return sp
}

func stringAddr(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }
