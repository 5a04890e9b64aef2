package lock

import (
	"fmt"
	"io"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// Debug shell views (DDB's show locks / show witness, the
// debug.witness.badstacks sysctl, lock_profiling's debug.lock.prof.stats).
func init() {
	kern.RegisterShow("locks", "locks held, per goroutine, as witness knows them", func(w io.Writer, _ []string) {
		if s := witness.ShowAllLocks(); s != "" {
			fmt.Fprint(w, s)
			return
		}
		fmt.Fprintf(w, "no locks held (witness %s)\n", witness.CurrentMode())
	})
	kern.RegisterShow("witness", "the lock order graph witness learned and was given", func(w io.Writer, _ []string) {
		fmt.Fprint(w, witness.ShowGraph())
	})
	kern.RegisterShow("badstacks", "lock order reversals with both stacks", func(w io.Writer, _ []string) {
		fmt.Fprint(w, witness.ShowBadStacks())
	})
	kern.RegisterShow("lockstat", "lock profile per class [on|off|reset]", showLockstat)
}

func showLockstat(w io.Writer, args []string) {
	if len(args) > 0 {
		switch args[0] {
		case "on":
			SetProfiling(true)
		case "off":
			SetProfiling(false)
		case "reset":
			ResetStats()
		default:
			fmt.Fprintln(w, "usage: show lockstat [on|off|reset]")
			return
		}
	}
	WriteLockstat(w)
}

// WriteLockstat prints the lock profile of every class with acquisitions.
func WriteLockstat(w io.Writer) {
	state := "off"
	if Profiling() {
		state = "on"
	}
	fmt.Fprintf(w, "lock profiling %s (show lockstat on|off|reset); times: total/max\n", state)
	fmt.Fprintf(w, "%-28s %-11s %10s %8s %7s %17s %17s %17s\n", "class", "kind", "acquired", "contend", "blocked", "spin", "wait", "hold")
	d := func(total, mx uint64) string {
		return fmt.Sprintf("%v/%v", time.Duration(total).Round(time.Microsecond), time.Duration(mx).Round(time.Microsecond))
	}
	for _, s := range Stats() {
		if s.Acquired == 0 && s.Contended == 0 {
			continue
		}
		fmt.Fprintf(w, "%-28.28s %-11s %10d %8d %7d %17s %17s %17s\n", s.Name, s.Kind, s.Acquired, s.Contended, s.Blocked,
			d(s.SpinTotal, s.SpinMax), d(s.WaitTotal, s.WaitMax), d(s.HoldTotal, s.HoldMax))
	}
}
