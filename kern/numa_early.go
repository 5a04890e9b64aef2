package kern

import (
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Early SRAT and SLIT scan (ACPI 6.x §5.2.16 System Resource Affinity
// Table, §5.2.17 System Locality Distance Information Table), before the
// Go runtime starts and without allocation, like scanMADT: the physical
// page allocators are built per NUMA domain before the runtime's first
// mmap, and the page-fault path needs each CPU's domain. The full parse
// (package acpi, kern.GetTopology) happens later in goroutine context;
// the VM self-tests check the two agree.

const maxSRATRanges = 64

var (
	sratMem   [maxSRATRanges]struct{ domain, base, end uintptr }
	nSRATMem  int
	sratCPU   [2 * MaxCPU]struct{ apicID, domain uint32 }
	nSRATCPU  int
	slitAddr  uintptr
	slitN     int
	cpuDomain [MaxCPU]int32 // (c) after assignCPUDomains
)

// findTable returns the address of the first table with signature sig
// (little-endian) and a valid checksum, or 0.
func findTable(sig uint32) uintptr {
	if rsdpAddr == 0 {
		return 0
	}
	rev := amd64.Load8(rsdpAddr + 15)
	root := uintptr(amd64.Load32(rsdpAddr + 16))
	entry := uintptr(4)
	if x := uintptr(amd64.Load64(rsdpAddr + 24)); rev >= 2 && x != 0 && x < 1<<32 {
		root, entry = x, 8
	}
	if root == 0 || root >= 1<<32 {
		return 0
	}
	n := (uintptr(amd64.Load32(root+4)) - 36) / entry
	for i := uintptr(0); i < n; i++ {
		var t uintptr
		if entry == 8 {
			t = uintptr(amd64.Load64(root + 36 + i*8))
		} else {
			t = uintptr(amd64.Load32(root + 36 + i*4))
		}
		if t == 0 || t >= 1<<32 || amd64.Load32(t) != sig {
			continue
		}
		if sumBytes(t, uintptr(amd64.Load32(t+4))) == 0 {
			return t
		}
	}
	return 0
}

// scanNUMA reads the SRAT's enabled memory and processor affinity
// structures and the SLIT. Without an SRAT everything is domain 0.
func scanNUMA() {
	if t := findTable(0x54415253); t != 0 { // "SRAT"
		length := uintptr(amd64.Load32(t + 4))
		for p := t + 48; p+2 <= t+length; {
			typ, l := amd64.Load8(p), uintptr(amd64.Load8(p+1))
			if l < 2 || p+l > t+length {
				break
			}
			switch {
			case typ == 0 && l >= 16 && amd64.Load32(p+4)&1 != 0: // Processor Local APIC/SAPIC Affinity
				d := uint32(amd64.Load8(p+2)) | uint32(amd64.Load8(p+9))<<8 | uint32(amd64.Load8(p+10))<<16 | uint32(amd64.Load8(p+11))<<24
				addSRATCPU(uint32(amd64.Load8(p+3)), d)
			case typ == 2 && l >= 24 && amd64.Load32(p+12)&1 != 0: // Processor Local x2APIC Affinity
				addSRATCPU(amd64.Load32(p+8), amd64.Load32(p+4))
			case typ == 1 && l >= 40 && amd64.Load32(p+28)&1 != 0 && nSRATMem < maxSRATRanges: // Memory Affinity
				base, n := uintptr(amd64.Load64(p+8)), uintptr(amd64.Load64(p+16))
				if n != 0 {
					sratMem[nSRATMem].domain = uintptr(amd64.Load32(p + 2))
					sratMem[nSRATMem].base, sratMem[nSRATMem].end = base, base+n
					nSRATMem++
				}
			}
			p += l
		}
	}
	if t := findTable(0x54494c53); t != 0 { // "SLIT"
		n := amd64.Load64(t + 36)
		if n > 0 && n <= vm.MaxDomains && uintptr(amd64.Load32(t+4)) >= 44+uintptr(n*n) {
			slitAddr, slitN = t+44, int(n)
		}
	}
	dist := func(i, j int) int { return int(amd64.Load8(slitAddr + uintptr(i*slitN+j))) }
	if slitN == 0 {
		dist = func(i, j int) int {
			if i == j {
				return 10
			}
			return 20
		}
	}
	n := slitN
	for i := 0; i < nSRATMem; i++ {
		n = max(n, int(sratMem[i].domain)+1)
	}
	vm.SetDistances(n, dist)
}

func addSRATCPU(apicID, domain uint32) {
	if nSRATCPU < len(sratCPU) {
		sratCPU[nSRATCPU].apicID, sratCPU[nSRATCPU].domain = apicID, domain
		nSRATCPU++
	}
}

// addMemory gives [a, b) to the page allocators, split by SRAT range;
// memory no SRAT range claims goes to domain 0.
func addMemory(a, b uintptr, held bool) {
	for a < b {
		d, end := uintptr(0), b
		for i := 0; i < nSRATMem; i++ {
			r := &sratMem[i]
			if a >= r.base && a < r.end {
				d, end = r.domain, min(b, r.end)
				break
			}
			if r.base > a && r.base < end {
				end = r.base
			}
		}
		add := vm.AddMemory
		if held {
			add = vm.AddHeld // a boot module's pages (bootmod.go)
		}
		if !add(int(d), a, end) {
			add(0, a, end) // a domain beyond vm.MaxDomains
		}
		a = end
	}
}

// assignCPUDomains records each online CPU's domain (after startAPs) and
// installs the page allocator's first-touch hook.
func assignCPUDomains() {
	for c := 0; c < ncpu; c++ {
		cpuDomain[c] = 0
		for i := 0; i < nSRATCPU; i++ {
			if sratCPU[i].apicID == cpus[c].apicID && int(sratCPU[i].domain) < vm.NumDomains() {
				cpuDomain[c] = int32(sratCPU[i].domain)
				break
			}
		}
	}
	vm.CPUDomain = curCPUDomain
}

// curCPUDomain is vm.CPUDomain: trap-safe (one GS-relative load).
func curCPUDomain() int { return int(cpuDomain[thisCPU()]) }

// CPUDomain returns the NUMA domain of CPU cpu as the page allocator sees it.
func CPUDomain(cpu int) int {
	if cpu < 0 || cpu >= ncpu {
		return 0
	}
	return int(cpuDomain[cpu])
}
