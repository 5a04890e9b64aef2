// Package rtc sets the kernel's wall clock from the PC's MC146818 real
// time clock at boot, through tamago's driver (soc/intel/rtc): CMOS
// registers in BCD, 24-hour mode, UTC (what QEMU and PC firmware keep).
// CLOCK_REALTIME is then the RTC's time plus the TSC's monotonic clock
// since the read (kern.SetRealtime), so time.Now() returns the real date.
package rtc

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	mc146818 "github.com/usbarmory/tamago/soc/intel/rtc"

	"github.com/smpgo/smpgo/kern"
)

var (
	bootTime  atomic.Pointer[time.Time]
	readErr   atomic.Pointer[string]
	attempts  atomic.Int64
	errNoTime = errors.New("rtc: no stable reading")
)

func init() {
	if !kern.Booted() {
		return // a host test binary: no RTC to touch
	}
	t, err := Read()
	if err != nil {
		s := err.Error()
		readErr.Store(&s)
		fmt.Printf("rtc: %v; CLOCK_REALTIME stays at the epoch\n", err)
		return
	}
	kern.SetRealtime(t.UnixNano())
	bootTime.Store(&t)
	kern.RegisterCommand("date", "wall-clock time (from the RTC at boot) and uptime", cmdDate)
}

// Read reads the RTC: retried while an update is in progress (register
// A's UIP bit, which tamago's driver reports as an error) and until two
// consecutive readings agree, so no field is torn by an update between
// reads. Bounded: a clock that never settles is an error.
func Read() (time.Time, error) {
	r := &mc146818.RTC{Location: time.UTC}
	for i := 0; i < 2000; i++ {
		attempts.Add(1)
		a, err := r.Now()
		if err != nil {
			spin(50 * time.Microsecond)
			continue
		}
		b, err := r.Now()
		if err != nil || !a.Equal(b) {
			continue
		}
		if y := a.Year(); y < 2000 || y > 2199 {
			return time.Time{}, fmt.Errorf("rtc: implausible date %v", a)
		}
		return a, nil
	}
	return time.Time{}, errNoTime
}

// spin waits d without sleeping (init runs before the shell and tests,
// and a sleep would only add a timer for a few microseconds).
func spin(d time.Duration) {
	end := kern.Nanotime() + int64(d)
	for kern.Nanotime() < end {
	}
}

// BootTime returns the time read at boot, and whether there was one.
func BootTime() (time.Time, bool) {
	if t := bootTime.Load(); t != nil {
		return *t, true
	}
	return time.Time{}, false
}

func cmdDate(w io.Writer, _ []string) {
	fmt.Fprintf(w, "%s (up %v)\n", time.Now().UTC().Format(time.RFC1123), time.Duration(kern.Nanotime()).Round(time.Millisecond))
	if t, ok := BootTime(); ok {
		fmt.Fprintf(w, "RTC at boot: %s\n", t.Format(time.RFC3339))
	}
}
