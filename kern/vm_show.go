package kern

import (
	"fmt"
	"io"

	"github.com/smpgo/smpgo/vm"
)

// Shell views of physical memory: "mem" prints the summary, "show vm"
// adds each domain's ranges, buddy free-block counts by order, the
// fallback traffic and a free-list consistency check.

// WritePhysMem prints the per-domain page figures (detail: ranges,
// free blocks by order and a consistency check too).
func WritePhysMem(w io.Writer, detail bool) {
	st := vm.Stats(detail)
	var total, free uint64
	for _, s := range st {
		total += s.Buddy.Total
		free += s.Buddy.Free
	}
	fmt.Fprintf(w, "physical: %d MiB in %d domain(s), %d MiB free\n", total>>8, len(st), free>>8)
	fmt.Fprintln(w, "dom   total-MiB  free-MiB   kernel  runtime   tables     allocs      frees  foreign  failed")
	for _, s := range st {
		fmt.Fprintf(w, "%3d %11d %9d %8d %8d %8d %10d %10d %8d %7d\n", s.Domain, s.Buddy.Total>>8, s.Buddy.Free>>8,
			s.Kernel, s.Runtime, s.Tables, s.Allocs, s.Frees, s.Foreign, s.Failed)
	}
	if !detail {
		return
	}
	for _, s := range st {
		fmt.Fprintf(w, "domain %d:", s.Domain)
		for _, r := range s.Ranges {
			fmt.Fprintf(w, " [%#x-%#x)", r[0], r[1])
		}
		for _, sg := range s.Segments {
			fmt.Fprintf(w, "\n  segment [%#x-%#x): %d MiB, %d MiB free, metadata %d KiB at %#x",
				sg.Lo, sg.Hi, sg.Total>>8, sg.Free>>8, sg.MetaPages*4, sg.Meta)
		}
		fmt.Fprintf(w, "\n  free blocks by order (4 KiB << k):")
		for k, n := range s.Buddy.Blocks {
			fmt.Fprintf(w, " %d:%d", k, n)
		}
		check := "free lists consistent"
		if s.Consistent != "" {
			check = "INCONSISTENT: " + s.Consistent
		}
		fmt.Fprintf(w, "\n  %s; distances:", check)
		for j := 0; j < vm.NumDomains(); j++ {
			fmt.Fprintf(w, " %d", vm.Distance(s.Domain, j))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "allocations that found every allowed domain empty: %d\n", vm.LowPages.Load())
	b := vm.Boot
	fmt.Fprintf(w, "boot: %d MiB above 4 GiB mapped, %d KiB of metadata, %d early table page(s), %d KiB not used; lock-order reversals %d\n",
		b.HighBytes>>20, b.MetaBytes>>10, b.EarlyTables, b.DroppedBytes>>10, vm.OrderReversals.Load())
}

func init() {
	RegisterShow("vm", "physical memory per NUMA domain: pages by use, buddy free lists, fallbacks", func(w io.Writer, _ []string) {
		WritePhysMem(w, true)
		res, n := vm.Reserved()
		fmt.Fprintf(w, "reserved by the runtime: %d MiB in %d ranges; demand-zero faults: %d\n", res>>20, n, demandFaults)
	})
}
