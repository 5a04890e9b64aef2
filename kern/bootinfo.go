package kern

import (
	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/boot/multiboot"
	"github.com/smpgo/smpgo/vm"
)

// Boot information from the loader, multiboot 1 (QEMU -kernel) or
// multiboot2 (GRUB, BIOS or UEFI). Everything is copied into these
// variables (c) in kern.Boot, before the page pool can reuse the loader's
// memory.
var (
	bootProto     int // 1 or 2: the multiboot version that loaded us
	bootLoader    [64]byte
	bootLoaderLen int
	memDropped    int    // available ranges beyond len(memRegions)
	memAbove4G    uint64 // bytes of available memory above 4 GiB
	efiDescs      int    // EFI memory descriptors given (multiboot2 on UEFI)
	efiSystab     uint64 // EFI system table (multiboot2 on UEFI), 0 if none

	// The RSDP as the loader copied it (multiboot2 ACPI tags): UEFI
	// machines have none in the BIOS area.
	bootRSDP    [36]byte
	bootRSDPLen int

	bootFB    multiboot.Framebuffer
	bootHasFB bool

	// acpiProblem says why the ACPI tables gave no CPUs to start ("" if
	// they did): the kernel then runs on the bootstrap CPU alone.
	acpiProblem string
)

// BootInfo describes how the kernel was loaded, for the shell and tests.
type BootInfo struct {
	Multiboot      int    // 1 or 2
	Loader         string // boot loader name (multiboot2), "" if not given
	RSDPFromLoader bool   // the RSDP came from a multiboot2 ACPI tag
	EFI            bool   // loaded by GRUB on UEFI (EFI system table given)
	EFIDescriptors int
	Framebuffer    multiboot.Framebuffer
	HasFramebuffer bool
	MemoryMiB      uint64 // available memory in the map
	Above4GMiB     uint64 // of which above 4 GiB
	DroppedRanges  int    // available ranges beyond the kernel's table
}

// GetBootInfo returns how the kernel was loaded.
func GetBootInfo() BootInfo {
	return BootInfo{
		Multiboot:      bootProto,
		Loader:         string(bootLoader[:bootLoaderLen]),
		RSDPFromLoader: bootRSDPLen > 0,
		EFI:            efiSystab != 0,
		EFIDescriptors: efiDescs,
		Framebuffer:    bootFB,
		HasFramebuffer: bootHasFB,
		MemoryMiB:      memTotal >> 20,
		Above4GMiB:     memAbove4G >> 20,
		DroppedRanges:  memDropped,
	}
}

// addBootRange records an available physical range, merging it with the
// previous one when they touch (EFI maps list many adjacent ranges).
func addBootRange(a, b uint64) {
	if b <= a {
		return
	}
	memTotal += b - a
	if b > 1<<32 {
		memAbove4G += b - max(a, 1<<32)
	}
	if n := nMemRegions; n > 0 && uint64(memRegions[n-1][1]) == a {
		memRegions[n-1][1] = uintptr(b)
		return
	}
	if nMemRegions == len(memRegions) {
		memDropped++
		return
	}
	memRegions[nMemRegions] = [2]uintptr{uintptr(a), uintptr(b)}
	nMemRegions++
}

// parseMultiboot2 copies what the kernel needs out of the multiboot2
// information (boot/multiboot): command line, memory map (the EFI one
// when there is no other), ACPI RSDP, framebuffer.
func parseMultiboot2(b []byte) {
	in, err := multiboot.Parse(b)
	if err != nil {
		var l kline
		l.s("smpgo: ").s(err.Error()).nl().print()
		Panic("kern.Boot: unreadable multiboot2 information")
	}
	bootProto = 2
	// GRUB's multiboot2 command line holds the arguments only; argv[0]
	// is the kernel's name, as with multiboot 1.
	bootCmdLen = copy(bootCmdline[:len(bootCmdline)-1], "smpgo ")
	bootCmdLen += copy(bootCmdline[bootCmdLen:len(bootCmdline)-1], in.Cmdline)
	bootLoaderLen = copy(bootLoader[:], in.LoaderName)
	efiSystab = in.EFI64SystemTable
	efiDescs = in.EFIMemoryCount()
	switch {
	case in.HasMemoryMap():
		for i := range in.MemoryCount() {
			if r := in.Memory(i); r.Type == multiboot.MemoryAvailable {
				addBootRange(r.Base, r.Base+r.Length)
			}
		}
	case in.HasEFIMemoryMap():
		for i := range in.EFIMemoryCount() {
			if d := in.EFIMemory(i); d.Usable() {
				addBootRange(d.PhysStart, d.PhysStart+d.NumPages*multiboot.EfiPageSize)
			}
		}
	default:
		Panic("kern.Boot: boot loader gave no memory map")
	}
	for i := range in.ModuleCount() {
		m := in.Module(i)
		addBootModule(uintptr(m.Start), uintptr(m.End), func(j int) byte {
			if j < len(m.String) {
				return m.String[j]
			}
			return 0
		})
	}
	if r := in.RSDP(); len(r) >= 20 {
		bootRSDPLen = copy(bootRSDP[:], r)
	}
	bootFB, bootHasFB = in.Framebuffer, in.HasFramebuffer
}

// printBootInfo reports what the loader gave, after the banner line.
func printBootInfo() {
	var l kline
	l.s("smpgo: multiboot").d(int64(bootProto))
	if bootLoaderLen > 0 {
		l.s(" from ").b(bootLoader[:bootLoaderLen])
	}
	if efiSystab != 0 {
		l.s(", UEFI (").d(int64(efiDescs)).s(" EFI memory descriptors)")
	}
	l.s(", memory ").u(memTotal >> 20).s(" MiB")
	if bootHasFB {
		l.s(", framebuffer ").u(uint64(bootFB.Width)).s("x").u(uint64(bootFB.Height))
		switch bootFB.Type {
		case multiboot.FramebufferEGAText:
			l.s(" EGA text")
		case multiboot.FramebufferRGB:
			l.s("x").u(uint64(bootFB.BPP)).s(" RGB")
		default:
			l.s("x").u(uint64(bootFB.BPP)).s(" indexed")
		}
		l.s(" at ").x(bootFB.Addr)
	}
	if nBootMods > 0 {
		var size uint64
		for i := range nBootMods {
			size += uint64(bootMods[i].end - bootMods[i].start)
		}
		l.s(", ").d(int64(nBootMods)).s(" module(s) of ").u(size >> 10).s(" KiB")
	}
	l.nl().print()
	if bootModsExtra > 0 {
		l.s("smpgo: ").d(int64(bootModsExtra)).s(" boot modules beyond the kernel's table of ").d(maxBootMods).s(" ignored").nl().print()
	}
	if memDropped > 0 {
		l.s("smpgo: memory map: ").d(int64(memDropped)).s(" available ranges beyond the kernel's table of ").d(int64(len(memRegions))).s(" ignored").nl().print()
	}
}

// reportLAPIC says where the local APIC is and in which mode, and makes
// its page uncached when it is outside the usual device window.
func reportLAPIC() {
	base := apic.Base()
	var l kline
	if base >= 1<<32 {
		l.s("smpgo: LAPIC at ").x(uint64(base)).nl().print()
		Panic("kern.initInterrupts: LAPIC above the 4 GiB identity map")
	}
	if base < deviceWindow {
		if _, err := vm.MapMMIO(base, vm.PageSize, vm.UC); err != nil {
			bootPmapFailed("mapping the LAPIC", base, err)
		}
	}
	l.s("smpgo: LAPIC at ").x(uint64(base))
	if madtLAPIC != 0 && madtLAPIC != uint64(base) {
		l.s(" (the MADT says ").x(madtLAPIC).s(")")
	}
	l.s(", xAPIC mode")
	if apic.LeftX2APIC {
		l.s(" (firmware left x2APIC mode on)")
	}
	if apic.HasX2APIC() {
		l.s(", x2APIC supported")
	} else {
		l.s(", no x2APIC")
	}
	l.s(", ").d(int64(madtIOAPICs)).s(" IOAPIC(s) in the MADT").nl().print()
}

// parseMultiboot copies the command line and memory map of a multiboot 1
// loader (Multiboot Specification 0.6.96 §3.3; the loader's buffers are
// ordinary free memory afterwards).
func parseMultiboot(info uintptr) {
	bootProto = 1
	flags := amd64.Load32(info)
	if flags&mbFlagCmdline != 0 {
		p := uintptr(amd64.Load32(info + 16))
		for bootCmdLen < len(bootCmdline)-1 {
			b := amd64.Load8(p + uintptr(bootCmdLen))
			if b == 0 {
				break
			}
			bootCmdline[bootCmdLen] = b
			bootCmdLen++
		}
	}
	if flags&mbFlagLoaderName != 0 {
		p := uintptr(amd64.Load32(info + 64))
		for bootLoaderLen < len(bootLoader) {
			b := amd64.Load8(p + uintptr(bootLoaderLen))
			if b == 0 {
				break
			}
			bootLoader[bootLoaderLen] = b
			bootLoaderLen++
		}
	}
	if flags&mbFlagMmap == 0 {
		Panic("kern.Boot: boot loader gave no memory map")
	}
	length := uintptr(amd64.Load32(info + 44))
	base := uintptr(amd64.Load32(info + 48))
	for p := base; p < base+length; {
		size := uintptr(amd64.Load32(p))
		addr := amd64.Load64(p + 4)
		n := amd64.Load64(p + 12)
		typ := amd64.Load32(p + 20)
		if typ == mmapAvailable {
			addBootRange(addr, addr+n)
		}
		p += size + 4
	}
}
