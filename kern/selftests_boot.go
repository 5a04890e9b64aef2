package kern

import (
	"fmt"
	"io"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/boot/multiboot"
	"github.com/smpgo/smpgo/vm"
)

// Self-tests of what the boot loader handed over (multiboot 1 from QEMU's
// -kernel, multiboot2 from GRUB on BIOS or UEFI) and of memory above
// 4 GiB; the shell's "show boot" view prints the same facts.
func init() {
	RegisterTest(Test{Name: "Boot/Info", Fn: testBootInfo})
	RegisterTest(Test{Name: "Boot/HighMemory", Fn: testHighMemory})
	RegisterShow("boot", "how the kernel was loaded: protocol, loader, memory, ACPI, framebuffer", showBoot)
}

func testBootInfo(t *T) {
	bi := GetBootInfo()
	if bi.Multiboot != 1 && bi.Multiboot != 2 {
		t.Fatalf("multiboot protocol %d", bi.Multiboot)
	}
	if nMemRegions == 0 || bi.MemoryMiB == 0 {
		t.Errorf("empty memory map: %d ranges, %d MiB", nMemRegions, bi.MemoryMiB)
	}
	if bi.Multiboot == 2 {
		if bi.Loader == "" {
			t.Errorf("multiboot2 without a boot loader name")
		}
		if !bi.RSDPFromLoader {
			t.Errorf("multiboot2 loader gave no ACPI RSDP tag")
		}
	}
	if bi.RSDPFromLoader {
		if rsdpAddr != uintptr(unsafe.Pointer(&bootRSDP)) {
			t.Errorf("the RSDP in use is at %#x, not the loader's copy", rsdpAddr)
		}
		if string(bootRSDP[:8]) != "RSD PTR " {
			t.Errorf("loader's RSDP copy has signature %q", bootRSDP[:8])
		}
	}
	if bi.EFI && !bi.RSDPFromLoader {
		t.Errorf("UEFI boot without the loader's RSDP: no ACPI")
	}
	// The RSDP, wherever it came from, leads to the MADT that started
	// every CPU; without usable tables the kernel runs on one CPU.
	topo := GetTopology()
	switch {
	case acpiProblem != "":
		if NumCPU() != 1 {
			t.Errorf("ACPI: %s, yet %d CPUs online", acpiProblem, NumCPU())
		}
		t.Logf("ACPI: %s: 1 CPU (topology: %v)", acpiProblem, topo.LoadError)
	case topo.LoadError != nil:
		t.Errorf("ACPI: %v", topo.LoadError)
	default:
		if n := len(topo.Tables.CPUs()); n != NumCPU() {
			t.Errorf("MADT lists %d enabled CPUs, %d online", n, NumCPU())
		}
	}
	if bi.HasFramebuffer {
		fb := bi.Framebuffer
		if fb.Width == 0 || fb.Height == 0 || fb.Pitch == 0 {
			t.Errorf("framebuffer %+v has no size", fb)
		}
		if fb.Type == multiboot.FramebufferEGAText && fb.Addr != 0xb8000 {
			t.Errorf("EGA text framebuffer at %#x", fb.Addr)
		}
	}
	t.Logf("multiboot%d loader %q, %d MiB (%d above 4 GiB), EFI %v, RSDP from loader %v, framebuffer %v",
		bi.Multiboot, bi.Loader, bi.MemoryMiB, bi.Above4GMiB, bi.EFI, bi.RSDPFromLoader, bi.HasFramebuffer)
}

// testHighMemory checks the memory above 4 GiB: the memory map's ranges
// there add up to what the kernel reported, all of it (below vm.MaxPhys)
// is managed by the page allocators, and every high range is in the
// identity map, writable and not executable, at its first and last page
// (read through the map: the pages exist).
func testHighMemory(t *T) {
	bi := GetBootInfo()
	var above, usable uint64
	for _, r := range memRegions[:nMemRegions] {
		if r[1] > 1<<32 {
			above += uint64(r[1] - max(r[0], 1<<32))
			if lo, hi := max(r[0], 1<<32), min(r[1], vm.MaxPhys); hi > lo {
				usable += uint64(hi&^(vm.PageSize-1) - (lo+vm.PageSize-1)&^(vm.PageSize-1))
			}
		}
	}
	if above>>20 != bi.Above4GMiB {
		t.Errorf("memory map has %d MiB above 4 GiB, the kernel reported %d", above>>20, bi.Above4GMiB)
	}
	if vm.Boot.HighBytes != usable {
		t.Errorf("%d bytes of RAM above 4 GiB (below %#x) in the map, %d mapped and managed", usable, uintptr(vm.MaxPhys), vm.Boot.HighBytes)
	}
	var managed uint64
	for _, d := range vm.Stats(false) {
		for _, r := range d.Ranges {
			if r[1] > vm.MaxPhys {
				t.Errorf("domain %d manages %#x-%#x, beyond the identity map", d.Domain, r[0], r[1])
			}
			if r[0] < vm.DMA32 && r[1] > vm.DMA32 {
				t.Errorf("domain %d range %#x-%#x straddles 4 GiB", d.Domain, r[0], r[1])
			}
			if r[0] < vm.DMA32 {
				continue
			}
			managed += uint64(r[1] - r[0])
			for _, va := range []uintptr{r[0], r[1] - vm.PageSize} {
				m, ok := KernelLookup(va)
				if !ok || m.PA != va || m.Prot != vm.ProtWrite || m.Attr != vm.WB {
					t.Errorf("high page %#x: mapping %+v (ok %v), want identity rw- WB", va, m, ok)
					continue
				}
				_ = amd64.Load64(va) // faults (a kernel panic) if not really mapped
			}
		}
		for _, sg := range d.Segments {
			if (sg.Lo < vm.DMA32) != (sg.Hi <= vm.DMA32) {
				t.Errorf("domain %d segment [%#x, %#x) straddles 4 GiB", d.Domain, sg.Lo, sg.Hi)
			}
			if sg.Meta < sg.Lo || sg.Meta >= sg.Hi {
				t.Errorf("domain %d segment [%#x, %#x): metadata at %#x, not in its own memory", d.Domain, sg.Lo, sg.Hi, sg.Meta)
			}
		}
	}
	// Managed high memory is the mapped memory less the metadata carved
	// from it.
	if managed > vm.Boot.HighBytes || (usable > 0 && managed == 0) {
		t.Errorf("%d bytes above 4 GiB in the domains' ranges, %d mapped", managed, vm.Boot.HighBytes)
	}
	if vm.FreePageCount() == 0 {
		t.Errorf("no free pages")
	}
	t.Logf("%d MiB above 4 GiB, %d MiB managed there; %d segment(s), %d KiB of metadata, %d early table page(s)",
		bi.Above4GMiB, managed>>20, vm.Boot.Segments, vm.Boot.MetaBytes>>10, vm.Boot.EarlyTables)
}

func showBoot(w io.Writer, _ []string) {
	bi := GetBootInfo()
	fmt.Fprintf(w, "multiboot%d, loader %q, UEFI %v (%d EFI memory descriptors)\n", bi.Multiboot, bi.Loader, bi.EFI, bi.EFIDescriptors)
	fmt.Fprintf(w, "memory %d MiB in %d range(s), %d MiB above 4 GiB, %d range(s) dropped\n",
		bi.MemoryMiB, nMemRegions, bi.Above4GMiB, bi.DroppedRanges)
	src := "BIOS area scan"
	if bi.RSDPFromLoader {
		src = "boot loader's ACPI tag"
	}
	fmt.Fprintf(w, "ACPI RSDP from the %s\n", src)
	if acpiProblem != "" {
		fmt.Fprintf(w, "ACPI: %s: 1 CPU\n", acpiProblem)
	}
	if bi.HasFramebuffer {
		fb := bi.Framebuffer
		fmt.Fprintf(w, "framebuffer type %d %dx%d bpp %d pitch %d at %#x\n", fb.Type, fb.Width, fb.Height, fb.BPP, fb.Pitch, fb.Addr)
	} else {
		fmt.Fprintln(w, "no framebuffer")
	}
	fmt.Fprintf(w, "command line %q\n", Cmdline())
}
