package kern

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/arch/amd64/acpi"
	"github.com/smpgo/smpgo/vm"
)

// CPU and NUMA topology, in goroutine context: package/core/thread from
// the APIC ID split by CPUID leaf 0xB (Intel SDM vol. 3A §8.9.4), NUMA
// domains and distances from the ACPI SRAT and SLIT (package acpi).

// CPUTopo describes one online CPU.
type CPUTopo struct {
	CPU, APICID, Package, Core, Thread, Domain int
}

// Topology is the machine's CPU and memory layout.
type Topology struct {
	CPUs      []CPUTopo
	Domains   int
	Memory    [][]acpi.MemoryRange // by domain
	Distance  func(i, j int) int
	Tables    *acpi.Tables
	LoadError error
}

var (
	topoOnce sync.Once
	topo     Topology
)

// PhysMemory reads physical memory through the kernel's identity map
// (below 4 GiB, page 0 excepted): the acpi package's view of memory.
type PhysMemory struct{}

// ReadPhys implements acpi.Memory.
func (PhysMemory) ReadPhys(addr uint64, p []byte) error {
	if addr+uint64(len(p)) > 1<<32 || addr+uint64(len(p)) < addr {
		return fmt.Errorf("kern: physical %#x+%d outside the identity map", addr, len(p))
	}
	for off := 0; off < len(p); {
		a := uintptr(addr) + uintptr(off)
		if _, ok := vm.Lookup(a); !ok {
			return fmt.Errorf("kern: physical %#x not mapped", a)
		}
		n := min(len(p)-off, int(vm.PageSize-a%vm.PageSize))
		for i := 0; i < n; i++ {
			p[off+i] = amd64.Load8(a + uintptr(i))
		}
		off += n
	}
	return nil
}

// loadACPI parses the tables found by the early scan.
func loadACPI() (*acpi.Tables, error) {
	if rsdpAddr == 0 {
		return nil, errors.New("kern: no ACPI RSDP")
	}
	b := make([]byte, 36)
	if err := (PhysMemory{}).ReadPhys(uint64(rsdpAddr), b); err != nil {
		return nil, err
	}
	r, err := acpi.ParseRSDP(b)
	if err != nil {
		return nil, err
	}
	r.Address = uint64(rsdpAddr)
	return acpi.Load(PhysMemory{}, r)
}

// GetTopology returns the topology (computed once).
func GetTopology() *Topology {
	topoOnce.Do(func() {
		tabs, err := loadACPI()
		topo.Tables, topo.LoadError = tabs, err
		domainOf := map[int]int{}
		topo.Domains = 1
		topo.Distance = func(i, j int) int {
			if i == j {
				return 10
			}
			return 20
		}
		if err == nil {
			for _, c := range tabs.CPUs() {
				domainOf[int(c.ApicID)] = int(c.Domain)
			}
			if n := tabs.NumDomains(); n > 0 {
				topo.Domains = n
				topo.Memory = tabs.MemoryDomains()
				topo.Distance = tabs.Distance
			}
		}
		smtShift, coreShift := topologyShifts()
		for i := 0; i < NumCPU(); i++ {
			id := int(cpus[i].apicID)
			topo.CPUs = append(topo.CPUs, CPUTopo{
				CPU: i, APICID: id,
				Package: id >> coreShift,
				Core:    (id >> smtShift) & (1<<(coreShift-smtShift) - 1),
				Thread:  id & (1<<smtShift - 1),
				Domain:  domainOf[id],
			})
		}
	})
	return &topo
}

// topologyShifts returns the APIC-ID bit shifts of the core and package
// fields (CPUID leaf 0xB; else leaf 1's logical processor count).
func topologyShifts() (smt, core uint) {
	if max, _, _, _ := amd64.Cpuid(0, 0); max >= 0xb {
		smt, core = 0, 0
		for sub := uint32(0); sub < 8; sub++ {
			eax, ebx, ecx, _ := amd64.Cpuid(0xb, sub)
			if ebx&0xffff == 0 {
				break
			}
			switch (ecx >> 8) & 0xff {
			case 1: // SMT
				smt = uint(eax & 0x1f)
			case 2: // core
				core = uint(eax & 0x1f)
			}
		}
		if core >= smt && core > 0 {
			return smt, core
		}
	}
	_, ebx, _, _ := amd64.Cpuid(1, 0)
	n := (ebx >> 16) & 0xff
	core = 0
	for 1<<core < n {
		core++
	}
	return 0, core
}

// WriteTopology prints the topology for the shell's cpus and numa commands.
func WriteTopology(w io.Writer) {
	t := GetTopology()
	fmt.Fprintf(w, "%d CPU(s) in %d NUMA domain(s)\n", len(t.CPUs), t.Domains)
	fmt.Fprintln(w, "cpu apic package core thread domain")
	for _, c := range t.CPUs {
		fmt.Fprintf(w, "%3d %4d %7d %4d %6d %6d\n", c.CPU, c.APICID, c.Package, c.Core, c.Thread, c.Domain)
	}
	if t.LoadError != nil {
		fmt.Fprintf(w, "ACPI: %v\n", t.LoadError)
	}
}

// WriteNUMA prints the NUMA domains: memory ranges and SLIT distances.
func WriteNUMA(w io.Writer) {
	t := GetTopology()
	for d := 0; d < t.Domains; d++ {
		var mib uint64
		if d < len(t.Memory) {
			for _, r := range t.Memory[d] {
				mib += r.Length >> 20
			}
		}
		fmt.Fprintf(w, "domain %d: %d MiB, distances", d, mib)
		for e := 0; e < t.Domains; e++ {
			fmt.Fprintf(w, " %d", t.Distance(d, e))
		}
		fmt.Fprintln(w)
	}
}

// DumpACPI prints every ACPI table as "ACPIDUMP NAME HEX" lines (the
// acpi package's testdata format, decoded by tools/acpidump.sh).
func DumpACPI(w io.Writer) error {
	t := GetTopology()
	if t.LoadError != nil {
		return t.LoadError
	}
	files, err := acpi.DumpFiles(PhysMemory{}, t.Tables)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "ACPIDUMP %s %s\n", n, hex.EncodeToString(files[n]))
	}
	return nil
}
