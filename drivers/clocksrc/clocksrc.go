// Package clocksrc registers the PC's other clocks as kernel
// timecounters (kern/timecounter.go) when ACPI describes them: the HPET
// (IA-PC HPET Specification 1.0a: a 64- or 32-bit main counter at
// 10 MHz or more, memory-mapped) and the ACPI PM timer (ACPI 6.5
// §4.8.3.3: a 24- or 32-bit counter at 3.579545 MHz in an I/O port).
// The TSC stays the default clock; boot option clock=hpet or
// clock=acpi-pm, or the shell's 'clock NAME', switches.
package clocksrc

import (
	"errors"
	"fmt"
	"time"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/arch/amd64/acpi"
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/vm"
)

// HPET registers (specification §2.3.1): byte offsets in the block.
const (
	hpetGCAP      = 0x000 // General Capabilities and ID
	hpetGCONF     = 0x010 // General Configuration
	hpetMainCnt   = 0x0f0 // Main Counter Value
	hpetBlockSize = 0x400

	gcapCountSize = 1 << 13 // COUNT_SIZE_CAP: the main counter has 64 bits
	gconfEnable   = 1 << 0  // ENABLE_CNF: the main counter runs

	// maxPeriodFs is the slowest tick the specification allows:
	// 100 ns (§2.3.4: COUNTER_CLK_PERIOD ≤ 0x05F5E100).
	maxPeriodFs = 100000000

	pmTimerHz = 3579545
)

// Qualities, as FreeBSD ranks the same clocks (above the TSC's 800:
// they are one counter shared by every CPU, but slower to read).
const (
	qualityHPET = 950
	qualityPM   = 900
)

// HPETCaps is what the HPET's capabilities register says about its main
// counter.
type HPETCaps struct {
	PeriodFs uint32 // femtoseconds per count
	Bits     uint   // 64 or 32
	Timers   int    // comparators
	Vendor   uint16
}

// ErrHPETPeriod means a capabilities register with an out-of-range
// period: no HPET (all ones from an unmapped address) or a broken one.
var ErrHPETPeriod = errors.New("clocksrc: HPET period out of range")

// DecodeHPETCaps decodes the General Capabilities and ID register.
func DecodeHPETCaps(gcap uint64) (HPETCaps, error) {
	c := HPETCaps{
		PeriodFs: uint32(gcap >> 32),
		Bits:     32,
		Timers:   int(gcap>>8&0x1f) + 1,
		Vendor:   uint16(gcap >> 16),
	}
	if gcap&gcapCountSize != 0 {
		c.Bits = 64
	}
	if c.PeriodFs == 0 || c.PeriodFs > maxPeriodFs {
		return c, fmt.Errorf("%w: %d fs", ErrHPETPeriod, c.PeriodFs)
	}
	return c, nil
}

// Freq returns the counter's rate in Hz.
func (c HPETCaps) Freq() uint64 { return (1e15 + uint64(c.PeriodFs)/2) / uint64(c.PeriodFs) }

var (
	hpetCounter *kern.Timecounter
	pmCounter   *kern.Timecounter
	probeErrs   []string

	// The boot's TSC recalibration: the rate the PIT gave, the rate
	// measured against the reference, and which reference.
	pitTSC, refTSC uint64
	refName        string
)

// recalibrateFor is how long the TSC is counted against the reference:
// long enough that the sampling error (a few microseconds at each end
// under TCG) stays below 100 ppm, short enough not to slow the boot.
const recalibrateFor = 100 * time.Millisecond

// recalibrate measures the TSC against the HPET (else the PM timer) and
// adopts that rate: the boot's 10 ms PIT calibration polls an I/O port
// whose latency, under an emulator on a loaded host, can add
// milliseconds to the interval (seen: 0.8% to 8.5x too fast), which made
// the TSC's clock run slow. The PIT's figure is no sanity bound for that
// reason; the measurement is checked against itself instead: two
// consecutive windows must agree within 1000 ppm (a few tries).
func recalibrate() {
	ref := hpetCounter
	if ref == nil {
		ref = pmCounter
	}
	if ref == nil {
		return
	}
	pit := kern.TSCHz()
	var hz uint64
	for try := 0; try < 4 && hz == 0; try++ {
		a := kern.MeasureTSC(ref, recalibrateFor/2)
		b := kern.MeasureTSC(ref, recalibrateFor/2)
		if d := PPM(a, b); a >= 1e6 && d > -1000 && d < 1000 {
			hz = (a + b) / 2
		}
	}
	if hz == 0 {
		fmt.Printf("clocksrc: TSC against %s: no two measurements agreed; keeping the PIT's %d Hz\n", ref.Name, pit)
		return
	}
	if err := kern.SetTSCFreq(hz); err != nil {
		fmt.Printf("clocksrc: TSC rate: %v\n", err)
		return
	}
	pitTSC, refTSC, refName = pit, hz, ref.Name
	fmt.Printf("clocksrc: TSC %d.%03d MHz against %s (the PIT's calibration was %+d ppm off)\n",
		hz/1000000, hz/1000%1000, ref.Name, PPM(hz, pit))
	// The ticks' LAPIC timer was measured in the same PIT window.
	lhz, lpit, err := kern.RecalibrateTick()
	if err != nil {
		fmt.Printf("clocksrc: tick: %v; keeping the PIT's %d Hz\n", err, lpit)
		return
	}
	fmt.Printf("clocksrc: LAPIC timer %d.%03d MHz against the TSC (the PIT's calibration was %+d ppm off)\n",
		lhz/1000000, lhz/1000%1000, PPM(lhz, lpit))
}

// PPM returns (b-a)/a in parts per million.
func PPM(a, b uint64) int64 {
	if a == 0 {
		return 0
	}
	return (int64(b) - int64(a)) * 1000000 / int64(a)
}

// probeHPET maps the HPET's registers, starts its main counter when the
// firmware left it stopped, and registers it.
func probeHPET(t *acpi.HPET) error {
	if t.BaseAddress.AddressSpaceID != acpi.AddressSpaceSystemMemory || t.BaseAddress.Address == 0 {
		return fmt.Errorf("HPET registers not in memory (space %d at %#x)", t.BaseAddress.AddressSpaceID, t.BaseAddress.Address)
	}
	va, err := kern.MapMMIO(uintptr(t.BaseAddress.Address), hpetBlockSize, vm.UC)
	if err != nil {
		return fmt.Errorf("HPET at %#x: %v", t.BaseAddress.Address, err)
	}
	caps, err := DecodeHPETCaps(amd64.Load64(va + hpetGCAP))
	if err != nil {
		return err
	}
	if conf := amd64.Load64(va + hpetGCONF); conf&gconfEnable == 0 {
		amd64.Store64(va+hpetGCONF, conf|gconfEnable)
	}
	reg := va + hpetMainCnt
	read := func() uint64 { return uint64(amd64.Load32(reg)) }
	if caps.Bits == 64 {
		// Two 32-bit reads, high word before and after: a 64-bit read
		// may reach the device as two 32-bit ones (the specification
		// allows 32-bit-only access), torn when the low word wraps.
		read = func() uint64 {
			for {
				hi := amd64.Load32(reg + 4)
				lo := amd64.Load32(reg)
				if amd64.Load32(reg+4) == hi {
					return uint64(hi)<<32 | uint64(lo)
				}
			}
		}
	}
	a := read()
	for i := 0; i < 1000000 && read() == a; i++ {
		amd64.Pause()
	}
	if read() == a {
		return fmt.Errorf("HPET at %#x: main counter does not run", t.BaseAddress.Address)
	}
	tc := &kern.Timecounter{Name: "HPET", Freq: caps.Freq(), Bits: caps.Bits, Quality: qualityHPET, Read: read}
	if err := kern.RegisterTimecounter(tc); err != nil {
		return err
	}
	hpetCounter = tc
	return nil
}

// probePM registers the ACPI PM timer.
func probePM(f *acpi.FADT) error {
	reg, ok := f.PMTimer()
	if !ok {
		return errors.New("the FADT gives no PM timer")
	}
	var read func() uint64
	switch reg.AddressSpaceID {
	case acpi.AddressSpaceSystemIO:
		if reg.Address == 0 || reg.Address > 0xfffc {
			return fmt.Errorf("PM timer port %#x out of range", reg.Address)
		}
		port := uint16(reg.Address)
		read = func() uint64 { return uint64(amd64.Inl(port)) }
	case acpi.AddressSpaceSystemMemory:
		va, err := kern.MapMMIO(uintptr(reg.Address), 4, vm.UC)
		if err != nil {
			return fmt.Errorf("PM timer at %#x: %v", reg.Address, err)
		}
		read = func() uint64 { return uint64(amd64.Load32(va)) }
	default:
		return fmt.Errorf("PM timer in address space %d", reg.AddressSpaceID)
	}
	bits := uint(f.TimerBits())
	mask := uint64(1)<<bits - 1
	masked := func() uint64 { return read() & mask }
	a := masked()
	for i := 0; i < 1000000 && masked() == a; i++ {
		amd64.Pause()
	}
	if masked() == a {
		return fmt.Errorf("PM timer at %#x does not run", reg.Address)
	}
	tc := &kern.Timecounter{Name: "ACPI-PM", Freq: pmTimerHz, Bits: bits, Quality: qualityPM, Read: masked}
	if err := kern.RegisterTimecounter(tc); err != nil {
		return err
	}
	pmCounter = tc
	return nil
}

func init() {
	if !kern.Booted() {
		return // a host test binary
	}
	tabs := kern.GetTopology().Tables
	if tabs == nil {
		probeErrs = append(probeErrs, "no ACPI tables")
		return
	}
	if tabs.HPET != nil {
		if err := probeHPET(tabs.HPET); err != nil {
			probeErrs = append(probeErrs, err.Error())
			fmt.Printf("clocksrc: %v\n", err)
		}
	}
	if tabs.FADT != nil {
		if err := probePM(tabs.FADT); err != nil {
			probeErrs = append(probeErrs, err.Error())
			fmt.Printf("clocksrc: %v\n", err)
		}
	}
	kern.RegisterStartup(kern.Startup{Name: "clocksrc", Fn: recalibrate})
}
