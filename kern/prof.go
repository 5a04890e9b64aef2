package kern

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Statistical profiler (kgmon's idea, at the scheduler tick): while it is
// on, every CPU's tick records the program counter of the thread it
// interrupted into that CPU's ring; a report counts the samples by Go
// function. The tick runs HZ times a second, so a second of work on one
// CPU is about HZ samples. What runs with interrupts off (trap handlers,
// spin-lock sections, the system calls' kernel side) is not sampled: its
// time shows at the instruction where interrupts came back on. Ticks the
// emulator loses under load are lost samples, evenly, not a skew.
//
// Used by the shell (`prof start|stop|show`) and by the benchmarks
// (bench.prof=N prints each benchmark's top N functions).

const profPerCPU = 4096 // samples kept per CPU and session (16 s at HZ)

// profIdle is the sample of a tick that found the CPU idle.
const profIdle = 1

type profRing struct {
	n       atomic.Uint32 // samples in pcs; only the CPU's own tick adds
	dropped atomic.Uint32 // samples lost to a full ring
	pcs     [profPerCPU]uint64
}

var (
	profOn    atomic.Bool
	profRings [MaxCPU]profRing
	profMu    sync.Mutex // serialises start/stop/report
)

func init() {
	RegisterOption(OptionSpec{Name: "bench.prof", Help: "N: after each benchmark, its N hottest functions from the tick profiler",
		Check: func(v string) error {
			if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 100 {
				return fmt.Errorf("a count 1..100")
			}
			return nil
		}})
}

// profTick records one sample on CPU c, whose tick interrupted t. Trap
// context, interrupts off.
//
//go:nosplit
func profTick(c *CPU, t *Thread) {
	r := &profRings[c.id]
	pc := t.Frame.RIP
	if t.idle {
		pc = profIdle
	}
	i := r.n.Load()
	if i >= profPerCPU {
		r.dropped.Add(1)
		return
	}
	r.pcs[i] = pc
	r.n.Store(i + 1) // publishes pcs[i] to a reader that loads n
}

// ProfileStart clears the samples and starts sampling.
func ProfileStart() {
	profMu.Lock()
	defer profMu.Unlock()
	profOn.Store(false)
	for i := range profRings {
		profRings[i].n.Store(0)
		profRings[i].dropped.Store(0)
	}
	profOn.Store(true)
}

// ProfileStop stops sampling; the samples stay for ProfileReport. A tick
// already past its check of the switch may still add its sample.
func ProfileStop() {
	profOn.Store(false)
}

// ProfEntry is one function's share of a profile.
type ProfEntry struct {
	Func    string // Go function name, "(idle)", or the PC in hex if unknown
	Samples int
	Line    string // the function's hottest file:line
}

// Profile is a report of the samples taken since ProfileStart.
type Profile struct {
	Total, Idle, Dropped int
	PerCPU               []int // samples per CPU (idle included)
	Funcs                []ProfEntry
}

// ProfileReport counts the samples by function, hottest first.
func ProfileReport() Profile {
	profMu.Lock()
	defer profMu.Unlock()
	var p Profile
	byPC := map[uint64]int{}
	for c := 0; c < NumCPU(); c++ {
		r := &profRings[c]
		n := int(r.n.Load())
		p.PerCPU = append(p.PerCPU, n)
		p.Dropped += int(r.dropped.Load())
		for _, pc := range r.pcs[:n] {
			byPC[pc]++
		}
		p.Total += n
	}
	p.Idle = byPC[profIdle]
	delete(byPC, profIdle)
	type fn struct {
		n, best int
		line    string
	}
	funcs := map[string]*fn{}
	for pc, n := range byPC {
		name, line := "unknown", fmt.Sprintf("%#x", pc)
		if f := runtime.FuncForPC(uintptr(pc)); f != nil {
			file, l := f.FileLine(uintptr(pc))
			name, line = f.Name(), fmt.Sprintf("%s:%d", trimPath(file), l)
		}
		e := funcs[name]
		if e == nil {
			e = &fn{}
			funcs[name] = e
		}
		e.n += n
		if n > e.best {
			e.best, e.line = n, line
		}
	}
	for name, e := range funcs {
		p.Funcs = append(p.Funcs, ProfEntry{Func: name, Samples: e.n, Line: e.line})
	}
	slices.SortFunc(p.Funcs, func(a, b ProfEntry) int {
		if a.Samples != b.Samples {
			return b.Samples - a.Samples
		}
		return cmp.Compare(a.Func, b.Func)
	})
	return p
}

// trimPath keeps the last two elements of a source path.
func trimPath(file string) string {
	slash := 0
	for i := len(file) - 1; i >= 0; i-- {
		if file[i] == '/' {
			if slash++; slash == 2 {
				return file[i+1:]
			}
		}
	}
	return file
}

// Write prints the top functions of p, with each one's share of the
// busy (non-idle) samples.
func (p Profile) Write(w io.Writer, top int, indent string) {
	busy := p.Total - p.Idle
	fmt.Fprintf(w, "%sprof: %d samples (%d idle, %d busy, %d lost to full rings) per CPU %v\n", indent, p.Total, p.Idle, busy, p.Dropped, p.PerCPU)
	for i, e := range p.Funcs {
		if i == top {
			break
		}
		fmt.Fprintf(w, "%s%6d %5.1f%%  %s (%s)\n", indent, e.Samples, 100*float64(e.Samples)/float64(max(busy, 1)), e.Func, e.Line)
	}
}

func cmdProf(w io.Writer, args []string) {
	if len(args) == 0 {
		fmt.Fprintln(w, "usage: prof start | prof stop | prof show [N]")
		return
	}
	switch args[0] {
	case "start":
		ProfileStart()
		fmt.Fprintf(w, "profiling every CPU's tick (%d Hz), up to %d samples per CPU\n", HZ, profPerCPU)
	case "stop":
		ProfileStop()
		fmt.Fprintln(w, "profiling stopped")
	case "show":
		top := 20
		if len(args) > 1 {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				fmt.Fprintf(w, "prof show: bad count %q\n", args[1])
				return
			}
			top = n
		}
		ProfileReport().Write(w, top, "")
	default:
		fmt.Fprintf(w, "prof: unknown subcommand %q (start, stop, show)\n", args[0])
	}
}

func init() {
	RegisterTest(Test{Name: "Kern/TickProfiler", Fn: testTickProfiler})
}

// profSpin is the known hot function of Kern/TickProfiler.
//
//go:noinline
func profSpin(until time.Time) (n uint64) {
	for time.Now().Before(until) { // a clock read is a system call: rarely
		for i := 0; i < 200000; i++ {
			n += uint64(i) ^ n>>3
		}
	}
	return n
}

// testTickProfiler: a goroutine bound to each CPU spins in profSpin for
// half a second while the profiler runs; the report must have samples
// from every CPU and profSpin as its hottest function, attributed to its
// own source file, with most of the busy samples.
func testTickProfiler(t *T) {
	n := NumCPU()
	var sink atomic.Uint64
	for attempt := 1; ; attempt++ {
		ProfileStart()
		var wg sync.WaitGroup
		until := time.Now().Add(500 * time.Millisecond)
		for c := 0; c < n; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				PinToCPU(c)
				defer Unpin()
				sink.Add(profSpin(until))
			}(c)
		}
		wg.Wait()
		ProfileStop()
		p := ProfileReport()
		var b strings.Builder
		p.Write(&b, 5, "    ")
		t.Logf("attempt %d:\n%s", attempt, b.String())
		silent := slices.Index(p.PerCPU, 0)
		busy := p.Total - p.Idle
		ok := silent < 0 && len(p.Funcs) > 0 && strings.HasSuffix(p.Funcs[0].Func, "kern.profSpin") &&
			strings.HasPrefix(p.Funcs[0].Line, "kern/prof.go:") && 2*p.Funcs[0].Samples > busy
		if ok {
			return
		}
		// A loaded host can keep a vCPU descheduled for the whole half
		// second (no tick, no sample): try again, a few times.
		if attempt == 5 {
			t.Fatalf("after %d attempts: CPU %d has no samples, or profSpin is not the hottest function with most busy samples", attempt, silent)
		}
	}
}
