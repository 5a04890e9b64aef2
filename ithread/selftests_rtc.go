package ithread

import (
	"time"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/kern/spin"
)

// The MC146818 RTC's periodic interrupt (ISA IRQ 8) as an I/O APIC test
// source: register A's rate select, register B's PIE bit, register C read
// to acknowledge (MC146818A datasheet, "Registers"). CMOS is an index/data
// port pair (0x70/0x71) shared by the test goroutine and the filter, so
// both hold rtcLock, the goroutine with interrupts off.
const (
	cmosIndex = 0x70
	cmosData  = 0x71
	cmosNMI   = 0x80 // keep NMI disabled while indexing

	RTC_REGA     = 0x0a
	RTC_REGB     = 0x0b
	RTC_REGC     = 0x0c
	REGA_RS      = 0x0f // rate select: 32768 >> (RS-1) Hz
	REGB_PIE     = 1 << 6
	REGC_PF      = 1 << 6
	rtcRate64Hz  = 0x0a // 32768 >> 9 = 64 Hz
	rtcTestTicks = 3
)

var rtcLock spin.Lock

func cmosRead(reg uint8) uint8 {
	amd64.Outb(cmosIndex, cmosNMI|reg)
	return amd64.Inb(cmosData)
}

func cmosWrite(reg, v uint8) {
	amd64.Outb(cmosIndex, cmosNMI|reg)
	amd64.Outb(cmosData, v)
}

// rtcPeriodic turns the periodic interrupt on or off.
func rtcPeriodic(on bool) {
	f := kern.IntrDisable()
	rtcLock.Acquire(kern.CPUID())
	if on {
		cmosWrite(RTC_REGA, cmosRead(RTC_REGA)&^REGA_RS|rtcRate64Hz)
		cmosWrite(RTC_REGB, cmosRead(RTC_REGB)|REGB_PIE)
	} else {
		cmosWrite(RTC_REGB, cmosRead(RTC_REGB)&^REGB_PIE)
	}
	cmosRead(RTC_REGC)
	rtcLock.Release()
	kern.IntrRestore(f)
}

// rtcFilter acknowledges the RTC (trap context).
func rtcFilter(cpuSeen *[kern.MaxCPU]uint64) func() int {
	return func() int {
		rtcLock.Acquire(kern.CPUID())
		c := cmosRead(RTC_REGC)
		rtcLock.Release()
		if c&REGC_PF == 0 {
			return FilterStray
		}
		cpuSeen[kern.CPUID()]++
		return FilterHandled
	}
}

// IRQ 8 routed through the I/O APIC to each CPU in turn: the redirection
// entry names that CPU's APIC ID and the allocated vector with the
// route's trigger and polarity, and the filter runs there.
func testRTC(t *kern.T) {
	r, err := ISARoute(8)
	if err != nil {
		t.Fatalf("ISARoute(8): %v", err)
	}
	ev, err := SetupISA("rtc", 8, 0)
	if err != nil {
		t.Fatalf("SetupISA: %v", err)
	}
	defer func() {
		rtcPeriodic(false)
		ev.src.Mask()
	}()
	seen := new([kern.MaxCPU]uint64)
	if err := ev.AddHandler(&Handler{Name: "rtc", Flags: MPSAFE, Filter: rtcFilter(seen)}); err != nil {
		t.Fatalf("AddHandler: %v", err)
	}
	for cpu := 0; cpu < kern.NumCPU(); cpu++ {
		rtcPeriodic(false)
		if err := ev.Bind(cpu); err != nil {
			t.Fatalf("Bind(%d): %v", cpu, err)
		}
		e, ok := RedirEntry(ev)
		_, vec := ev.CPU()
		switch {
		case !ok:
			t.Fatalf("IRQ 8 has no redirection entry")
		case uint32(e.Dest()) != kern.APICID(cpu) || e.Vector() != vec || e.Masked():
			t.Errorf("CPU %d: entry %v, want dest %d vector %#x unmasked", cpu, e, kern.APICID(cpu), vec)
		case e.Level() != r.Level || e.ActiveLow() != r.ActiveLow:
			t.Errorf("entry %v does not match route %v", e, r)
		}
		before := seen[cpu]
		rtcPeriodic(true)
		deadline := time.Now().Add(10 * time.Second)
		for seen[cpu]-before < rtcTestTicks && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := seen[cpu] - before; got < rtcTestTicks {
			t.Errorf("CPU %d: %d RTC interrupts, want %d", cpu, got, rtcTestTicks)
		}
	}
	rtcPeriodic(false)
	s := ev.Stats()
	t.Logf("route %v; per CPU %v; stray %d", r, s.PerCPU, s.Stray)
}
