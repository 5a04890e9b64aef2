package vm

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

func newBuddy(span int) *Buddy {
	var b Buddy
	b.Init(make([]uint64, span))
	return &b
}

func requireConsistent(t *testing.T, b *Buddy) {
	t.Helper()
	require.Empty(t, b.Check())
}

func TestBuddySplitAndMerge(t *testing.T) {
	b := newBuddy(1 << (MaxOrder - 1))
	b.AddRange(0, 1<<(MaxOrder-1))
	s := b.Stats()
	require.Equal(t, uint64(1024), s.Total)
	require.Equal(t, uint64(1), s.Blocks[MaxOrder-1], "one maximal block")

	p, ok := b.Alloc(0)
	require.True(t, ok)
	require.Equal(t, 0, p, "lowest half kept at each split")
	s = b.Stats()
	require.Equal(t, uint64(1023), s.Free)
	for k := 0; k < MaxOrder-1; k++ {
		require.Equal(t, uint64(1), s.Blocks[k], "one buddy of each order %d left by the split", k)
	}
	require.Zero(t, s.Blocks[MaxOrder-1])
	requireConsistent(t, b)

	q, ok := b.Alloc(0)
	require.True(t, ok)
	require.Equal(t, 1, q, "the order-0 buddy")
	require.NoError(t, b.Free(p, 0))
	require.Equal(t, uint64(1), b.Stats().Blocks[0], "p cannot merge while q is allocated")
	require.NoError(t, b.Free(q, 0))
	s = b.Stats()
	require.Equal(t, uint64(1024), s.Free)
	require.Equal(t, uint64(1), s.Blocks[MaxOrder-1], "everything merged back")
	require.Equal(t, MaxOrder-1, s.LargestOrder)
	requireConsistent(t, b)
}

func TestBuddyAlignment(t *testing.T) {
	b := newBuddy(4096)
	b.AddRange(3, 4000) // unaligned start and end
	requireConsistent(t, b)
	for k := 0; k < MaxOrder; k++ {
		for n := 0; n < 3; n++ {
			p, ok := b.Alloc(k)
			if !ok {
				continue
			}
			require.Zero(t, p&(1<<k-1), "order %d block at %d", k, p)
			require.GreaterOrEqual(t, p, 3)
			require.LessOrEqual(t, p+1<<k, 4003)
		}
	}
	requireConsistent(t, b)
}

func TestBuddyHolesNeverMerge(t *testing.T) {
	b := newBuddy(2048)
	b.AddRange(0, 512)
	b.AddRange(520, 1528) // hole [512, 520)
	s := b.Stats()
	require.Equal(t, uint64(2040), s.Total)
	var got []int
	for {
		p, ok := b.Alloc(0)
		if !ok {
			break
		}
		got = append(got, p)
		require.False(t, p >= 512 && p < 520, "page %d is in the hole", p)
	}
	require.Len(t, got, 2040)
	for _, p := range got {
		require.NoError(t, b.Free(p, 0))
	}
	s = b.Stats()
	require.Equal(t, s.Total, s.Free)
	require.Equal(t, uint64(1), s.Blocks[MaxOrder-1], "the hole keeps the first 4 MiB half split")
	requireConsistent(t, b)
}

func TestBuddyExhaustionAndBadFrees(t *testing.T) {
	b := newBuddy(64)
	b.AddRange(0, 64)
	_, ok := b.Alloc(7)
	require.False(t, ok, "no 128-page block in 64 pages")
	_, ok = b.Alloc(MaxOrder)
	require.False(t, ok)
	a, ok := b.Alloc(6)
	require.True(t, ok)
	_, ok = b.Alloc(0)
	require.False(t, ok, "exhausted")
	require.ErrorIs(t, b.Free(a, 5), ErrWrongOrder)
	require.ErrorIs(t, b.Free(a+1, 0), ErrNotAllocated, "not a block head")
	require.ErrorIs(t, b.Free(999, 0), ErrOutOfSpan)
	require.NoError(t, b.Free(a, 6))
	require.ErrorIs(t, b.Free(a, 6), ErrNotAllocated, "double free")
	s := b.Stats()
	require.Equal(t, uint64(64), s.Free)
	require.Equal(t, uint64(1), s.Allocs)
	require.Equal(t, uint64(1), s.Frees)
	requireConsistent(t, b)
}

func TestBuddyContiguousRuns(t *testing.T) {
	b := newBuddy(1024)
	b.AddRange(0, 1024)
	r, ok := b.AllocRun(5, 1)
	require.True(t, ok)
	require.Equal(t, uint64(1019), b.Stats().Free, "only the 5 pages are consumed")
	requireConsistent(t, b)

	r2, ok := b.AllocRun(3, 16)
	require.True(t, ok)
	require.Zero(t, r2%16, "aligned to 16 pages")
	require.True(t, r2 >= r+5 || r2+3 <= r, "runs do not overlap")
	require.Equal(t, uint64(1016), b.Stats().Free)

	require.ErrorIs(t, b.FreeRun(r, 4), ErrWrongOrder, "a run is freed with its length")
	require.ErrorIs(t, b.FreeRun(r, 6), ErrWrongOrder, "not longer either")
	require.ErrorIs(t, b.Free(r, 2), ErrNotAllocated, "a run is not a block")
	require.Equal(t, uint64(1016), b.Stats().Free, "a rejected free changes nothing")
	require.NoError(t, b.FreeRun(r, 5))
	require.ErrorIs(t, b.FreeRun(r, 5), ErrNotAllocated)
	require.NoError(t, b.FreeRun(r2, 3))
	s := b.Stats()
	require.Equal(t, uint64(1024), s.Free)
	require.Equal(t, uint64(1), s.Blocks[MaxOrder-1], "fully merged")
	requireConsistent(t, b)

	_, ok = b.AllocRun(1025, 1)
	require.False(t, ok)
	_, ok = b.AllocRun(1, 3)
	require.False(t, ok, "alignment must be a power of two")
	big, ok := b.AllocRun(1000, 1)
	require.True(t, ok)
	require.Equal(t, uint64(24), b.Stats().Free)
	require.NoError(t, b.FreeRun(big, 1000))
}

// TestBuddyRandomAccounting allocates and frees blocks and runs at random,
// checking after every step that no page is handed out twice and that
// free pages plus allocated pages always equal the total.
func TestBuddyRandomAccounting(t *testing.T) {
	const span = 8192
	b := newBuddy(span)
	b.AddRange(7, span-100)
	total := b.Stats().Total
	owner := make([]int, span) // 0 free, else allocation id
	type alloc struct{ p, n, k int }
	live := map[int]alloc{}
	rng := rand.New(rand.NewSource(1))
	var used uint64
	for step := 1; step < 20000; step++ {
		if rng.Intn(3) > 0 || len(live) == 0 {
			var a alloc
			var ok bool
			if rng.Intn(4) == 0 {
				a.n = 1 + rng.Intn(40)
				a.k = -1
				a.p, ok = b.AllocRun(a.n, 1<<rng.Intn(4))
			} else {
				a.k = rng.Intn(6)
				a.n = 1 << a.k
				a.p, ok = b.Alloc(a.k)
			}
			if !ok {
				continue
			}
			for i := a.p; i < a.p+a.n; i++ {
				require.Zero(t, owner[i], "page %d handed out twice", i)
				owner[i] = step
			}
			live[step] = a
			used += uint64(a.n)
		} else {
			for id, a := range live {
				if a.k < 0 {
					require.NoError(t, b.FreeRun(a.p, a.n))
				} else {
					require.NoError(t, b.Free(a.p, a.k))
				}
				for i := a.p; i < a.p+a.n; i++ {
					owner[i] = 0
				}
				used -= uint64(a.n)
				delete(live, id)
				break
			}
		}
		require.Equal(t, total, b.Stats().Free+used)
		if step%500 == 0 {
			requireConsistent(t, b)
		}
	}
	for _, a := range live {
		if a.k < 0 {
			require.NoError(t, b.FreeRun(a.p, a.n))
		} else {
			require.NoError(t, b.Free(a.p, a.k))
		}
	}
	require.Equal(t, total, b.Stats().Free)
	requireConsistent(t, b)
}

func TestOrderFor(t *testing.T) {
	require.Equal(t, 0, OrderFor(1))
	require.Equal(t, 1, OrderFor(2))
	require.Equal(t, 2, OrderFor(3))
	require.Equal(t, 10, OrderFor(1024))
	require.Equal(t, 11, OrderFor(1025))
}

func TestBuddyAllocBelow(t *testing.T) {
	b := newBuddy(4096)
	b.AddRange(0, 4096)
	// Take the low half away, so only high blocks are free.
	var low []int
	for {
		p, ok := b.AllocBelow(MaxOrder-1, 2048)
		if !ok {
			break
		}
		require.Less(t, p+1<<(MaxOrder-1), 2049)
		low = append(low, p)
	}
	require.Len(t, low, 2, "the two 4 MiB blocks below page 2048")
	_, ok := b.AllocBelow(0, 2048)
	require.False(t, ok, "nothing left below the limit")
	p, ok := b.AllocBelow(0, 4096)
	require.True(t, ok, "the limit at the span is Alloc")
	require.GreaterOrEqual(t, p, 2048)
	require.NoError(t, b.Free(p, 0))

	// Free one low block: a small allocation below the limit splits it,
	// not a high one, even though high blocks are on the lists first.
	require.NoError(t, b.Free(low[1], MaxOrder-1))
	for i := 0; i < 100; i++ {
		q, ok := b.AllocBelow(2, 2048)
		require.True(t, ok)
		require.LessOrEqual(t, q+4, 2048)
		require.GreaterOrEqual(t, q, low[1])
	}
	requireConsistent(t, b)

	// Runs below a limit.
	r, ok := b.AllocRunBelow(37, 16, 2048)
	require.True(t, ok)
	require.LessOrEqual(t, r+37, 2048)
	require.Zero(t, r%16)
	requireConsistent(t, b)
	require.NoError(t, b.FreeRun(r, 37))
	_, ok = b.AllocRunBelow(1024, 1, 2048)
	require.False(t, ok, "no free 1024-page run left below the limit")
	_, ok = b.AllocBelow(0, 0)
	require.False(t, ok)
	_, ok = b.AllocBelow(MaxOrder, 4096)
	require.False(t, ok)
	requireConsistent(t, b)
}
