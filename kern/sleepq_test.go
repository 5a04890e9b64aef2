package kern

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The queue logic of a chain, without its spin lock and critical section
// (host tests cannot enter one).
func TestWaitChainOrder(t *testing.T) {
	var c WaitChain
	mk := func(prio int32, owner uint64) *Waiter {
		return &Waiter{prio: prio, owner: owner, ch: make(chan struct{}, 1)}
	}
	const k1, k2 = 0x1000, 0x2000
	a, b, cc, d := mk(0, 1), mk(0, 2), mk(5, 3), mk(0, 4)
	c.Add(k1, QExclusive, a)
	c.Add(k1, QExclusive, b)
	c.Add(k2, QExclusive, d) // another key on the same chain
	c.Add(k1, QExclusive, cc)
	r := mk(0, 5)
	c.Add(k1, QShared, r)
	require.Equal(t, 3, c.Count(k1, QExclusive))
	require.Equal(t, 1, c.Count(k1, QShared))
	require.Equal(t, 1, c.Count(k2, QExclusive))
	// Highest priority first, then FIFO.
	require.Same(t, cc, c.First(k1, QExclusive))
	require.True(t, c.Wake(k1, QExclusive))
	require.True(t, c.Wake(k1, QExclusive))
	require.Same(t, b, c.First(k1, QExclusive))
	require.Equal(t, []*Waiter{cc, a}, []*Waiter{c.wake[0], c.wake[1]})
	require.True(t, cc.woken && a.woken && !b.woken)
	// A timed-out waiter that a waker got first stays dequeued.
	require.False(t, c.remove(a))
	require.True(t, c.remove(b))
	require.False(t, c.Wake(k1, QExclusive))
	require.Equal(t, 1, c.Broadcast(k1, QShared))
	require.Equal(t, 1, c.Count(k2, QExclusive))
	// More wake-ups than the fixed slots spill over.
	for i := 0; i < 3; i++ {
		c.Add(k1, QShared, mk(0, uint64(10+i)))
	}
	require.Equal(t, 3, c.Broadcast(k1, QShared))
	require.Len(t, c.more, 2)
}
