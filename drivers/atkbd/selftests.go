package atkbd

import (
	"time"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/kern"
)

// testThroughController types a line through the controller itself: the
// i8042's write-output-buffer command (0xD2) makes the next data byte
// arrive as if the keyboard had sent it, raising IRQ 1. Every scan code
// must take the whole path (I/O APIC → filter → decoder) and the decoded
// text must be exactly the line typed.
func testThroughController(t *kern.T) {
	if !drv.present {
		t.Logf("no PS/2 keyboard controller (%v): nothing to test", drv.err)
		return
	}
	const line = "show Locks, 42 times!\n"
	codes := Encode(line)
	drv.capN.Store(0)
	drv.capture.Store(true)
	defer drv.capture.Store(false)
	s0 := Read()
	for i, c := range codes {
		before := drv.scancodes.Load()
		f := kern.IntrDisable() // the filter must not take the byte between command and data
		err := command(cmdWriteOutBuf)
		if err == nil {
			err = writeData(c)
		}
		kern.IntrRestore(f)
		if err != nil {
			t.Fatalf("scan code %d (%#x): %v", i, c, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for drv.scancodes.Load() == before {
			if time.Now().After(deadline) {
				t.Fatalf("scan code %d (%#x): no interrupt in 5 s (status %#x)", i, c, amd64.Inb(portStatus))
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	s1 := Read()
	got := string(drv.capBuf[:drv.capN.Load()])
	want := "show Locks, 42 times!\r"
	if got != want {
		t.Errorf("typed %q, decoded %q", want, got)
	}
	if n := s1.Scancodes - s0.Scancodes; n != uint64(len(codes)) {
		t.Errorf("%d scan codes sent, driver counted %d", len(codes), n)
	}
	// Only the filter reads the data port, so every byte came through an
	// interrupt; one interrupt may take two bytes when the next arrives
	// while its filter is still draining (seen under load).
	if n := s1.Interrupts - s0.Interrupts; n == 0 || n > uint64(len(codes)) {
		t.Errorf("%d scan codes, %d interrupts", len(codes), n)
	}
	t.Logf("typed %d scan codes through the i8042: %d interrupts, %q", len(codes), s1.Interrupts-s0.Interrupts, got)
}
