package e1000

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDiagnose(t *testing.T) {
	const ringLen = nDesc * DescSize
	live := Health{RCTL: RCTL_EN | RCTL_BAM, TCTL: TCTL_EN | TCTL_PSP, RDLEN: ringLen, TDLEN: ringLen}
	with := func(f func(*Health)) Health { h := live; f(&h); return h }
	stall := 5 * time.Second
	cases := []struct {
		h    Health
		want string
	}{
		{live, ""},
		{with(func(h *Health) { h.TxInFlight, h.SinceTxProgress = 10, time.Second }), ""},
		{with(func(h *Health) { h.SinceTxProgress = time.Hour }), ""}, // idle, not stalled
		{with(func(h *Health) { h.TxInFlight, h.SinceTxProgress = 1, 6*time.Second }), "transmit completions stalled"},
		{Health{}, "receiver/transmitter disabled (RCTL 0x0 TCTL 0x0)"}, // what a device reset leaves
		{with(func(h *Health) { h.TCTL = 0 }), "receiver/transmitter disabled (RCTL 0x8002 TCTL 0x0)"},
		{with(func(h *Health) { h.RDLEN = 0 }), "descriptor ring lengths 0/4096, not 4096"},
		// A disabled device wins over the rest.
		{Health{TxInFlight: 1, SinceTxProgress: time.Hour}, "receiver/transmitter disabled (RCTL 0x0 TCTL 0x0)"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Diagnose(c.h, stall), "%+v", c.h)
	}
}

func TestBackoff(t *testing.T) {
	base, max := 250*time.Millisecond, time.Minute
	w := base
	for i := 0; i < 12; i++ {
		w = Backoff(w, base, max, true)
	}
	assert.Equal(t, max, w)
	assert.Equal(t, base, Backoff(w, base, max, false))
	assert.Equal(t, 2*base, Backoff(base, base, max, true))
}
