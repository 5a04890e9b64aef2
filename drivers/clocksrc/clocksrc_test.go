package clocksrc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeHPETCaps(t *testing.T) {
	// QEMU's HPET: 10 ns period, 64-bit counter, 3 comparators, vendor 0x8086.
	c, err := DecodeHPETCaps(uint64(10000000)<<32 | 0x8086<<16 | 1<<13 | 2<<8 | 1)
	require.NoError(t, err)
	require.Equal(t, HPETCaps{PeriodFs: 10000000, Bits: 64, Timers: 3, Vendor: 0x8086}, c)
	require.Equal(t, uint64(100000000), c.Freq())

	// The common 14.31818 MHz part: 69841279 fs, 32-bit counter.
	c, err = DecodeHPETCaps(uint64(69841279)<<32 | 0x8086<<16)
	require.NoError(t, err)
	require.Equal(t, uint(32), c.Bits)
	require.InDelta(t, 14318180, float64(c.Freq()), 1)

	// All ones (nothing at the address) and zero are refused.
	_, err = DecodeHPETCaps(^uint64(0))
	require.ErrorIs(t, err, ErrHPETPeriod)
	_, err = DecodeHPETCaps(0)
	require.ErrorIs(t, err, ErrHPETPeriod)
}

func TestPPM(t *testing.T) {
	require.Equal(t, int64(0), PPM(1000000, 1000000))
	require.Equal(t, int64(1000), PPM(1000000, 1001000))
	require.Equal(t, int64(-500), PPM(2000000, 1999000))
	require.Equal(t, int64(0), PPM(0, 5))
}
