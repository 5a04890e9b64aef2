package kern

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/arch/amd64"
)

// The LAPIC timer's rate. Each CPU's tick is its LAPIC timer in periodic
// mode, its period counted in the timer's own clock (the bus clock divided
// by 16), whose rate the boot measures against the PIT over 10 ms
// together with the TSC's (clock.go). That window is only as good as the
// PIT's port reads: under an emulator on a loaded host it came out 0.8%
// to 8.5x long (clocksrc.recalibrate), making every tick that much longer
// (callouts and sleeps as late, the round robin as slow). Once the TSC has
// been recalibrated against a better clock, the LAPIC timer is measured
// against the TSC and every CPU's tick reprogrammed (RecalibrateTick).
//
// Time itself never depends on the tick's rate: the monotonic clock is
// the timecounter, and Ticks() is derived from it.

// tickInit is the initial count of one tick period (rate / HZ).
var tickInit atomic.Uint32

// TickTimerHz returns the LAPIC timer rate (counts per second) the ticks
// are programmed for, and the rate the boot's PIT calibration gave.
func TickTimerHz() (now, pit uint64) {
	return uint64(tickInit.Load()) * HZ, uint64(lapicPerMs) * 1000
}

// errNoTick: this CPU's LAPIC timer is not running.
var errNoTick = errors.New("lapic timer: not running on this CPU")

// MeasureTickTimer measures this CPU's LAPIC timer rate (counts per
// second) against the TSC at its current rate, while the tick runs: the
// timer's current count and the TSC are read in pairs (the TSC on both
// sides of the count, the pair's time their midpoint) half a period
// apart (or 2 ms apart, if the PIT made the period long), within one
// period; nine such samples, the median is the rate.
// Samples whose reads were interrupted (a pair wider than 50 µs) are
// retried, and so are those with two consecutive reads more than 0.5 ms
// apart: a vCPU descheduled that long may have slept through a reload
// and come back to a count below the start (seen: a median of 8.9 MHz
// for 62.5 MHz with 8 vCPUs on 2 loaded cores); with reads closer than
// half a period every reload shows as the count going up. It takes about
// five tick periods on a quiet machine.
func MeasureTickTimer() (uint64, error) {
	CriticalEnter() // one CPU's timer throughout
	defer CriticalExit()
	period := apic.TimerInitial()
	if period == 0 {
		return 0, errNoTick
	}
	tsc := TSCHz()
	var rates []uint64
	const tries = 300
	for try := 0; try < tries && len(rates) < 9; try++ {
		if r, ok := tickTimerSample(period, tsc); ok {
			rates = append(rates, r)
		}
	}
	if len(rates) < 5 {
		return 0, fmt.Errorf("lapic timer: %d of %d samples usable (the CPU kept being interrupted)", len(rates), tries)
	}
	slices.Sort(rates)
	return rates[len(rates)/2], nil
}

// tickTimerSample is one sample of MeasureTickTimer: false if the reads
// were interrupted or the count did not move within 100 ms of TSC.
func tickTimerSample(period uint32, tscHz uint64) (uint64, bool) {
	maxWidth := tscHz / 20000 // 50 µs
	maxGap := tscHz / 2000    // 0.5 ms: under half of a tick period even if the PIT made it 2x short
	window := tscHz / 500     // 2 ms, or half a period if that comes first
	read := func() (t uint64, c uint32, ok bool) {
		a := amd64.Rdtsc()
		c = apic.TimerCount()
		b := amd64.Rdtsc()
		return a + (b-a)/2, c, b-a <= maxWidth
	}
	t0, c0, ok0 := read()
	prev := t0
	for {
		t1, c1, ok1 := read()
		gap := t1 - prev
		prev = t1
		switch {
		case t1-t0 > tscHz/10:
			return 0, false
		case gap > maxGap:
			return 0, false // may have missed a reload
		case c1 > c0 || !ok0:
			// Reloaded (or the start was interrupted): start again from
			// here, near the top of a period.
			t0, c0, ok0 = t1, c1, ok1
		case c0-c1 >= period/2 || t1-t0 >= window && c0-c1 >= 1000:
			if !ok1 || t1 == t0 {
				return 0, false
			}
			return MulDiv(uint64(c0-c1), tscHz, t1-t0), true
		}
	}
}

// SetTickTimerHz reprograms every CPU's tick for a LAPIC timer counting
// hz per second (each CPU restarts its timer in a rendezvous, so its
// current period is cut short, never lengthened).
func SetTickTimerHz(hz uint64) error {
	n := hz / HZ
	if n < 1000 || n > 0xffffffff {
		return fmt.Errorf("lapic timer: %d Hz out of range", hz)
	}
	tickInit.Store(uint32(n))
	Rendezvous(func(int) { startTick() })
	return nil
}

// TickTimerInitials returns the initial count each CPU's LAPIC timer is
// programmed with (read on each CPU in a rendezvous).
func TickTimerInitials() []uint32 {
	out := make([]uint32, NumCPU())
	Rendezvous(func(cpu int) { out[cpu] = apic.TimerInitial() })
	return out
}

// RecalibrateTick measures the LAPIC timer against the TSC (call after
// the TSC's own recalibration) and, if two measurements agree within
// 1000 ppm, reprograms every CPU's tick with it. It returns the rate in
// use and the PIT's.
func RecalibrateTick() (hz, pit uint64, err error) {
	_, pit = TickTimerHz()
	for try := 0; try < 4; try++ {
		a, err1 := MeasureTickTimer()
		b, err2 := MeasureTickTimer()
		if err := errors.Join(err1, err2); err != nil {
			return 0, pit, err
		}
		if d := int64(b) - int64(a); d*1e6 > -1000*int64(a) && d*1e6 < 1000*int64(a) {
			hz = (a + b) / 2
			return hz, pit, SetTickTimerHz(hz)
		}
	}
	return 0, pit, errors.New("lapic timer: no two measurements agreed within 1000 ppm")
}

// CPUTicks returns the timer interrupts CPU cpu has taken.
func CPUTicks(cpu int) uint64 { return atomic.LoadUint64(&cpus[cpu].ticks) }
