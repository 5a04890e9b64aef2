package kern

import (
	"bufio"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// ThreadInfo is a snapshot of one kernel thread for the shell.
type ThreadInfo struct {
	Tid      int32
	State    string
	CPU      int32
	Idle     bool
	Syscalls uint64
	RunNs    int64
	Pri      int  // effective priority (lower is better)
	BasePri  int  // its own priority; Pri is better when lent
	Bound    bool // a goroutine is bound to it (SetPriority)
}

var stateNames = [...]string{tFree: "free", tRunnable: "runnable", tRunning: "running", tBlocked: "blocked", tDead: "dead"}

// threadRec is the pointer-free record opThreads copies out.
type threadRec struct {
	tid, state, cpu, idle int32
	syscalls              uint64
	runNs                 int64
	pri, basePri, bound   int32
}

// snapshotThreads copies the live threads to the user buffer at buf
// (MaxThreads records) under sched.lock, in trap context.
func snapshotThreads(buf uintptr) int64 {
	size := unsafe.Sizeof(threadRec{})
	if !vm.Ensure(buf, size*MaxThreads) {
		return -EFAULT
	}
	lockSched()
	defer unlockSched()
	n := 0
	for i := range threads {
		t := &threads[i]
		if t.state == tFree {
			continue
		}
		idle := int32(0)
		if t.idle {
			idle = 1
		}
		r := threadRec{tid: t.tid, state: t.state, cpu: t.cpu, idle: idle, syscalls: t.syscalls, runNs: t.runNs,
			pri: t.pri(), basePri: t.basePri}
		if t.boundG != 0 {
			r.bound = 1
		}
		amd64.Memmove(buf+uintptr(n)*size, uintptr(unsafe.Pointer(&r)), size)
		n++
	}
	return int64(n)
}

// Threads returns a snapshot of the live threads.
func Threads() []ThreadInfo {
	recs := make([]threadRec, MaxThreads)
	n := int(rawSyscall(sysSmpgoDebug, opThreads, uintptr(unsafe.Pointer(&recs[0]))))
	out := make([]ThreadInfo, 0, max(n, 0))
	for _, r := range recs[:max(n, 0)] {
		out = append(out, ThreadInfo{Tid: r.tid, State: stateNames[r.state], CPU: r.cpu, Idle: r.idle != 0, Syscalls: r.syscalls, RunNs: r.runNs,
			Pri: int(r.pri), BasePri: int(r.basePri), Bound: r.bound != 0})
	}
	return out
}

// Shell runs the debug shell on the console until halt.
func Shell(in io.Reader, out io.Writer) {
	fmt.Fprintf(out, "smpgo: %d CPU(s), up %v. Type 'help'.\n", NumCPU(), time.Duration(nanotime()).Round(time.Millisecond))
	r := bufio.NewReader(in)
	var ed lineEditor
	for {
		fmt.Fprint(out, "smpgo> ")
		line, err := ed.ReadLine(r, out)
		if err != nil && line == "" {
			return
		}
		if !RunCommand(out, strings.TrimSpace(line)) {
			return
		}
	}
}

type command struct {
	help string
	fn   func(w io.Writer, args []string)
}

var (
	commands map[string]command
	shows    = map[string]command{}
	cmdMu    sync.Mutex
)

// RegisterCommand adds a shell command (subsystems call it from init).
// A name registered twice panics: that is a programming error.
func RegisterCommand(name, help string, fn func(w io.Writer, args []string)) {
	cmdMu.Lock()
	defer cmdMu.Unlock()
	if _, dup := commands[name]; dup || name == "show" {
		panic("kern.RegisterCommand: duplicate command " + name)
	}
	commands[name] = command{help, fn}
}

// RegisterShow adds a "show NAME" view (ddb style: show locks, show uma).
func RegisterShow(name, help string, fn func(w io.Writer, args []string)) {
	cmdMu.Lock()
	defer cmdMu.Unlock()
	if _, dup := shows[name]; dup {
		panic("kern.RegisterShow: duplicate view " + name)
	}
	shows[name] = command{help, fn}
}

func cmdShow(w io.Writer, args []string) {
	cmdMu.Lock()
	c, ok := shows[firstOr(args, "")]
	cmdMu.Unlock()
	if !ok {
		fmt.Fprintln(w, "usage: show VIEW, one of:")
		writeHelp(w, shows)
		return
	}
	c.fn(w, args[1:])
}

func firstOr(a []string, def string) string {
	if len(a) == 0 {
		return def
	}
	return a[0]
}

func init() {
	commands = map[string]command{
		"help":     {"list commands", cmdHelp},
		"cpus":     {"CPUs online: topology, ticks, syscalls, switches, IPIs", cmdCPUs},
		"numa":     {"NUMA domains: memory and SLIT distances", func(w io.Writer, _ []string) { WriteNUMA(w) }},
		"mem":      {"physical pages and the runtime's reservations", cmdMem},
		"threads":  {"kernel threads: tid, state, CPU, priority (lent*), class, syscalls, run time", cmdThreads},
		"uptime":   {"time since boot", func(w io.Writer, _ []string) { fmt.Fprintln(w, time.Duration(nanotime()).Round(time.Millisecond)) }},
		"syscalls": {"system call counts, and calls answered ENOSYS", cmdSyscalls},
		"gc":       {"run the garbage collector and show heap figures", cmdGC},
		"halt":     {"stop the machine (exit status 0)", nil},
	}
}

// RunCommand runs one shell line; it reports false after halt.
func RunCommand(w io.Writer, line string) bool {
	f := strings.Fields(line)
	if len(f) == 0 {
		return true
	}
	if f[0] == "halt" {
		fmt.Fprintln(w, "halting")
		Exit(0)
		return false
	}
	if f[0] == "show" {
		cmdShow(w, f[1:])
		return true
	}
	cmdMu.Lock()
	c, ok := commands[f[0]]
	cmdMu.Unlock()
	if !ok {
		fmt.Fprintf(w, "unknown command %q: try 'help'\n", f[0])
		return true
	}
	c.fn(w, f[1:])
	return true
}

func cmdHelp(w io.Writer, _ []string) {
	cmdMu.Lock()
	defer cmdMu.Unlock()
	writeHelp(w, commands)
	if len(shows) > 0 {
		fmt.Fprintf(w, "  %-9s %s\n", "show", "show VIEW: "+strings.Join(sortedNames(shows), ", "))
	}
}

func sortedNames(m map[string]command) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func writeHelp(w io.Writer, m map[string]command) {
	for _, n := range sortedNames(m) {
		fmt.Fprintf(w, "  %-9s %s\n", n, m[n].help)
	}
}

func cmdCPUs(w io.Writer, _ []string) {
	WriteTopology(w)
	fmt.Fprintf(w, "TSC %d MHz, tick %d Hz\n", TSCHz()/1e6, HZ)
	fmt.Fprintln(w, "cpu      ticks  idle-ticks   syscalls   switches  kicks  tlb-flushes")
	for i := 0; i < ncpu; i++ {
		c := &cpus[i]
		fmt.Fprintf(w, "%3d %10d %11d %10d %10d %6d %12d\n", i, c.ticks, c.idleTicks, c.syscalls, c.switches, c.kicks, c.tlbFlushes)
	}
	fmt.Fprintln(w, "IPIs received:")
	fmt.Fprintln(w, "cpu    resched        tlb  rendezvous       ping")
	for i := 0; i < ncpu; i++ {
		c := &cpus[i]
		fmt.Fprintf(w, "%3d %10d %10d %11d %10d\n", i, c.ipis[0], c.ipis[1], c.ipis[2], c.ipis[3])
	}
}

func cmdMem(w io.Writer, _ []string) {
	res, n := vm.Reserved()
	WritePhysMem(w, false)
	fmt.Fprintf(w, "reserved by the runtime: %d MiB in %d ranges; demand-zero faults: %d\n", res>>20, n, demandFaults)
}

func cmdThreads(w io.Writer, _ []string) {
	fmt.Fprintln(w, "  tid state     cpu  pri base class     syscalls   run-ms")
	for _, t := range Threads() {
		tid := fmt.Sprint(t.Tid)
		pri, base, class := fmt.Sprint(t.Pri), fmt.Sprint(t.BasePri), PriClass(t.BasePri)
		if t.Idle {
			tid, pri, base, class = fmt.Sprintf("idle%d", t.CPU), "-", "-", "idle-loop"
		} else if t.Pri < t.BasePri {
			pri += "*" // lent
		}
		if t.Bound {
			class += "+"
		}
		fmt.Fprintf(w, "%5s %-9s %3d %4s %4s %-10s %9d %8d\n", tid, t.State, t.CPU, pri, base, class, t.Syscalls, t.RunNs/1e6)
	}
	lent, pre, over := PrioCounts()
	fmt.Fprintf(w, "(* lent priority, + bound goroutine) lends %d, priority preemptions %d, lending table full %d\n", lent, pre, over)
}

func cmdSyscalls(w io.Writer, _ []string) {
	calls, unknown := SyscallCounts()
	for nr, n := range calls {
		if n == 0 {
			continue
		}
		name := SyscallName(nr)
		if name == "" {
			name = fmt.Sprint("#", nr)
		}
		mark := ""
		if unknown[nr] > 0 {
			mark = " (ENOSYS)"
		}
		fmt.Fprintf(w, "  %-18s %10d%s\n", name, n, mark)
	}
	if unknownOther > 0 {
		fmt.Fprintf(w, "  numbers >= %d: %d (ENOSYS)\n", nSyscalls, unknownOther)
	}
}

func cmdGC(w io.Writer, _ []string) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(w, "heap %d KiB in use, %d KiB from the kernel, %d GCs\n", ms.HeapInuse>>10, ms.Sys>>10, ms.NumGC)
}

func init() {
	RegisterShow("tlb", "TLB shootdowns initiated and flushes done per CPU", func(w io.Writer, _ []string) {
		fmt.Fprintf(w, "shootdown generation %d\n", tlbGen.Load())
		fmt.Fprintln(w, "cpu  initiated    flushed  acked-gen")
		for i := 0; i < ncpu; i++ {
			c := &cpus[i]
			fmt.Fprintf(w, "%3d %10d %10d %10d\n", i, c.shootdowns, c.tlbFlushes, c.tlbDone.Load())
		}
	})
}
