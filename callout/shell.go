package callout

import (
	"fmt"
	"io"

	"github.com/smpgo/smpgo/kern"
)

func init() {
	kern.RegisterShow("callout", "per-CPU callout wheels: pending, fired, stops, lateness, softclock runs", cmdShow)
}

func cmdShow(w io.Writer, _ []string) {
	fmt.Fprintf(w, "tick %d (%d Hz), wheel of %d buckets per CPU\n", kern.Ticks(), kern.HZ, wheelSize)
	fmt.Fprintf(w, "%-11s %7s %8s %9s %9s %7s %7s %6s %6s %8s %9s %8s\n",
		"cpu", "pending", "next-in", "resets", "fired", "stops", "cancels", "drainw", "migr", "runs", "late-sum", "late-max")
	for _, s := range CPUStats() {
		next := "-"
		if s.NextDue >= 0 {
			next = fmt.Sprint(s.NextDue)
		}
		fmt.Fprintf(w, "%-11s %7d %8s %9d %9d %7d %7d %6d %6d %8d %9d %8d\n",
			fmt.Sprintf("softclock%d", s.CPU), s.Pending, next, s.Resets, s.Fired, s.Stops, s.Cancels,
			s.DrainWaits, s.Migrations, s.Runs, s.LateTicks, s.MaxLate)
	}
}
