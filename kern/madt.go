package kern

import (
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
)

// Early MADT scan (ACPI 6.x §5.2.5 RSDP, §5.2.7/8 RSDT/XSDT, §5.2.12 MADT),
// done before the Go runtime starts and without allocation: it only
// collects the local APIC IDs of the enabled CPUs, which the runtime must
// know before it reads the CPU count. The full parse (topology, NUMA,
// IOAPICs) happens later in goroutine context with package acpi.

var (
	madtAPICIDs [MaxCPU]uint32
	madtCPUs    int
	madtExtra   int    // CPUs beyond MaxCPU, ignored
	madtLAPIC   uint64 // local APIC address (§5.2.12, or the type 5 override)
	madtIOAPICs int
	rsdpAddr    uintptr
)

func sumBytes(a, n uintptr) uint8 {
	var s uint8
	for i := uintptr(0); i < n; i++ {
		s += amd64.Load8(a + i)
	}
	return s
}

// findRSDP scans the first KiB of the EBDA and the BIOS area.
func findRSDP() uintptr {
	ebda := uintptr(amd64.Load8(0x40e)) | uintptr(amd64.Load8(0x40f))<<8
	ranges := [2][2]uintptr{{ebda << 4, ebda<<4 + 1024}, {0xe0000, 0x100000}}
	for _, r := range ranges {
		if r[0] == 0 {
			continue
		}
		for a := r[0]; a+20 <= r[1]; a += 16 {
			if amd64.Load64(a) == 0x2052545020445352 && sumBytes(a, 20) == 0 { // "RSD PTR "
				return a
			}
		}
	}
	return 0
}

// scanMADT fills madtAPICIDs and madtLAPIC. It returns "" or why the
// tables give no CPUs to start, in words for the console: the kernel then
// runs on the bootstrap CPU alone. The RSDP is the boot loader's copy
// (multiboot2 ACPI tags: UEFI machines have none in the BIOS area), else
// found by scanning the BIOS area. Tables must lie in the 4 GiB identity
// map.
func scanMADT() string {
	if bootRSDPLen > 0 {
		rsdpAddr = uintptr(unsafe.Pointer(&bootRSDP))
	} else {
		rsdpAddr = findRSDP()
	}
	if rsdpAddr == 0 {
		return "no RSDP from the boot loader or in the BIOS area"
	}
	if sumBytes(rsdpAddr, 20) != 0 {
		rsdpAddr = 0
		return "RSDP checksum is wrong"
	}
	rev := amd64.Load8(rsdpAddr + 15)
	root := uintptr(amd64.Load32(rsdpAddr + 16))
	entry := uintptr(4)
	if x := uintptr(amd64.Load64(rsdpAddr + 24)); rev >= 2 && x != 0 && x < 1<<32 && sumBytes(rsdpAddr, 36) == 0 {
		root, entry = x, 8
	}
	if root == 0 || root >= 1<<32 {
		return "RSDP gives no RSDT or XSDT below 4 GiB"
	}
	rootLen := uintptr(amd64.Load32(root + 4))
	if sig := amd64.Load32(root); (sig != 0x54445352 && sig != 0x54445358) || rootLen < 36 || rootLen > 1<<20 || sumBytes(root, rootLen) != 0 { // "RSDT", "XSDT"
		return "RSDT/XSDT has a wrong signature, length or checksum"
	}
	why := "no MADT (APIC table) in the RSDT/XSDT"
	n := (rootLen - 36) / entry
	for i := uintptr(0); i < n; i++ {
		var t uintptr
		if entry == 8 {
			t = uintptr(amd64.Load64(root + 36 + i*8))
		} else {
			t = uintptr(amd64.Load32(root + 36 + i*4))
		}
		if t == 0 || t >= 1<<32 || amd64.Load32(t) != 0x43495041 { // "APIC"
			continue
		}
		length := uintptr(amd64.Load32(t + 4))
		if length < 44 || length > 1<<20 || sumBytes(t, length) != 0 {
			why = "MADT has a wrong length or checksum"
			continue
		}
		madtLAPIC = uint64(amd64.Load32(t + 36))
		for p := t + 44; p+2 <= t+length; {
			typ, l := amd64.Load8(p), uintptr(amd64.Load8(p+1))
			if l < 2 || p+l > t+length {
				break
			}
			switch {
			case typ == 0 && l >= 8 && amd64.Load32(p+4)&1 != 0: // Processor Local APIC
				addCPU(uint32(amd64.Load8(p + 3)))
			case typ == 9 && l >= 16 && amd64.Load32(p+8)&1 != 0: // Processor Local x2APIC
				addCPU(amd64.Load32(p + 4))
			case typ == 5 && l >= 12: // Local APIC Address Override
				madtLAPIC = amd64.Load64(p + 4)
			case typ == 1 && l >= 12: // I/O APIC
				madtIOAPICs++
			}
			p += l
		}
		if madtCPUs == 0 {
			return "MADT lists no enabled CPU"
		}
		return ""
	}
	return why
}

func addCPU(id uint32) {
	for i := 0; i < madtCPUs; i++ {
		if madtAPICIDs[i] == id {
			return
		}
	}
	if madtCPUs == MaxCPU {
		madtExtra++
		return
	}
	madtAPICIDs[madtCPUs] = id
	madtCPUs++
}
