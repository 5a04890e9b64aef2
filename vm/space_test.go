package vm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReserveHintAndFirstFit(t *testing.T) {
	var s Space
	a, err := s.Reserve(0, 8192, false)
	require.NoError(t, err)
	require.Equal(t, uintptr(SpaceBase), a)
	b, err := s.Reserve(0, 100, false)
	require.NoError(t, err)
	require.Equal(t, uintptr(SpaceBase+8192), b, "adjacent, page-rounded")
	require.Equal(t, 1, s.Len(), "adjacent ranges merge")

	h := uintptr(0x382c18000000)
	c, err := s.Reserve(h, 64<<20, false)
	require.NoError(t, err)
	require.Equal(t, h, c, "a free hint is honoured")
	d, err := s.Reserve(h+4096, 4096, false)
	require.NoError(t, err)
	require.NotEqual(t, h+4096, d, "a taken hint is not")
	require.Equal(t, uintptr(SpaceBase+3*4096), d)

	_, err = s.Reserve(0x1000, 4096, false)
	require.NoError(t, err, "a hint below the space falls back to first fit")
}

func TestFixedAndRelease(t *testing.T) {
	var s Space
	base := uintptr(SpaceBase + 1<<30)
	_, err := s.Reserve(base, 16*PageSize, true)
	require.NoError(t, err)
	_, err = s.Reserve(base+4*PageSize, 4*PageSize, true)
	require.NoError(t, err, "MAP_FIXED over a reservation")
	require.Equal(t, 1, s.Len())

	require.NoError(t, s.Release(base+4*PageSize, 2*PageSize))
	require.Equal(t, 2, s.Len(), "a hole splits the range")
	require.True(t, s.Contains(base))
	require.False(t, s.Contains(base+4*PageSize))
	require.False(t, s.Contains(base+6*PageSize-1))
	require.True(t, s.Contains(base+6*PageSize))
	require.Equal(t, uintptr(14*PageSize), s.Bytes())

	require.NoError(t, s.Release(base-PageSize, 5*PageSize))
	require.Equal(t, 1, s.Len())
	require.NoError(t, s.Release(base+6*PageSize, 10*PageSize))
	require.Equal(t, 0, s.Len())

	_, err = s.Reserve(0x1000, PageSize, true)
	require.ErrorIs(t, err, ErrBadRange)
	_, err = s.Reserve(base+1, PageSize, true)
	require.ErrorIs(t, err, ErrBadRange)
}

func TestManyMergesStaySorted(t *testing.T) {
	var s Space
	for i := 0; i < 100; i += 2 {
		_, err := s.Reserve(SpaceBase+uintptr(i)*PageSize, PageSize, true)
		require.NoError(t, err)
	}
	require.Equal(t, 50, s.Len())
	for i := 1; i < 100; i += 2 {
		_, err := s.Reserve(SpaceBase+uintptr(i)*PageSize, PageSize, true)
		require.NoError(t, err)
	}
	require.Equal(t, 1, s.Len())
	require.Equal(t, uintptr(100*PageSize), s.Bytes())
}
