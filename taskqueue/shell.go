package taskqueue

import (
	"fmt"
	"io"

	"github.com/smpgo/smpgo/kern"
)

func init() {
	kern.RegisterShow("taskq", "task queues: threads, queued and running tasks, enqueues, coalesced, runs, drains", cmdShow)
}

func cmdShow(w io.Writer, _ []string) {
	qs := Queues()
	if len(qs) == 0 {
		fmt.Fprintln(w, "no task queues")
		return
	}
	fmt.Fprintf(w, "%-16s %7s %4s %6s %7s %9s %9s %9s %7s %7s %6s\n",
		"queue", "threads", "cpu", "queued", "running", "enqueues", "coalesced", "runs", "cancels", "drainw", "maxq")
	for _, q := range qs {
		s := q.Stats()
		cpu := "any"
		if s.CPU >= 0 {
			cpu = fmt.Sprint(s.CPU)
		}
		fmt.Fprintf(w, "%-16s %7d %4s %6d %7d %9d %9d %9d %7d %7d %6d\n", s.Name, s.Threads, cpu,
			s.Queued, s.Running, s.Enqueues, s.Coalesced, s.Runs, s.Cancels, s.DrainWaits, s.MaxQueue)
	}
}
