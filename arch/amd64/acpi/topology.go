package acpi

import "sort"

// CPU is one usable processor: an enabled Processor Local APIC or
// Processor Local x2APIC structure of the MADT, with its NUMA domain.
type CPU struct {
	ApicID       uint32 // local APIC ID (x2APIC ID for X2Apic)
	ProcessorUID uint32 // ACPI Processor UID
	Domain       uint32 // SRAT proximity domain; 0 without an SRAT entry
	X2Apic       bool   // from a Processor Local x2APIC Structure
}

// CPUs returns the enabled processors in MADT order (by §5.2.12.1 the
// boot processor comes first). Structures with Enabled clear (absent, or
// only Online Capable for hot-add) are left out, as is a second structure
// for an APIC ID already listed. Domain comes from the first enabled SRAT
// processor affinity structure for the APIC ID, else 0. Nil without a
// MADT.
func (t *Tables) CPUs() []CPU {
	if t.MADT == nil {
		return nil
	}
	var cpus []CPU
	seen := make(map[uint32]bool)
	add := func(c CPU) {
		if seen[c.ApicID] {
			return
		}
		seen[c.ApicID] = true
		if t.SRAT != nil {
			c.Domain, _ = t.SRAT.ProcessorDomain(c.ApicID)
		}
		cpus = append(cpus, c)
	}
	for _, e := range t.MADT.Entries {
		switch e := e.(type) {
		case LocalApic:
			if e.Enabled() {
				add(CPU{ApicID: uint32(e.ApicID), ProcessorUID: uint32(e.ProcessorUID)})
			}
		case LocalX2Apic:
			if e.Enabled() {
				add(CPU{ApicID: e.X2ApicID, ProcessorUID: e.ProcessorUID, X2Apic: true})
			}
		}
	}
	return cpus
}

// MemoryRange is physical memory [Base, Base+Length) with affinity to
// Domain, from an SRAT Memory Affinity Structure.
type MemoryRange struct {
	Domain       uint32
	Base, Length uint64
	HotPluggable bool
	NonVolatile  bool
}

// MemoryDomains returns the SRAT's enabled, non-empty memory ranges
// indexed by domain (len NumDomains()), each domain's sorted by base.
// The ranges state affinity, not presence: a hot-pluggable range may be
// empty today, and every range must be intersected with the boot
// memory map. Nil without an SRAT.
func (t *Tables) MemoryDomains() [][]MemoryRange {
	if t.SRAT == nil {
		return nil
	}
	out := make([][]MemoryRange, t.NumDomains())
	for _, a := range t.SRAT.MemoryAffinities {
		if !a.Enabled() || a.Length == 0 {
			continue
		}
		out[a.ProximityDomain] = append(out[a.ProximityDomain], MemoryRange{
			Domain:       a.ProximityDomain,
			Base:         a.BaseAddress,
			Length:       a.Length,
			HotPluggable: a.HotPluggable(),
			NonVolatile:  a.NonVolatile(),
		})
	}
	for _, rs := range out {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Base < rs[j].Base })
	}
	return out
}

// NumDomains returns how many NUMA domains there are: one more than the
// highest proximity domain an enabled SRAT structure names, or the
// SLIT's Number of System Localities if that is larger; 1 without
// either. Domains are the firmware's proximity domain numbers, not
// renumbered, so firmware that numbers sparsely leaves empty domains
// (QEMU and common firmware number them densely from 0).
func (t *Tables) NumDomains() int {
	n := 1
	if t.SRAT != nil {
		use := func(d uint32) { n = max(n, int(d)+1) }
		for _, a := range t.SRAT.ProcessorLocalApicAffinities {
			if a.Enabled() {
				use(a.ProximityDomain)
			}
		}
		for _, a := range t.SRAT.MemoryAffinities {
			if a.Enabled() && a.Length != 0 {
				use(a.ProximityDomain)
			}
		}
		for _, a := range t.SRAT.ProcessorLocalX2ApicAffinities {
			if a.Enabled() {
				use(a.ProximityDomain)
			}
		}
	}
	if t.SLIT != nil {
		n = max(n, t.SLIT.NumberOfSystemLocalities)
	}
	return n
}

// Distance returns the distance between domains i and j: the SLIT's
// entry when it has one, else SLIT_LOCAL for i == j and
// DefaultRemoteDistance otherwise; -1 for a negative index.
func (t *Tables) Distance(i, j int) int {
	if i < 0 || j < 0 {
		return -1
	}
	if t.SLIT != nil {
		if d := t.SLIT.Distance(i, j); d >= 0 {
			return d
		}
	}
	if i == j {
		return SLIT_LOCAL
	}
	return DefaultRemoteDistance
}
