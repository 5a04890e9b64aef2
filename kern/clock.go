package kern

import (
	"math/bits"
	"sync/atomic"

	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/arch/amd64"
)

// Clocks. The TSC is the default time source (timecounter.go), calibrated
// against the 8254 PIT channel 2 at boot (QEMU TCG offers no CPUID leaf
// 0x15 or invariant-TSC flag), then recalibrated against the HPET or the
// ACPI PM timer (drivers/clocksrc); the LAPIC timer gives each CPU its
// tick, its rate measured in the same PIT window, then against the
// recalibrated TSC (lapictimer.go). Monotonic time is nanoseconds since
// boot.
const (
	pitHz       = 1193182
	calibrateMs = 10
	// HZ is the scheduler tick rate: each tick costs ~25 µs under TCG.
	HZ = 250
)

var (
	tscBase    uint64       // (c) TSC at boot
	tscMult    uint64       // (c) ns = (tsc-tscBase)*tscMult >> 32
	tscHz      uint64       // (c)
	lapicPerMs uint32       // (c) LAPIC timer counts (divide 16) per ms, as the PIT measured them
	realOffset atomic.Int64 // ns to add to monotonic time for CLOCK_REALTIME
)

// pitWait busy-waits ms milliseconds on PIT channel 2 (mode 0, gate via
// port 0x61; OUT2 is bit 5 of port 0x61).
func pitWait(ms int) {
	count := pitHz * ms / 1000
	amd64.Outb(0x61, amd64.Inb(0x61)&^0x02|0x01)
	amd64.Outb(0x43, 0xb0) // channel 2, lobyte/hibyte, mode 0, binary
	amd64.Outb(0x42, uint8(count))
	amd64.Outb(0x42, uint8(count>>8))
	for i := 0; i < 100000000 && amd64.Inb(0x61)&0x20 == 0; i++ {
	}
}

// calibrate measures the TSC and LAPIC timer rates against the PIT.
func calibrate() {
	// One-shot, masked by an unused vector: only the count is read.
	apic.StartTimer(vecTimer, 0xffffffff, false)
	t0 := amd64.Rdtsc()
	c0 := apic.TimerCount()
	pitWait(calibrateMs)
	t1 := amd64.Rdtsc()
	c1 := apic.TimerCount()
	apic.StopTimer()
	tscHz = (t1 - t0) * (1000 / calibrateMs)
	if tscHz == 0 {
		tscHz = 1000000000
	}
	lapicPerMs = (c0 - c1) / calibrateMs
	if lapicPerMs == 0 {
		lapicPerMs = 1
	}
	tickInit.Store(max(lapicPerMs*1000/HZ, 1))
	hi, lo := bits.Mul64(1000000000, 1<<32)
	tscMult, _ = bits.Div64(hi, lo, tscHz)
	tscBase = t0
	initHands()
}

// Nanotime returns monotonic nanoseconds since boot.
func Nanotime() int64 { return nanotime() }

// SetRealtime sets CLOCK_REALTIME to unixNs now.
func SetRealtime(unixNs int64) { realOffset.Store(unixNs - nanotime()) }

// TSCHz returns the calibrated TSC frequency.
func TSCHz() uint64 { return tscFreq.Load() }

// startTick starts this CPU's periodic scheduler tick.
func startTick() {
	apic.StartTimer(vecTimer, tickInit.Load(), true)
}
