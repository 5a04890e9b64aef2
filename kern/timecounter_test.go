package kern

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// A windup moves the base to a reading; the time at any later reading
// must be the same through the old base or the new one, to the ns (the
// fraction is carried), or time steps back a ns at each windup.
func TestScaleWindupExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, hz := range []uint64{3579545, 14318180, 100000000, 2096010935, 3999999999} {
		mult := scaleFor(hz)
		for i := 0; i < 10000; i++ {
			ns0 := r.Int64N(1 << 50)
			mid := r.Uint64N(1 << 40)
			end := mid + r.Uint64N(1<<32)
			direct, _ := scale(ns0, 0, end, mult)
			wns, wfrac := scale(ns0, 0, mid, mult)
			via, _ := scale(wns, wfrac, end-mid, mult)
			require.Equal(t, direct, via, "hz %d, windup at %d, read at %d", hz, mid, end)
		}
	}
}

func TestScaleRate(t *testing.T) {
	for _, hz := range []uint64{3579545, 100000000, 2096010935} {
		ns, _ := scale(0, 0, hz, scaleFor(hz)) // one second of counts
		require.InDelta(t, 1e9, float64(ns), 1, "hz %d", hz)
	}
}
