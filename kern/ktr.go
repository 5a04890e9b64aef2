package kern

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// KTR: the kernel's trace buffer (FreeBSD's ktr(4)). Each CPU has a ring
// of fixed-size, pointer-free entries (timestamp, CPU, thread, format id,
// four arguments) that trap context and goroutine context both append to
// without locks: a writer reserves a slot with an atomic add on the ring's
// index and publishes the entry by storing its sequence number last, so a
// reader (the shell, the panic dump) skips a slot being rewritten. Formats
// are registered once, in goroutine context (KTRFormat), and named by a
// small id in entries; the arguments are uint64s for %d/%x verbs.
//
// Event classes are switched by a mask (KTRSetMask; all on by default):
// KTRLock (lock contention: turnstile and sleep-queue blocks and
// wake-ups, from the lock package), KTRSched (thread switches, blocks,
// wake-ups) and KTRIntr (interrupts and IPIs other than the tick). A
// disabled class costs one atomic load at the trace point.

// KTR event classes.
const (
	KTRLock  = 1 << iota // lock contention
	KTRSched             // scheduler
	KTRIntr              // interrupts
	KTRAll   = KTRLock | KTRSched | KTRIntr
)

const (
	ktrEntries    = 512 // per CPU, a power of two
	ktrMaxFormats = 4096
)

type ktrEntry struct {
	seq  atomic.Uint64 // index+1 once complete, 0 while written
	ts   int64
	tid  int32
	fmt  uint32
	cpu  uint32
	args [4]uint64
}

type ktrRing struct {
	next atomic.Uint64
	ent  [ktrEntries]ktrEntry
}

var (
	ktrMask  atomic.Uint32
	ktrRings [MaxCPU]ktrRing

	ktrFmtMu   sync.Mutex
	ktrFormats [ktrMaxFormats]string // (ktrFmtMu) written once per id
	ktrNFmt    atomic.Uint32         // ids below it are published
	ktrFmtIDs  = map[string]uint32{} // (ktrFmtMu)
)

// Formats of the kernel's own events, registered at init.
var ktrSwitch, ktrBlock, ktrWake, ktrIntr uint32

func init() {
	ktrMask.Store(KTRAll)
	ktrSwitch = KTRFormat("sched: switch tid %d -> tid %d")
	ktrBlock = KTRFormat("sched: tid %d blocks (wait %d, key %#x)")
	ktrWake = KTRFormat("sched: wake tid %d (result %d)")
	ktrIntr = KTRFormat("intr: vector %#x")
}

// KTRFormat registers a trace format and returns its id (the same id for
// the same format). Goroutine context.
func KTRFormat(format string) uint32 {
	ktrFmtMu.Lock()
	defer ktrFmtMu.Unlock()
	if id, ok := ktrFmtIDs[format]; ok {
		return id
	}
	n := ktrNFmt.Load()
	if n >= ktrMaxFormats {
		return 0 // id 0 prints as the first format's text: harmless
	}
	ktrFormats[n] = format
	ktrFmtIDs[format] = n
	ktrNFmt.Store(n + 1)
	return n
}

// KTRSetMask selects the traced event classes; it returns the old mask.
func KTRSetMask(m uint32) uint32 { return ktrMask.Swap(m) }

// KTREnabled reports whether class c is traced.
func KTREnabled(c uint32) bool { return ktrMask.Load()&c != 0 }

// KTR records an event of class c with format id and arguments, on the
// calling CPU's ring (goroutine context: the goroutine may move meanwhile;
// the entry then carries the CPU it was reserved on).
func KTR(c uint32, id uint32, a0, a1, a2, a3 uint64) {
	if ktrMask.Load()&c == 0 {
		return
	}
	ktrWrite(thisCPU(), int32(curThread().tid), id, a0, a1, a2, a3)
}

// ktrTrap records an event from trap context.
func ktrTrap(c *CPU, t *Thread, class, id uint32, a0, a1, a2 uint64) {
	if ktrMask.Load()&class == 0 {
		return
	}
	ktrWrite(int(c.id), t.tid, id, a0, a1, a2, 0)
}

func ktrWrite(cpu int, tid int32, id uint32, a0, a1, a2, a3 uint64) {
	r := &ktrRings[cpu]
	i := r.next.Add(1) - 1
	e := &r.ent[i%ktrEntries]
	e.seq.Store(0)
	e.ts = nanotime()
	e.tid = tid
	e.fmt = id
	e.cpu = uint32(cpu)
	e.args = [4]uint64{a0, a1, a2, a3}
	e.seq.Store(i + 1)
}

// KTREvent is one trace entry, formatted.
type KTREvent struct {
	Time time.Duration // since boot
	CPU  int
	Tid  int32
	Text string
}

// KTREvents returns up to n of the most recent events of every CPU,
// oldest first.
func KTREvents(n int) []KTREvent {
	var out []KTREvent
	nf := ktrNFmt.Load()
	for c := 0; c < ncpu; c++ {
		r := &ktrRings[c]
		end := r.next.Load()
		start := uint64(0)
		if end > ktrEntries {
			start = end - ktrEntries
		}
		for i := start; i < end; i++ {
			e := &r.ent[i%ktrEntries]
			if e.seq.Load() != i+1 {
				continue // being rewritten
			}
			ev := KTREvent{Time: time.Duration(e.ts), CPU: int(e.cpu), Tid: e.tid}
			id, args := e.fmt, e.args
			if e.seq.Load() != i+1 {
				continue
			}
			if id < nf {
				ev.Text = ktrSprintf(ktrFormats[id], args)
			}
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// ktrSprintf formats with as many arguments as the format has verbs.
func ktrSprintf(format string, args [4]uint64) string {
	n := strings.Count(format, "%") - 2*strings.Count(format, "%%")
	a := make([]any, 0, 4)
	for i := 0; i < n && i < 4; i++ {
		a = append(a, args[i])
	}
	return fmt.Sprintf(format, a...)
}

// WriteKTR prints the n most recent events.
func WriteKTR(w io.Writer, n int) {
	fmt.Fprintf(w, "ktr: mask %#x (lock %#x, sched %#x, intr %#x), %d entries per CPU\n", ktrMask.Load(), KTRLock, KTRSched, KTRIntr, ktrEntries)
	for _, e := range KTREvents(n) {
		fmt.Fprintf(w, "%14.6f cpu%-2d tid %-4d %s\n", e.Time.Seconds(), e.CPU, e.Tid, e.Text)
	}
}

// dumpKTR prints the last n entries of every CPU's ring from trap context
// (the panic report): raw, without formatting (no allocation), each with
// its format text and arguments in hex.
func dumpKTR(n int) {
	var l kline
	l.s("KTR (last ").d(int64(n)).s(" events per CPU)").nl()
	conWrite(l.buf[:l.n])
	nf := ktrNFmt.Load()
	for c := 0; c < ncpu; c++ {
		r := &ktrRings[c]
		end := r.next.Load()
		start := uint64(0)
		if end > uint64(n) {
			start = end - uint64(n)
		}
		for i := start; i < end; i++ {
			e := &r.ent[i%ktrEntries]
			if e.seq.Load() != i+1 {
				continue
			}
			l.n = 0
			l.s("ktr t=").d(e.ts).s(" cpu=").u(uint64(e.cpu)).s(" tid=").d(int64(e.tid)).s(" ")
			if e.fmt < nf {
				l.s(ktrFormats[e.fmt])
			}
			for k := 0; k < 4; k++ {
				l.s(" ").x(e.args[k])
			}
			l.nl()
			conWrite(l.buf[:l.n])
		}
	}
	conWrite([]byte("END KTR\n"))
}

func init() {
	RegisterShow("ktr", "trace buffer: show ktr [N] [mask lock|sched|intr|all|none]", func(w io.Writer, args []string) {
		n := 60
		for i := 0; i < len(args); i++ {
			if args[i] == "mask" && i+1 < len(args) {
				m := map[string]uint32{"lock": KTRLock, "sched": KTRSched, "intr": KTRIntr, "all": KTRAll, "none": 0}
				v, ok := m[args[i+1]]
				if !ok {
					fmt.Fprintln(w, "usage: show ktr [N] [mask lock|sched|intr|all|none]")
					return
				}
				KTRSetMask(v)
				i++
				continue
			}
			if _, err := fmt.Sscan(args[i], &n); err != nil || n <= 0 {
				fmt.Fprintln(w, "usage: show ktr [N] [mask lock|sched|intr|all|none]")
				return
			}
		}
		WriteKTR(w, n)
	})
}
