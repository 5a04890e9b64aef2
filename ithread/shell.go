package ithread

import (
	"fmt"
	"io"
	"time"

	"github.com/smpgo/smpgo/kern"
)

func init() {
	kern.RegisterCommand("intr", "interrupt events: source, CPU/vector, counts per CPU, storms, latency; spurious and stray per CPU", cmdIntr)
}

func cmdIntr(w io.Writer, _ []string) {
	evs := Events()
	fmt.Fprintf(w, "%-16s %-32s %4s %4s %10s %8s %6s %8s %10s %10s\n",
		"event", "source", "cpu", "vec", "count", "stray", "storms", "wakeups", "lat-avg", "lat-max")
	for _, ev := range evs {
		s := ev.Stats()
		fmt.Fprintf(w, "%-16s %-32s %4d %#4x %10d %8d %6d %8d %10v %10v\n", s.Name, s.Source, s.CPU, s.Vector,
			s.Count, s.Stray, s.Storms, s.Wakeups, time.Duration(s.Latency), time.Duration(s.LatencyHi))
		fmt.Fprintf(w, "  per CPU:")
		for i, n := range s.PerCPU {
			fmt.Fprintf(w, " %d:%d", i, n)
		}
		fmt.Fprintln(w)
		for _, h := range s.Handlers {
			kind := "Giant"
			if h.MPSAFE {
				kind = "MPSAFE"
			}
			fmt.Fprintf(w, "  handler %-20s %-6s filter=%d thread=%d\n", h.Name, kind, h.Filter, h.Runs)
		}
	}
	if len(evs) == 0 {
		fmt.Fprintln(w, "no interrupt events")
	}
	if ss := SWIs(); len(ss) > 0 {
		fmt.Fprintf(w, "%-20s %4s %-6s %10s %10s %10s\n", "swi", "cpu", "kind", "scheduled", "wakeups", "runs")
		for _, s := range ss {
			st := s.Stats()
			kind := "Giant"
			if st.MPSAFE {
				kind = "MPSAFE"
			}
			fmt.Fprintf(w, "%-20s %4d %-6s %10d %10d %10d\n", st.Name, st.CPU, kind, st.Scheds, st.Wakes, st.Runs)
		}
	}
	intrs, bytes, rescued, irq := kern.ConsoleRxStats()
	fmt.Fprintf(w, "com1 receive: interrupt %v, %d interrupts, %d bytes, %d bytes found by the safety poll\n", irq, intrs, bytes, rescued)
	fmt.Fprintf(w, "demand faults in trap context: %d\n", kern.KernelDemandFaults())
	fmt.Fprintf(w, "%4s %10s %8s %8s\n", "cpu", "device", "stray", "spurious")
	for i := 0; i < kern.NumCPU(); i++ {
		c := kern.IntrCountsOf(i)
		fmt.Fprintf(w, "%4d %10d %8d %8d\n", i, c.Device, c.Stray, c.Spurious)
	}
}
