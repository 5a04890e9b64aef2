package kern

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
)

// Timecounters (after FreeBSD's kern_tc.c, reduced to what one monotonic
// clock needs). Monotonic time is a free-running hardware counter scaled
// to nanoseconds through "timehands": the counter's reading and the time
// at a base point, and the scale. The TSC is the default counter: it is
// the cheapest to read, and nanotime runs twice per trap. The HPET and
// the ACPI PM timer register themselves when ACPI describes them
// (drivers/clocksrc) and the boot option clock= or SetTimecounter
// switches to one while the kernel runs, without a jump: the new hands
// start at the old hands' time.
//
// Counters narrower than 64 bits wrap (the 24-bit PM timer every 4.7 s),
// so the CPUs' ticks wind the hands up (a new base at the current
// reading) about every tick while such a counter is in use: no reading
// then spans a wrap. The hands live in a small ring written by one
// windup at a time, with a
// generation number each: a reader that raced a rewrite of the hands it
// loaded sees the generation change (or zero, mid-write) and retries.

// Timecounter is a free-running hardware counter.
type Timecounter struct {
	Name string
	// Freq is the counter's rate in counts per second.
	Freq uint64
	// Bits is the counter's width: readings wrap at 1<<Bits.
	Bits uint
	// Quality ranks counters (FreeBSD's scale: higher is better,
	// negative means never chosen on its own).
	Quality int
	// Read returns the counter's current value. It runs with interrupts
	// off, in trap context: no blocking, no allocation.
	Read func() uint64
	// Cost is what one reading costs, in ns, measured at registration.
	Cost int64
}

func (tc *Timecounter) mask() uint64 {
	if tc.Bits >= 64 {
		return ^uint64(0)
	}
	return 1<<tc.Bits - 1
}

// read reads tc, with the TSC's read inline rather than through Read.
func (tc *Timecounter) read() uint64 {
	if tc == &tscCounter {
		return amd64.Rdtsc()
	}
	return tc.Read()
}

// tscCounter is the TSC. Its rate is the boot calibration's against the
// PIT. Quality as FreeBSD gives a TSC it trusts across CPUs (800): TCG
// offers no invariant-TSC flag, and the boot checks the CPUs agree.
var tscCounter = Timecounter{Name: "TSC", Bits: 64, Quality: 800, Read: amd64.Rdtsc}

type timehands struct {
	gen   atomic.Uint32 // 0 while being written
	tc    noWBPtr[Timecounter]
	count atomic.Uint64 // counter reading at the base
	ns    atomic.Int64  // monotonic ns at the base
	frac  atomic.Uint64 // and its fraction of a ns (32.32), so windups lose nothing
	mult  atomic.Uint64 // ns per count, 32.32 fixed point
}

const nHands = 8

var (
	hands      [nHands]timehands
	curHands   noWBPtr[timehands]
	handsNext  int    // (windupBusy) the slot the next windup writes
	handsGen   uint32 // (windupBusy)
	windupBusy atomic.Uint32
	windupSeq  atomic.Uint64 // odd while a windup runs
	// lastWindup is the TSC at the last windup of a narrow counter, and
	// maxWindupGap the longest time between two (TSC ticks): a counter
	// that wraps faster than that loses time.
	lastWindup   atomic.Uint64
	maxWindupGap atomic.Uint64

	tcMu       sync.Mutex
	tcList     = []*Timecounter{&tscCounter} // (tcMu)
	tcPending  noWBPtr[Timecounter]          // a switch the next tick applies
	tcSwitches atomic.Uint64
	tcWindups  atomic.Uint64

	tscFreq    atomic.Uint64 // the TSC's rate now (boot calibration, then SetTSCFreq)
	tscNewFreq atomic.Uint64 // a rate the next tick's windup is to apply
)

// noWBPtr is an atomic pointer that windup (trap context: the tick) may
// store: it is kept as a uintptr, so no GC write barrier runs. A barrier
// in trap context finds no M or P for its buffer and faults (seen: a
// fault at 0xd0, g.m.p, in runtime.atomicwb from windup when a collection
// was marking during Clock/SwitchMonotonic). Only for objects that stay
// alive through other references: the hands array is a global, and a
// counter is in tcList while it is current or pending (UnregisterTimecounter
// refuses those).
type noWBPtr[T any] struct{ v atomic.Uintptr }

func (p *noWBPtr[T]) Load() *T {
	a := p.v.Load()
	return (*T)(*(*unsafe.Pointer)(unsafe.Pointer(&a)))
}

func (p *noWBPtr[T]) Store(x *T) { p.v.Store(uintptr(unsafe.Pointer(x))) }

func (p *noWBPtr[T]) CompareAndSwap(old, new *T) bool {
	return p.v.CompareAndSwap(uintptr(unsafe.Pointer(old)), uintptr(unsafe.Pointer(new)))
}

func scaleFor(freq uint64) uint64 {
	hi, lo := bits.Mul64(1000000000, 1<<32)
	m, _ := bits.Div64(hi, lo, freq)
	return m
}

// initHands starts the clock on the TSC, at zero for tscBase.
func initHands() {
	tscCounter.Freq = tscHz
	tscFreq.Store(tscHz)
	th := &hands[0]
	th.tc.Store(&tscCounter)
	th.count.Store(tscBase)
	th.ns.Store(0)
	th.mult.Store(tscMult)
	handsGen = 1
	th.gen.Store(handsGen)
	handsNext = 1
	curHands.Store(th)
}

// nanotime returns monotonic nanoseconds since boot.
func nanotime() int64 {
	for spins := 0; ; spins++ {
		// A windup in progress (odd windupSeq) has read the old counter
		// and will start the new hands at that reading's time; a reading
		// of the old counter taken meanwhile would lie after it, and a
		// reader of the new hands (a coarse counter: the PM timer, 279
		// ns a count) could then see time go back. Wait for it (bounded:
		// an NMI handler may interrupt the windup on its own CPU).
		seq := windupSeq.Load()
		if seq&1 != 0 && spins < 1<<16 {
			continue
		}
		th := curHands.Load()
		if th == nil {
			return 0 // before the boot's calibration
		}
		g := th.gen.Load()
		tc, base, ns, frac, mult := th.tc.Load(), th.count.Load(), th.ns.Load(), th.frac.Load(), th.mult.Load()
		if g == 0 || tc == nil {
			continue
		}
		c := tc.read()
		// Hands replaced or rewritten since they were loaded: read
		// again with the current ones. (A reading taken after a switch
		// must not use the old hands: the new ones run a little ahead,
		// see windup, and another CPU may already have used them.)
		if curHands.Load() != th || th.gen.Load() != g || windupSeq.Load() != seq && spins < 1<<16 {
			continue
		}
		d, _ := scale(ns, frac, (c-base)&tc.mask(), mult)
		return d
	}
}

// scale returns the time count counts after (ns, frac) at mult ns per
// count (32.32), and that time's fraction of a ns.
func scale(ns int64, frac, count, mult uint64) (int64, uint64) {
	hi, lo := bits.Mul64(count, mult)
	lo, carry := bits.Add64(lo, frac, 0)
	hi += carry
	return ns + int64(hi<<32|lo>>32), lo & (1<<32 - 1)
}

// windup runs on every CPU's tick: apply a pending switch or TSC rate,
// or move the base of a counter that wraps to its current reading (at
// most every half tick, whichever CPU's tick comes first: a CPU the host
// starves of time does not stop the others from winding up). One CPU at
// a time: the others skip.
func windup() {
	old := curHands.Load()
	if old == nil {
		return
	}
	next := tcPending.Load()
	otc := old.tc.Load()
	if next == nil && otc.Bits >= 64 && tscNewFreq.Load() == 0 {
		return // nothing to do for a 64-bit counter
	}
	now0 := amd64.Rdtsc()
	last := lastWindup.Load()
	if next == nil && tscNewFreq.Load() == 0 && now0-last < tscFreq.Load()/HZ/2 {
		return
	}
	if !windupBusy.CompareAndSwap(0, 1) {
		return
	}
	defer windupBusy.Store(0)
	if curHands.Load() != old {
		return // another CPU's windup came first
	}
	windupSeq.Add(1) // odd: readers wait (see nanotime)
	defer windupSeq.Add(1)
	if gap := now0 - last; next == nil && otc.Bits < 64 && gap > maxWindupGap.Load() {
		maxWindupGap.Store(gap)
	}
	lastWindup.Store(now0)
	rescale := false
	if hz := tscNewFreq.Swap(0); hz != 0 {
		tscCounter.Freq = hz
		tscFreq.Store(hz)
		rescale = otc == &tscCounter
	}
	if next == nil && otc.Bits >= 64 && !rescale {
		return
	}
	tc := otc
	if next != nil {
		tc = next
	}
	// The new counter is read first, so the new base time is taken a
	// little after its reading: time steps forward by that gap at a
	// switch, never back.
	var c uint64
	if tc != otc {
		c = tc.read()
	}
	oc := otc.read()
	now, nowFrac := scale(old.ns.Load(), old.frac.Load(), (oc-old.count.Load())&otc.mask(), old.mult.Load())
	if tc == otc {
		c = oc
	}
	th := &hands[handsNext]
	handsNext = (handsNext + 1) % nHands
	th.gen.Store(0)
	th.tc.Store(tc)
	th.count.Store(c)
	th.ns.Store(now)
	th.frac.Store(nowFrac)
	if tc == otc && !rescale {
		th.mult.Store(old.mult.Load())
	} else {
		th.mult.Store(scaleFor(tc.Freq))
	}
	handsGen++
	if handsGen == 0 {
		handsGen = 1
	}
	th.gen.Store(handsGen)
	curHands.Store(th)
	tcWindups.Add(1)
	if next != nil {
		tcPending.CompareAndSwap(next, nil)
		tcSwitches.Add(1)
	}
}

// RegisterTimecounter adds a counter the clock may switch to. It
// measures what one reading costs.
func RegisterTimecounter(tc *Timecounter) error {
	if tc.Freq == 0 || tc.Read == nil || tc.Bits < 16 || tc.Bits > 64 {
		return fmt.Errorf("timecounter %s: bad frequency, width or reader", tc.Name)
	}
	const n = 64
	s := IntrDisable()
	t0 := nanotime()
	for i := 0; i < n; i++ {
		tc.Read()
	}
	tc.Cost = (nanotime() - t0) / n
	IntrRestore(s)
	tcMu.Lock()
	defer tcMu.Unlock()
	for _, o := range tcList {
		if strings.EqualFold(o.Name, tc.Name) {
			return fmt.Errorf("timecounter %s registered twice", tc.Name)
		}
	}
	tcList = append(tcList, tc)
	return nil
}

// UnregisterTimecounter removes a counter that is not in use.
func UnregisterTimecounter(tc *Timecounter) error {
	tcMu.Lock()
	defer tcMu.Unlock()
	if tc == &tscCounter || ActiveTimecounter() == tc || tcPending.Load() == tc {
		return fmt.Errorf("timecounter %s is in use", tc.Name)
	}
	for i, o := range tcList {
		if o == tc {
			tcList = append(tcList[:i], tcList[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("timecounter %s is not registered", tc.Name)
}

// TSCTimecounter returns the TSC's counter.
func TSCTimecounter() *Timecounter { return &tscCounter }

// Timecounters lists the registered counters, best quality first.
func Timecounters() []*Timecounter {
	tcMu.Lock()
	l := append([]*Timecounter(nil), tcList...)
	tcMu.Unlock()
	sort.SliceStable(l, func(i, j int) bool { return l[i].Quality > l[j].Quality })
	return l
}

// LookupTimecounter finds a registered counter by name (any case).
func LookupTimecounter(name string) *Timecounter {
	for _, tc := range Timecounters() {
		if strings.EqualFold(tc.Name, name) {
			return tc
		}
	}
	return nil
}

// ActiveTimecounter returns the counter the clock reads now.
func ActiveTimecounter() *Timecounter {
	if th := curHands.Load(); th != nil {
		return th.tc.Load()
	}
	return &tscCounter
}

// ErrSwitchTimeout means no tick applied a switch in time.
var ErrSwitchTimeout = errors.New("timecounter: switch not applied by a tick")

// SetTimecounter makes tc the clock's counter and returns once a
// tick has switched to it (at most a few ticks). Only a registered
// counter may be chosen.
func SetTimecounter(tc *Timecounter) error {
	tcMu.Lock()
	registered := false
	for _, o := range tcList {
		registered = registered || o == tc
	}
	if !registered {
		tcMu.Unlock()
		return fmt.Errorf("timecounter %s is not registered", tc.Name)
	}
	if ActiveTimecounter() == tc {
		tcMu.Unlock()
		return nil
	}
	tcPending.Store(tc) // under tcMu: UnregisterTimecounter sees it
	tcMu.Unlock()
	for i := 0; i < 5000; i++ {
		if ActiveTimecounter() == tc && tcPending.Load() != tc {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	tcPending.CompareAndSwap(tc, nil)
	return ErrSwitchTimeout
}

// Hz returns the counter's rate (the TSC's follows SetTSCFreq).
func (tc *Timecounter) Hz() uint64 {
	if tc == &tscCounter {
		return tscFreq.Load()
	}
	return tc.Freq
}

// pairSample reads tc between two TSC readings with interrupts off and
// keeps the tightest of a few tries: a host that deschedules the virtual
// CPU between the readings (TCG on a loaded machine) then costs one try,
// not the measurement. It returns the TSC at the counter's reading.
func pairSample(tc *Timecounter) (tsc, count uint64) {
	best := ^uint64(0)
	for try := 0; try < 8; try++ {
		s := IntrDisable()
		t1 := amd64.Rdtsc()
		c := tc.Read()
		t2 := amd64.Rdtsc()
		IntrRestore(s)
		if t2-t1 < best {
			best, tsc, count = t2-t1, t1+(t2-t1)/2, c
		}
	}
	return tsc, count
}

// CountAgainstTSC samples tc and the TSC at the start and end of about
// d (sleeping between, reading tc every millisecond or so to follow its
// wraps) and returns how many TSC ticks and tc counts passed.
func CountAgainstTSC(tc *Timecounter, d time.Duration) (ticks, counts uint64) {
	t0, prev := pairSample(tc)
	deadline := nanotime() + int64(d)
	for nanotime() < deadline {
		time.Sleep(time.Millisecond)
		c := tc.Read()
		counts += (c - prev) & tc.mask()
		prev = c
	}
	t1, c := pairSample(tc)
	counts += (c - prev) & tc.mask()
	return t1 - t0, counts
}

// MulDiv returns a*b/c without intermediate overflow, or 0 when the
// result overflows or c is 0.
func MulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if c == 0 || hi >= c {
		return 0
	}
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// MeasureFreq returns tc's rate as the TSC sees it over about d.
func MeasureFreq(tc *Timecounter, d time.Duration) uint64 {
	ticks, counts := CountAgainstTSC(tc, d)
	return MulDiv(counts, TSCHz(), ticks)
}

// MeasureTSC returns the TSC's rate measured against ref over about d.
func MeasureTSC(ref *Timecounter, d time.Duration) uint64 {
	ticks, counts := CountAgainstTSC(ref, d)
	return MulDiv(ticks, ref.Hz(), counts)
}

// SetTSCFreq makes hz the TSC's rate from now on (a recalibration
// against a better clock); the next tick applies it without a jump in
// time. It returns once applied.
func SetTSCFreq(hz uint64) error {
	if hz < 1e6 {
		return fmt.Errorf("timecounter: TSC rate %d Hz out of range", hz)
	}
	tscNewFreq.Store(hz)
	for i := 0; i < 5000; i++ {
		if tscNewFreq.Load() == 0 && tscFreq.Load() == hz {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return ErrSwitchTimeout
}

// TimecounterStats reports switches and windups so far.
func TimecounterStats() (switches, windups uint64) { return tcSwitches.Load(), tcWindups.Load() }

// MaxWindupGap returns the longest time between two windups of a narrow
// counter since the last call, and starts a new measurement.
func MaxWindupGap() time.Duration {
	g := maxWindupGap.Swap(0)
	return time.Duration(MulDiv(g, 1e9, TSCHz()))
}

func cmdClock(w io.Writer, args []string) {
	if len(args) == 1 {
		tc := LookupTimecounter(args[0])
		if tc == nil {
			fmt.Fprintf(w, "clock: no timecounter %q (see 'clock')\n", args[0])
			return
		}
		if err := SetTimecounter(tc); err != nil {
			fmt.Fprintf(w, "clock: %v\n", err)
			return
		}
		fmt.Fprintf(w, "clock: now %s\n", tc.Name)
		return
	}
	act := ActiveTimecounter()
	fmt.Fprintf(w, "%-8s %14s %4s %7s %8s\n", "counter", "Hz", "bits", "quality", "read ns")
	for _, tc := range Timecounters() {
		mark := " "
		if tc == act {
			mark = "*"
		}
		fmt.Fprintf(w, "%s%-7s %14d %4d %7d %8d\n", mark, tc.Name, tc.Hz(), tc.Bits, tc.Quality, tc.Cost)
	}
	sw, wu := TimecounterStats()
	fmt.Fprintf(w, "uptime %v, %d switches, %d windups; 'clock NAME' switches\n",
		time.Duration(nanotime()).Truncate(time.Millisecond), sw, wu)
	thz, pit := TickTimerHz()
	fmt.Fprintf(w, "tick %d Hz on the LAPIC timer at %d Hz (the PIT's calibration: %d Hz)\n", HZ, thz, pit)
}

func init() {
	RegisterCommand("clock", "timecounters (* = in use); 'clock NAME' switches", cmdClock)
	RegisterOption(OptionSpec{Name: "clock", Help: "timecounter for the monotonic clock: tsc (default), hpet, acpi-pm"})
	RegisterStartup(Startup{Name: "clock", Fn: func() {
		v, ok := BootOption("clock")
		if !ok {
			return
		}
		tc := LookupTimecounter(v)
		if tc == nil {
			fmt.Printf("smpgo: clock=%s: no such timecounter here; staying on %s\n", v, ActiveTimecounter().Name)
			return
		}
		if err := SetTimecounter(tc); err != nil {
			fmt.Printf("smpgo: clock=%s: %v\n", v, err)
		}
	}})
}
