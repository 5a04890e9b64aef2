package ithread

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/smpgo/smpgo/kern"
)

// Software interrupt threads (FreeBSD's swi_add/swi_sched): a kernel
// thread that runs a handler when scheduled, with no interrupt source.
// Schedule may be called from any context — a filter or the tick in trap
// context, a goroutine with interrupts off, or an ordinary goroutine — and
// coalesces: schedules that arrive before the thread has looked run the
// handler once. The thread sleeps on its pending word exactly as an
// interrupt thread does (docs/interrupts.md §3).

// SWI is a software interrupt thread.
type SWI struct {
	name  string // (c)
	cpu   int    // (c) the CPU the thread is pinned to, -1 for any
	flags int    // (c) MPSAFE or not
	fn    func() // (c)

	pending uint32 // futex word: 1 = scheduled
	quit    atomic.Bool
	done    chan struct{} // closed when the thread has exited

	scheds atomic.Uint64 // Schedule calls
	wakes  atomic.Uint64 // Schedule calls that woke the thread
	runs   atomic.Uint64 // handler runs
}

var (
	swiMu sync.Mutex
	swis  []*SWI // (swiMu)
)

// NewSWI starts a software interrupt thread running fn when scheduled,
// pinned to CPU cpu (-1: any CPU). Without MPSAFE in flags fn runs with
// Giant held.
func NewSWI(name string, cpu, flags int, fn func()) (*SWI, error) {
	if fn == nil {
		return nil, fmt.Errorf("ithread: swi %s: no handler", name)
	}
	if cpu < -1 || cpu >= kern.NumCPU() {
		return nil, fmt.Errorf("ithread: swi %s: no CPU %d", name, cpu)
	}
	s := &SWI{name: name, cpu: cpu, flags: flags, fn: fn, done: make(chan struct{})}
	started := make(chan struct{})
	go s.thread(started)
	<-started
	swiMu.Lock()
	swis = append(swis, s)
	swiMu.Unlock()
	return s, nil
}

// Name returns the swi's name.
func (s *SWI) Name() string { return s.name }

// CPU returns the CPU the swi's thread is pinned to, or -1.
func (s *SWI) CPU() int { return s.cpu }

// Schedule makes the handler run soon (once, however many Schedule calls
// come before it starts). Any context: with interrupts off (trap context,
// filters, spin mutexes) the thread is woken through kern.WakeAddr,
// otherwise through a futex wake system call. No allocation.
func (s *SWI) Schedule() {
	s.scheds.Add(1)
	if atomic.SwapUint32(&s.pending, 1) != 0 {
		return
	}
	s.wakes.Add(1)
	if !kern.IntrEnabled() {
		kern.WakeAddr(uintptr(unsafe.Pointer(&s.pending)))
		return
	}
	syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&s.pending)), futexWake, 1, 0, 0, 0)
}

// Remove stops the swi's thread, once no handler run is under way, and
// drops it from the list. Schedule must not be called after.
func (s *SWI) Remove() {
	s.quit.Store(true)
	atomic.StoreUint32(&s.pending, 1)
	syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&s.pending)), futexWake, 1, 0, 0, 0)
	<-s.done
	swiMu.Lock()
	defer swiMu.Unlock()
	for i, o := range swis {
		if o == s {
			swis = append(swis[:i], swis[i+1:]...)
			break
		}
	}
}

// thread is the swi's thread: software interrupt priority (below the
// hardware interrupt threads, above every ordinary thread, as FreeBSD's
// SWI_* priorities), so a Schedule preempts what runs on its CPU.
func (s *SWI) thread(started chan<- struct{}) {
	defer close(s.done)
	runtime.LockOSThread() // never unlocked: the thread, with its priority, exits with the goroutine
	if s.cpu >= 0 {
		kern.PinToCPU(s.cpu)
	}
	kern.SetPriority(kern.PriSWI)
	close(started)
	for {
		if atomic.SwapUint32(&s.pending, 0) == 0 {
			futex(&s.pending, futexWait, 0)
			continue
		}
		if s.quit.Load() {
			return
		}
		s.runs.Add(1)
		call(s.flags, s.fn)
	}
}

// SWIStats are a software interrupt thread's counters.
type SWIStats struct {
	Name                string
	CPU                 int
	MPSAFE              bool
	Scheds, Wakes, Runs uint64
}

// Stats returns the swi's counters.
func (s *SWI) Stats() SWIStats {
	return SWIStats{Name: s.name, CPU: s.cpu, MPSAFE: s.flags&MPSAFE != 0,
		Scheds: s.scheds.Load(), Wakes: s.wakes.Load(), Runs: s.runs.Load()}
}

// SWIs returns the software interrupt threads.
func SWIs() []*SWI {
	swiMu.Lock()
	defer swiMu.Unlock()
	return append([]*SWI(nil), swis...)
}
