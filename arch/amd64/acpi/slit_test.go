package acpi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSLITDistances(t *testing.T) {
	s, err := ParseSLIT(slit(
		[]uint8{10, 16, 32, 255},
		[]uint8{16, 10, 21, 255},
		[]uint8{32, 21, 10, 255},
		[]uint8{255, 255, 255, 10},
	))
	require.NoError(t, err)
	require.Equal(t, 4, s.NumberOfSystemLocalities)
	require.Len(t, s.Entries, 16)
	for i := range 4 {
		require.Equal(t, SLIT_LOCAL, s.Distance(i, i))
	}
	require.Equal(t, 16, s.Distance(0, 1))
	require.Equal(t, 32, s.Distance(0, 2))
	require.Equal(t, 21, s.Distance(2, 1))
	require.Equal(t, SLIT_UNREACHABLE, s.Distance(3, 0))
	require.Equal(t, -1, s.Distance(4, 0))
	require.Equal(t, -1, s.Distance(0, -1))

	// Asymmetric matrices are kept as given: Entry[i][j] is i to j.
	s, err = ParseSLIT(slit([]uint8{10, 15}, []uint8{25, 10}))
	require.NoError(t, err)
	require.Equal(t, 15, s.Distance(0, 1))
	require.Equal(t, 25, s.Distance(1, 0))

	tb := &Tables{SLIT: s}
	require.Equal(t, 25, tb.Distance(1, 0))
	require.Equal(t, DefaultRemoteDistance, tb.Distance(2, 0), "outside the SLIT")
	require.Equal(t, SLIT_LOCAL, tb.Distance(5, 5), "outside the SLIT")
	require.Equal(t, -1, tb.Distance(-1, 0))
	require.Equal(t, 2, tb.NumDomains())
}

func TestSLITEmpty(t *testing.T) {
	s, err := ParseSLIT(slit())
	require.NoError(t, err)
	require.Zero(t, s.NumberOfSystemLocalities)
	require.Equal(t, -1, s.Distance(0, 0))
}

func TestSLITTruncated(t *testing.T) {
	for _, n := range []uint64{3, 1 << 32, 1<<64 - 1} {
		b := table("SLIT", 1, le(n), []byte{10, 20, 20, 10})
		_, err := ParseSLIT(b)
		var ee *EntryError
		require.ErrorAs(t, err, &ee, "N = %d", n)
		require.Equal(t, 4, ee.Length)
	}
	_, err := ParseSLIT(table("SLIT", 1, le(uint32(2))))
	var lerr *LengthError
	require.ErrorAs(t, err, &lerr)
}
