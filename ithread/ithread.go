// Package ithread is the kernel's interrupt layer above the controllers:
// interrupt events with handler lists, filters run in primary interrupt
// context, an interrupt thread per event for the threaded handlers,
// MPSAFE versus Giant handlers, interrupt-storm throttling, per-event
// counters and latency, and binding an event to a CPU. It follows
// FreeBSD's kern_intr.c (intr_event, intr_handler, ithread; FILTER_*
// results; INTR_MPSAFE) on smpgo's execution model
// (docs/execution-model.md, docs/interrupts.md).
//
// Contexts. A filter runs in trap context on the CPU the interrupt was
// delivered to: no allocation, no blocking, no heap pointer stores, no
// Go channels, only raw spin locks (kern/spin). A threaded handler runs
// in the event's interrupt thread: a goroutine locked to its own kernel
// thread (runtime.LockOSThread) and pinned to the event's CPU; it may
// sleep and take sleep locks. A handler registered without MPSAFE runs
// with Giant (lock.Giant) held.
//
// Waking the thread from trap context: the primary handler sets the
// event's pending word (0 → 1) and calls kern.WakeAddr on it; the thread
// sleeps in futex(FUTEX_WAIT, pending, 0). The futex checks the word and
// blocks under the scheduler lock that WakeAddr also takes, so no wake-up
// is lost, and nothing in trap context touches the Go runtime.
package ithread

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/lock"
)

// Filter results (FreeBSD's FILTER_STRAY, FILTER_HANDLED,
// FILTER_SCHEDULE_THREAD), or-able.
const (
	FilterStray          = 0x01 // not this handler's device
	FilterHandled        = 0x02 // handled in primary context
	FilterScheduleThread = 0x04 // run the threaded handlers
)

// Handler flags.
const (
	// MPSAFE handlers run without Giant (INTR_MPSAFE).
	MPSAFE = 1 << iota
)

// Storm defaults: more than StormThreshold interrupts inside one
// stormWindow masks the source for stormPause (FreeBSD's
// hw.intr_storm_threshold, per event here).
const (
	DefaultStormThreshold = 2000
	stormWindow           = 10 * time.Millisecond
	stormPause            = 10 * time.Millisecond
	latencySamples        = 1024
)

// Handler is one handler on an event. Filter runs in primary (trap)
// context, Func in the interrupt thread; either may be nil. A handler
// without a filter is scheduled on every interrupt.
type Handler struct {
	Name   string
	Filter func() int
	Func   func()
	Flags  int

	filters atomic.Uint64 // (a) filter calls
	runs    atomic.Uint64 // (a) Func calls
}

// Runs returns how often the filter and the threaded function ran.
func (h *Handler) Runs() (filter, thread uint64) { return h.filters.Load(), h.runs.Load() }

// Source is the interrupt controller input behind an event: an I/O APIC
// pin, an MSI or MSI-X vector, or a software-triggered vector. Mask and
// Unmask are called in trap context and must obey its rules.
type Source interface {
	// Program points the source at vector vec on CPU cpu (goroutine
	// context), leaving it unmasked.
	Program(cpu int, vec uint8) error
	Mask()
	Unmask()
	// Level reports a level-triggered source: it stays masked while the
	// interrupt thread runs, or it would re-assert at once.
	Level() bool
	String() string
}

// Event is an interrupt event: one source, its handlers, its thread.
type Event struct {
	name string // (c)
	src  Source // (c)

	mu       sync.Mutex                 // serialises AddHandler, Bind
	handlers atomic.Pointer[[]*Handler] // copy on write; read in trap context

	cpu atomic.Int32 // current CPU
	vec atomic.Int32 // current vector on it
	// prevCPU/prevVec: the binding before the last Bind, left installed
	// so a late interrupt to it is still handled; freed at the next Bind.
	prevCPU, prevVec int // (mu)

	threadStarted bool // (mu)
	rebind        atomic.Bool

	// The futex word the thread sleeps on (a): 1 = work pending. In the
	// Go heap (never moved); trap context stores only integers to it.
	pending uint32
	stamp   atomic.Int64 // nanotime of the interrupt that set pending

	// StormThreshold is how many interrupts per 10 ms window throttle
	// the source; 0 turns storm detection off.
	StormThreshold atomic.Int64

	// Storm state: the current window, written in trap context on the
	// event's CPU; the thread resets the count after a pause.
	winStart  atomic.Int64
	winCount  atomic.Int64
	throttled atomic.Bool

	// Counters (a).
	count    atomic.Uint64
	perCPU   [kern.MaxCPU]atomic.Uint64
	stray    atomic.Uint64
	storms   atomic.Uint64
	dropped  atomic.Uint64 // arrived while throttled
	wakeups  atomic.Uint64
	reported atomic.Int64 // nanotime of the last storm report

	latMu   sync.Mutex // the thread's latency record
	latN    int64      // (latMu)
	latSum  int64      // (latMu)
	latMax  int64      // (latMu)
	samples []int64    // (latMu) ring of the last latencySamples
}

var (
	regMu   sync.Mutex
	events  []*Event        // (regMu)
	vectors *apic.VectorSet // (regMu)
)

// NewEvent creates an event for src, bound to CPU cpu, with no handlers.
func NewEvent(name string, src Source, cpu int) (*Event, error) {
	if cpu < 0 || cpu >= kern.NumCPU() {
		return nil, fmt.Errorf("ithread: %s: no CPU %d", name, cpu)
	}
	ev := &Event{name: name, src: src, prevCPU: -1}
	ev.StormThreshold.Store(DefaultStormThreshold)
	empty := []*Handler{}
	ev.handlers.Store(&empty)
	ev.cpu.Store(-1)
	regMu.Lock()
	if vectors == nil {
		vectors = apic.NewVectorSet(kern.NumCPU())
	}
	events = append(events, ev)
	regMu.Unlock()
	if err := ev.Bind(cpu); err != nil {
		ev.Remove()
		return nil, err
	}
	return ev, nil
}

// Name returns the event's name.
func (ev *Event) Name() string { return ev.name }

// Source returns the event's source.
func (ev *Event) Source() Source { return ev.src }

// CPU returns the CPU the event is bound to, and its vector there.
func (ev *Event) CPU() (cpu int, vec uint8) { return int(ev.cpu.Load()), uint8(ev.vec.Load()) }

// AddHandler adds h; the interrupt thread starts with the first handler
// that has a threaded function (and for storm recovery, with any).
func (ev *Event) AddHandler(h *Handler) error {
	if h.Filter == nil && h.Func == nil {
		return errors.New("ithread: AddHandler: neither filter nor function")
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	old := *ev.handlers.Load()
	hs := make([]*Handler, len(old), len(old)+1)
	copy(hs, old)
	hs = append(hs, h)
	ev.handlers.Store(&hs)
	if !ev.threadStarted {
		ev.threadStarted = true
		started := make(chan struct{})
		go ev.thread(started)
		<-started
	}
	return nil
}

// Bind moves the event to CPU cpu: a vector is allocated there, the
// handler installed, and the source reprogrammed; the interrupt thread
// follows on its next wake-up. The previous binding stays installed until
// the next Bind, so an interrupt already in flight to it is not lost.
func (ev *Event) Bind(cpu int) error {
	if cpu < 0 || cpu >= kern.NumCPU() {
		return fmt.Errorf("ithread: %s: no CPU %d", ev.name, cpu)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	regMu.Lock()
	vec, err := vectors.Alloc(cpu)
	regMu.Unlock()
	if err != nil {
		return err
	}
	if err := kern.SetIntrHandler(cpu, vec, ev.intr); err != nil {
		return err
	}
	if err := ev.src.Program(cpu, vec); err != nil {
		kern.SetIntrHandler(cpu, vec, nil)
		regMu.Lock()
		vectors.Free(cpu, vec)
		regMu.Unlock()
		return err
	}
	if ev.prevCPU >= 0 {
		kern.SetIntrHandler(ev.prevCPU, uint8(ev.prevVec), nil)
		regMu.Lock()
		vectors.Free(ev.prevCPU, uint8(ev.prevVec))
		regMu.Unlock()
	}
	ev.prevCPU, ev.prevVec = int(ev.cpu.Load()), int(ev.vec.Load())
	ev.cpu.Store(int32(cpu))
	ev.vec.Store(int32(vec))
	if ev.threadStarted {
		ev.rebind.Store(true)
		ev.poke()
	}
	return nil
}

// Remove masks the source, uninstalls the event's vectors and drops it
// from the list. Its thread stays parked (threads are not reclaimed).
func (ev *Event) Remove() {
	ev.src.Mask()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	regMu.Lock()
	defer regMu.Unlock()
	for _, b := range [][2]int{{int(ev.cpu.Load()), int(ev.vec.Load())}, {ev.prevCPU, ev.prevVec}} {
		if b[0] >= 0 {
			kern.SetIntrHandler(b[0], uint8(b[1]), nil)
			vectors.Free(b[0], uint8(b[1]))
		}
	}
	ev.cpu.Store(-1)
	ev.prevCPU = -1
	for i, e := range events {
		if e == ev {
			events = append(events[:i], events[i+1:]...)
			break
		}
	}
}

// intr is the primary handler, run by kern in trap context on the CPU the
// interrupt arrived at, before the EOI.
func (ev *Event) intr() {
	now := kern.Nanotime()
	ev.count.Add(1)
	ev.perCPU[kern.CPUID()].Add(1)
	if ev.throttled.Load() {
		// Masked, but already in flight (or an unmaskable source).
		ev.dropped.Add(1)
		return
	}
	schedule, claimed := false, false
	for _, h := range *ev.handlers.Load() {
		if h.Filter == nil {
			schedule, claimed = true, true
			continue
		}
		h.filters.Add(1)
		r := h.Filter()
		if r&(FilterHandled|FilterScheduleThread) != 0 {
			claimed = true
		}
		if r&FilterScheduleThread != 0 && h.Func != nil {
			schedule = true
		}
	}
	if !claimed {
		ev.stray.Add(1)
	}
	if th := ev.StormThreshold.Load(); th > 0 {
		if now-ev.winStart.Load() > int64(stormWindow) {
			ev.winStart.Store(now)
			ev.winCount.Store(0)
		}
		if ev.winCount.Add(1) > th {
			ev.throttled.Store(true)
			ev.storms.Add(1)
			ev.src.Mask()
			schedule = true // the thread reports, pauses and unmasks
		}
	}
	if !schedule {
		return
	}
	if ev.src.Level() && !ev.throttled.Load() {
		ev.src.Mask() // until the thread has run the handlers
	}
	if atomic.SwapUint32(&ev.pending, 1) == 0 {
		ev.stamp.Store(now)
		kern.WakeAddr(uintptr(unsafe.Pointer(&ev.pending)))
	}
}

// poke wakes the thread from goroutine context.
func (ev *Event) poke() {
	if atomic.SwapUint32(&ev.pending, 1) == 0 {
		ev.stamp.Store(kern.Nanotime())
		futex(&ev.pending, futexWake, 1)
	}
}

const (
	futexWait = 0 | 128 // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
	futexWake = 1 | 128
)

func futex(addr *uint32, op, val uintptr) {
	// syscall.Syscall (not RawSyscall): the runtime hands this thread's P
	// to other goroutines while it sleeps.
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), op, val, 0, 0, 0)
}

// thread is the event's interrupt thread.
func (ev *Event) thread(started chan<- struct{}) {
	runtime.LockOSThread()
	cpu := int(ev.cpu.Load())
	kern.PinToCPU(cpu)
	// Interrupt priority: a wake-up preempts whatever runs on the CPU.
	kern.SetPriority(kern.PriIthread)
	close(started)
	for {
		if atomic.SwapUint32(&ev.pending, 0) == 0 {
			futex(&ev.pending, futexWait, 0)
			continue
		}
		if ev.rebind.Swap(false) {
			if c := int(ev.cpu.Load()); c >= 0 && c != cpu {
				cpu = c
				kern.PinToCPU(cpu)
			}
		}
		ev.wakeups.Add(1)
		ev.recordLatency(kern.Nanotime() - ev.stamp.Load())
		ev.runHandlers()
		if ev.throttled.Load() {
			ev.reportStorm()
			time.Sleep(stormPause)
			ev.winCount.Store(0)
			ev.throttled.Store(false)
			ev.src.Unmask()
			// Interrupts that arrived while throttled were dropped:
			// run the handlers once more for what they signalled.
			ev.runHandlers()
		} else if ev.src.Level() {
			ev.src.Unmask()
		}
	}
}

func (ev *Event) runHandlers() {
	for _, h := range *ev.handlers.Load() {
		if h.Func == nil {
			continue
		}
		h.runs.Add(1)
		call(h.Flags, h.Func)
	}
}

// call runs a handler: under Giant unless flags has MPSAFE.
func call(flags int, fn func()) {
	if flags&MPSAFE != 0 {
		fn()
		return
	}
	lock.Giant.Lock()
	fn()
	lock.Giant.Unlock()
}

func (ev *Event) reportStorm() {
	now := kern.Nanotime()
	if last := ev.reported.Load(); last != 0 && now-last < int64(time.Second) {
		return // at most one report a second per event
	}
	ev.reported.Store(now)
	fmt.Printf("ithread: interrupt storm detected on %q (%s); throttling interrupt source\n", ev.name, ev.src)
}

func (ev *Event) recordLatency(ns int64) {
	if ns < 0 {
		return
	}
	ev.latMu.Lock()
	if ev.samples == nil {
		ev.samples = make([]int64, 0, latencySamples)
	}
	if len(ev.samples) < latencySamples {
		ev.samples = append(ev.samples, ns)
	} else {
		ev.samples[ev.latN%latencySamples] = ns
	}
	ev.latN++
	ev.latSum += ns
	ev.latMax = max(ev.latMax, ns)
	ev.latMu.Unlock()
}

// Stats are an event's counters.
type Stats struct {
	Name      string
	Source    string
	CPU       int
	Vector    uint8
	Count     uint64   // interrupts taken
	PerCPU    []uint64 // by CPU
	Stray     uint64   // no handler claimed it
	Storms    uint64   // times throttled
	Dropped   uint64   // arrived while throttled
	Wakeups   uint64   // interrupt-thread runs
	Latency   int64    // mean interrupt-to-thread latency, ns
	LatencyHi int64    // worst, ns
	Handlers  []HandlerStats
}

// HandlerStats are one handler's counters.
type HandlerStats struct {
	Name          string
	MPSAFE        bool
	Filter, Runs  uint64
	HasFilter     bool
	HasThreadFunc bool
}

// Stats returns the event's counters.
func (ev *Event) Stats() Stats {
	cpu, vec := ev.CPU()
	s := Stats{Name: ev.name, Source: ev.src.String(), CPU: cpu, Vector: vec,
		Count: ev.count.Load(), Stray: ev.stray.Load(), Storms: ev.storms.Load(),
		Dropped: ev.dropped.Load(), Wakeups: ev.wakeups.Load()}
	for i := 0; i < kern.NumCPU(); i++ {
		s.PerCPU = append(s.PerCPU, ev.perCPU[i].Load())
	}
	ev.latMu.Lock()
	if ev.latN > 0 {
		s.Latency = ev.latSum / ev.latN
	}
	s.LatencyHi = ev.latMax
	ev.latMu.Unlock()
	for _, h := range *ev.handlers.Load() {
		f, r := h.Runs()
		s.Handlers = append(s.Handlers, HandlerStats{Name: h.Name, MPSAFE: h.Flags&MPSAFE != 0,
			Filter: f, Runs: r, HasFilter: h.Filter != nil, HasThreadFunc: h.Func != nil})
	}
	return s
}

// LatencySamples returns a copy of the recent interrupt-to-thread
// latencies (ns) and clears them.
func (ev *Event) LatencySamples() []int64 {
	ev.latMu.Lock()
	defer ev.latMu.Unlock()
	out := append([]int64(nil), ev.samples...)
	ev.samples = ev.samples[:0]
	ev.latN, ev.latSum, ev.latMax = 0, 0, 0
	return out
}

// Events returns the registered events.
func Events() []*Event {
	regMu.Lock()
	defer regMu.Unlock()
	return append([]*Event(nil), events...)
}
