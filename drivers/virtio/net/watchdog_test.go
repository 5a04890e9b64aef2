package vtnet

import (
	"testing"
	"time"

	"github.com/smpgo/smpgo/drivers/virtio"
	"github.com/stretchr/testify/assert"
)

func TestDiagnose(t *testing.T) {
	const live = virtio.STATUS_ACKNOWLEDGE | virtio.STATUS_DRIVER | virtio.STATUS_FEATURES_OK | virtio.STATUS_DRIVER_OK
	stall := 5 * time.Second
	cases := []struct {
		h    Health
		want string
	}{
		{Health{Status: live}, ""},
		{Health{Status: live, TxInFlight: 10, SinceTxProgress: time.Second}, ""},
		{Health{Status: live, TxInFlight: 0, SinceTxProgress: time.Hour}, ""}, // idle, not stalled
		{Health{Status: live, TxInFlight: 1, SinceTxProgress: 6 * time.Second}, "transmit completions stalled"},
		{Health{Status: live | virtio.STATUS_DEVICE_NEEDS_RESET}, "device set DEVICE_NEEDS_RESET"},
		{Health{Status: 0}, "device status 0x0: DRIVER_OK lost"},
		{Health{Status: live &^ virtio.STATUS_DRIVER_OK}, "device status 0xb: DRIVER_OK lost"},
		{Health{Status: live, MalformedUsed: true}, "malformed used ring"},
		// NEEDS_RESET wins over the rest.
		{Health{Status: virtio.STATUS_DEVICE_NEEDS_RESET, MalformedUsed: true, TxInFlight: 1, SinceTxProgress: time.Hour}, "device set DEVICE_NEEDS_RESET"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Diagnose(c.h, stall), "%+v", c.h)
	}
}

func TestBackoff(t *testing.T) {
	base, max := 250*time.Millisecond, time.Minute
	w := base
	var seen []time.Duration
	for i := 0; i < 12; i++ {
		w = Backoff(w, base, max, true)
		seen = append(seen, w)
	}
	assert.Equal(t, 500*time.Millisecond, seen[0])
	assert.Equal(t, time.Second, seen[1])
	assert.Equal(t, max, seen[len(seen)-1], "capped")
	assert.Equal(t, base, Backoff(w, base, max, false), "a good reset goes back to the base period")
}
