package vtnet

import (
	"fmt"
	"time"

	"github.com/smpgo/smpgo/drivers/virtio"
)

// Health is what the watchdog samples from the device and the driver.
type Health struct {
	Status          uint8         // device_status
	MalformedUsed   bool          // a used ring ran ahead of what was posted
	TxInFlight      int           // transmit chains the device holds
	SinceTxProgress time.Duration // since the last transmit completion (or the ring was empty)
}

// Diagnose returns why the device needs a reset, or "" if it looks
// healthy: DEVICE_NEEDS_RESET (§2.1.2), DRIVER_OK gone (the device was
// reset, or the platform turned it off), a malformed used ring, or
// transmit completions stalled for longer than stall with frames in
// flight.
func Diagnose(h Health, stall time.Duration) string {
	switch {
	case h.Status&virtio.STATUS_DEVICE_NEEDS_RESET != 0:
		return "device set DEVICE_NEEDS_RESET"
	case h.Status&virtio.STATUS_DRIVER_OK == 0:
		return fmt.Sprintf("device status %#x: DRIVER_OK lost", h.Status)
	case h.MalformedUsed:
		return "malformed used ring"
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
