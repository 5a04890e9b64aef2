package vm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIndex(t *testing.T) {
	va := uintptr(0x382c1a800000 + 0x5000 + 0x123)
	require.Equal(t, int(va>>39)&511, Index(va, 4))
	require.Equal(t, int(va>>30)&511, Index(va, 3))
	require.Equal(t, int(va>>21)&511, Index(va, 2))
	require.Equal(t, 5, Index(va, 1))
	require.Equal(t, 0, Index(0xfff, 1))
	require.Equal(t, 255, Index(0x7fffffffffff, 4), "lower half: PML4 0..255")
	require.Equal(t, uintptr(1<<21), levelSize(2))
	require.Equal(t, uintptr(1<<39), levelSize(4))
}
