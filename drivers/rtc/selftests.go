package rtc

import (
	"strings"
	"time"

	"github.com/smpgo/smpgo/kern"
)

func init() {
	kern.RegisterTest(kern.Test{Name: "Clock/RealtimeFromRTC", Fn: testRealtime})
}

// testRealtime: time.Now() (CLOCK_REALTIME through the runtime) is the
// RTC's date: year 2025 or later, within a few seconds of a fresh RTC
// reading, and advancing with the monotonic clock.
func testRealtime(t *kern.T) {
	boot, ok := BootTime()
	if !ok {
		t.Fatalf("no RTC reading at boot: %v", *readErr.Load())
	}
	now := time.Now()
	if now.Year() < 2025 {
		t.Errorf("time.Now() = %v: year before 2025", now)
	}
	if now.Before(boot) {
		t.Errorf("time.Now() %v before the boot reading %v", now, boot)
	}
	fresh, err := Read()
	if err != nil {
		t.Fatalf("RTC read: %v", err)
	}
	// The RTC counts whole seconds; the kernel's clock runs on the TSC.
	// Under an emulator the two drift apart, so the bound is generous.
	if d := time.Until(fresh); d > time.Minute || d < -time.Minute {
		t.Errorf("time.Now() and the RTC differ by %v", d)
	}
	a := time.Now()
	time.Sleep(20 * time.Millisecond)
	if b := time.Now(); !b.After(a) {
		t.Errorf("wall clock did not advance: %v then %v", a, b)
	}
	var out strings.Builder
	kern.RunCommand(&out, "date")
	if !strings.Contains(out.String(), "RTC at boot") {
		t.Errorf("date output: %q", out.String())
	}
	t.Logf("RTC at boot %v, now %v", boot.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
}
