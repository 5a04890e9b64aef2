package vm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func order(d, n int, dist func(a, b int) int) []int {
	out := make([]int8, n)
	FallbackOrder(d, n, dist, out)
	r := make([]int, n)
	for i, v := range out {
		r[i] = int(v)
	}
	return r
}

func TestFallbackOrderBySLIT(t *testing.T) {
	// A ring of four domains: neighbours at 20, the opposite one at 30.
	ring := func(a, b int) int {
		switch (b - a + 4) % 4 {
		case 0:
			return 10
		case 2:
			return 30
		}
		return 20
	}
	require.Equal(t, []int{0, 1, 3, 2}, order(0, 4, ring))
	require.Equal(t, []int{2, 1, 3, 0}, order(2, 4, ring))
	require.Equal(t, []int{3, 0, 2, 1}, order(3, 4, ring))

	flat := func(a, b int) int {
		if a == b {
			return 10
		}
		return 20
	}
	require.Equal(t, []int{1, 0, 2}, order(1, 3, flat), "ties by domain number")
	require.Equal(t, []int{0}, order(0, 1, flat))

	// A broken SLIT that puts another domain nearer than the local one
	// still serves the local domain first.
	odd := func(a, b int) int {
		if a == b {
			return 40
		}
		return 10 + b
	}
	require.Equal(t, []int{2, 0, 1}, order(2, 3, odd))
}
