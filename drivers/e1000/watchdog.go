package e1000

import (
	"fmt"
	"time"
)

// The watchdog (Device.watchdog) samples the device's control registers
// and the transmit ring a few times a second and resets the device when
// what it sees cannot be a healthy 8254x: interrupts alone would never
// tell, since a device that reset itself (or was reset behind the
// driver's back) raises none.
const (
	watchdogPeriod = 250 * time.Millisecond
	// txStall is how long transmit completions may stop with frames in
	// flight before the device is reset (generous: under TCG on a loaded
	// host QEMU's device thread can be starved for seconds).
	txStall = 5 * time.Second
)

// Health is what the watchdog samples from the device and the driver.
type Health struct {
	RCTL, TCTL      uint32        // receive and transmit control (§13.4.22, §13.4.33)
	RDLEN, TDLEN    uint32        // descriptor ring lengths (§13.4.27, §13.4.38)
	TxInFlight      int           // descriptors the device holds
	SinceTxProgress time.Duration // since the last transmit completion (or the ring was empty)
}

// Diagnose returns why the device needs a reset, or "" if it looks
// healthy: receiver or transmitter disabled (a device reset clears
// RCTL/TCTL, §14.9), ring lengths not the driver's, or transmit
// completions stalled for longer than stall with frames in flight.
func Diagnose(h Health, stall time.Duration) string {
	const ringLen = nDesc * DescSize
	switch {
	case h.RCTL&RCTL_EN == 0 || h.TCTL&TCTL_EN == 0:
		return fmt.Sprintf("receiver/transmitter disabled (RCTL %#x TCTL %#x)", h.RCTL, h.TCTL)
	case h.RDLEN != ringLen || h.TDLEN != ringLen:
		return fmt.Sprintf("descriptor ring lengths %d/%d, not %d", h.RDLEN, h.TDLEN, ringLen)
	case h.TxInFlight > 0 && h.SinceTxProgress > stall:
		return "transmit completions stalled"
	}
	return ""
}

// Backoff returns the watchdog's next period: back to base after a
// successful reset, doubled (up to max) after a failed one, so a dead
// device is retried ever more rarely instead of flooding the console.
func Backoff(cur, base, max time.Duration, failed bool) time.Duration {
	if !failed {
		return base
	}
	return min(2*cur, max)
}
