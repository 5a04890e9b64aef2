package kern

import (
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Boot modules: files the loader put in memory beside the kernel
// (multiboot 1: QEMU's -initrd "a.tar,b.tar"; multiboot2: GRUB's module2
// lines). Their pages are RAM the memory map calls available, so the
// kernel holds them back from the page allocators (vm.AddHeld: no early
// page table or allocator metadata is carved from them either) until the
// module's consumer (fs/kfs unpacks a tar archive into the file system)
// is done and gives them back with ReleaseBootModule.

const mbFlagMods = 1 << 3 // multiboot 1 flags: mods_count, mods_addr valid

// maxBootMods bounds the modules kept (more are reported and ignored).
const maxBootMods = 8

// bootMods are the modules, copied out of the loader's information at
// boot (c).
var (
	bootMods [maxBootMods]struct {
		start, end uintptr
		str        [128]byte
		strLen     int
		held       bool // its pages were held back from the allocators
	}
	nBootMods     int
	bootModsExtra int // modules beyond maxBootMods, ignored
)

// addBootModule records a module [start, end) and its string (trap
// context, boot).
func addBootModule(start, end uintptr, str func(i int) byte) {
	if nBootMods == maxBootMods {
		bootModsExtra++
		return
	}
	m := &bootMods[nBootMods]
	nBootMods++
	m.start, m.end = start, max(end, start)
	for m.strLen < len(m.str) {
		c := str(m.strLen)
		if c == 0 {
			break
		}
		m.str[m.strLen] = c
		m.strLen++
	}
}

// parseMultiboot1Mods reads multiboot 1's module list (Multiboot
// Specification 0.6.96 §3.3: mods_count at +20, mods_addr at +24, 16-byte
// entries of mod_start, mod_end, string, reserved).
func parseMultiboot1Mods(info uintptr) {
	if amd64.Load32(info)&mbFlagMods == 0 {
		return
	}
	n := uintptr(amd64.Load32(info + 20))
	base := uintptr(amd64.Load32(info + 24))
	for i := uintptr(0); i < n; i++ {
		e := base + 16*i
		str := uintptr(amd64.Load32(e + 8))
		addBootModule(uintptr(amd64.Load32(e)), uintptr(amd64.Load32(e+4)), func(j int) byte {
			if str == 0 {
				return 0
			}
			return amd64.Load8(str + uintptr(j))
		})
	}
}

// addMemoryAround gives [a, b) to the page allocators, holding back the
// pages of every boot module in it (whole pages around each module).
func addMemoryAround(a, b uintptr) {
	for a < b {
		// The lowest module that overlaps [a, b).
		lo, hi := b, b
		for i := range nBootMods {
			m := &bootMods[i]
			ms, me := m.start&^(vm.PageSize-1), (m.end+vm.PageSize-1)&^(vm.PageSize-1)
			if ms < b && me > a && ms < lo {
				lo, hi = max(ms, a), min(me, b)
			}
		}
		if lo > a {
			addMemory(a, lo, false)
		}
		if hi > lo {
			addMemory(lo, hi, true)
			for i := range nBootMods {
				if m := &bootMods[i]; m.start < hi && m.end > lo {
					m.held = true
				}
			}
		}
		a = hi
	}
}

// BootModule is a module the loader gave.
type BootModule struct {
	Start, End uintptr // physical range [Start, End)
	String     string  // its command line (QEMU: the file name)
	Held       bool    // its pages are held from the allocators until released
}

// Size returns the module's length in bytes.
func (m BootModule) Size() int { return int(m.End - m.Start) }

// BootModules returns the modules the loader gave, in its order.
func BootModules() []BootModule {
	out := make([]BootModule, nBootMods)
	for i := range out {
		m := &bootMods[i]
		out[i] = BootModule{Start: m.start, End: m.end, String: string(m.str[:m.strLen]), Held: m.held}
	}
	return out
}

// Bytes returns the module's contents (identity-mapped memory): valid
// until ReleaseBootModule gives its pages away. Nil for a module the
// kernel did not hold (in memory it does not manage, such as the low
// 2 MiB or above 4 GiB), whose pages may be in use.
func (m BootModule) Bytes() []byte {
	if !m.Held || m.End <= m.Start {
		return nil
	}
	return unsafe.Slice((*byte)(userPtr(m.Start)), m.End-m.Start)
}

// ReleaseBootModule gives a held module's pages to the page allocators
// (once) and returns how many bytes became free memory.
func ReleaseBootModule(m BootModule) (uintptr, error) {
	return vm.ReleaseHeld(m.Start)
}
