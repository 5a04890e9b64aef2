package mbuf

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// noLeaks checks that a test returns every buffer it took.
func noLeaks(t *testing.T) func() {
	before := ReadStats()
	return func() {
		after := ReadStats()
		assert.Equal(t, before.Mbufs, after.Mbufs, "mbufs leaked")
		assert.Equal(t, before.Clusters, after.Clusters, "clusters leaked")
		assert.Equal(t, before.Ext, after.Ext, "external buffers leaked")
	}
}

func TestFromBytesRoundTrip(t *testing.T) {
	defer noLeaks(t)()
	for _, n := range []int{0, 1, 100, MSIZE - MaxHdr, MSIZE, MSIZE + 1, MCLBYTES, 3*MCLBYTES + 17, 65535} {
		b := pattern(n, 3)
		m := FromBytes(b, MaxHdr)
		require.NotNil(t, m)
		assert.Equal(t, n, m.PktLen(), "n=%d", n)
		assert.Equal(t, n, m.ChainLen(), "n=%d", n)
		assert.Equal(t, b, m.Linearize(), "n=%d", n)
		assert.GreaterOrEqual(t, m.Leading(), min(MaxHdr, MCLBYTES-n), "headroom n=%d", n)
		m.FreeChain()
	}
}

func TestPrependUsesHeadroomThenNewMbuf(t *testing.T) {
	defer noLeaks(t)()
	m := FromBytes([]byte("payload"), 20)
	m2 := m.Prepend(20)
	assert.Same(t, m, m2, "headroom used")
	copy(m2.Bytes(), bytes.Repeat([]byte{'h'}, 20))
	m3 := m2.Prepend(14)
	assert.NotSame(t, m2, m3, "new head when no headroom")
	copy(m3.Bytes(), bytes.Repeat([]byte{'e'}, 14))
	assert.Equal(t, 41, m3.PktLen())
	want := append(append(bytes.Repeat([]byte{'e'}, 14), bytes.Repeat([]byte{'h'}, 20)...), "payload"...)
	assert.Equal(t, want, m3.Linearize())
	assert.Equal(t, MSIZE-14, m3.Leading())
	m3.FreeChain()
}

func TestAdjHeadAndTail(t *testing.T) {
	defer noLeaks(t)()
	b := pattern(5000, 1)
	m := FromBytes(b, 0)
	m.Adj(300)
	assert.Equal(t, b[300:], m.Linearize())
	assert.Equal(t, 4700, m.PktLen())
	m.Adj(-2500)
	assert.Equal(t, b[300:2500], m.Linearize())
	assert.Equal(t, 2200, m.PktLen())
	m.Adj(-100000)
	assert.Equal(t, 0, m.PktLen())
	assert.Empty(t, m.Linearize())
	m.FreeChain()
}

func TestPullup(t *testing.T) {
	defer noLeaks(t)()
	// A chain of small pieces: header split across three mbufs.
	m := FromBytes([]byte{1, 2, 3}, 0)
	require.NoError(t, m.Append(nil))
	m.Cat(FromBytes([]byte{4, 5}, 0))
	m.Cat(FromBytes(pattern(3000, 9), 0))
	assert.Equal(t, 3005, m.PktLen())
	m, err := m.Pullup(40)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, m.Len(), 40)
	assert.Equal(t, []byte{1, 2, 3, 4, 5}, m.Bytes()[:5])
	assert.Equal(t, 3005, m.PktLen())
	assert.Equal(t, append([]byte{1, 2, 3, 4, 5}, pattern(3000, 9)...), m.Linearize())

	_, err = m.Pullup(5000)
	assert.ErrorIs(t, err, ErrTooBig)
	m, err = m.Pullup(MCLBYTES)
	require.NoError(t, err, "a cluster's worth is allowed")
	m.FreeChain()

	short := FromBytes([]byte{1, 2}, 0)
	short2, err := short.Pullup(20)
	assert.ErrorIs(t, err, ErrShort)
	assert.Same(t, short, short2, "chain returned intact")
	short2.FreeChain()
}

func TestCopySharesClustersAndMakeWritable(t *testing.T) {
	defer noLeaks(t)()
	b := pattern(4000, 5)
	m := FromBytes(b, 0)
	c := m.Copy(1000, 2500)
	assert.Equal(t, b[1000:3500], c.Linearize())
	assert.Equal(t, 2500, c.PktLen())
	assert.False(t, c.Writable(), "shared cluster is read-only")
	assert.Equal(t, 0, c.Leading())
	c, err := c.MakeWritable(60)
	require.NoError(t, err)
	assert.True(t, c.Writable())
	c.Bytes()[0] = 0xff
	assert.Equal(t, b, m.Linearize(), "original untouched")
	assert.Equal(t, byte(0xff), c.Linearize()[0])
	assert.Equal(t, b[1001:3500], c.Linearize()[1:])
	m.FreeChain()
	// The copy still holds its references.
	assert.Equal(t, b[1001:3500], c.Linearize()[1:])
	c.FreeChain()
}

func TestSplitAndCat(t *testing.T) {
	defer noLeaks(t)()
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200; i++ {
		n := 1 + rng.Intn(9000)
		b := pattern(n, byte(i))
		m := FromBytes(b, rng.Intn(MaxHdr))
		// Make a ragged chain by catting pieces.
		if rng.Intn(2) == 0 {
			cut := rng.Intn(n)
			m.FreeChain()
			m = FromBytes(b[:cut], 0)
			m.Cat(FromBytes(b[cut:], 0))
		}
		off := rng.Intn(n + 1)
		r := m.Split(off)
		if off == n {
			assert.Nil(t, r)
			m.FreeChain()
			continue
		}
		require.NotNil(t, r)
		assert.Equal(t, b[:off], m.Linearize())
		assert.Equal(t, off, m.PktLen())
		assert.Equal(t, b[off:], r.Linearize())
		assert.Equal(t, n-off, r.PktLen())
		m.Cat(r)
		assert.Equal(t, b, m.Linearize())
		assert.Equal(t, n, m.PktLen())
		m.FreeChain()
	}
}

func TestExtFreeCallback(t *testing.T) {
	defer noLeaks(t)()
	buf := make([]byte, 2048)
	copy(buf[64:], "frame")
	freed := 0
	m := GetExt(buf, 0x100000, 7, 64, 5, func(e *Ext) {
		freed++
		assert.Equal(t, uintptr(7), e.Arg)
	})
	assert.Equal(t, uint64(0x100040), m.Phys())
	assert.Equal(t, []byte("frame"), m.Bytes())
	c := m.Copy(0, -1)
	m.FreeChain()
	assert.Equal(t, 0, freed, "still referenced by the copy")
	c.FreeChain()
	assert.Equal(t, 1, freed)
}

func TestDoubleFreePanics(t *testing.T) {
	m := Get()
	m.Free()
	assert.Panics(t, func() { m.Free() })
	// Put the accounting back: the panic happened before the decrement.
}

func TestStorageExhaustion(t *testing.T) {
	defer noLeaks(t)()
	old := storage
	defer func() { storage = old }()
	storage = &HeapStorage{Limit: 2}
	f0 := ReadStats().Failures
	a, b := GetCluster(), GetCluster()
	require.NotNil(t, a)
	require.NotNil(t, b)
	assert.Nil(t, GetCluster())
	assert.Nil(t, FromBytes(make([]byte, 5000), 0))
	assert.Equal(t, f0+2, ReadStats().Failures)
	a.FreeChain()
	c := FromBytes(make([]byte, 1000), 0)
	assert.NotNil(t, c, "a freed cluster is reusable")
	c.FreeChain()
	b.FreeChain()
}

func TestQueueLimit(t *testing.T) {
	defer noLeaks(t)()
	q := Queue{Limit: 2}
	a, b, c := FromBytes([]byte{1}, 0), FromBytes([]byte{2}, 0), FromBytes([]byte{3}, 0)
	assert.True(t, q.Enqueue(a))
	assert.True(t, q.Enqueue(b))
	assert.False(t, q.Enqueue(c))
	assert.Equal(t, uint64(1), q.Drops)
	c.FreeChain()
	assert.Same(t, a, q.Dequeue())
	q.Prepend(a)
	assert.Equal(t, 2, q.Len())
	assert.Same(t, a, q.Dequeue())
	assert.Same(t, b, q.Dequeue())
	assert.Nil(t, q.Dequeue())
	a.FreeChain()
	b.FreeChain()
	q.Enqueue(FromBytes([]byte{4}, 0))
	assert.Equal(t, 1, q.Drain())
}

func TestCopyInAndRange(t *testing.T) {
	defer noLeaks(t)()
	b := pattern(3000, 2)
	m := FromBytes(b, 0)
	require.NoError(t, m.CopyIn(2040, []byte("XYZWV")))
	copy(b[2040:], "XYZWV")
	assert.Equal(t, b, m.Linearize())
	assert.ErrorIs(t, m.CopyIn(2999, []byte("ab")), ErrShort)
	var got []byte
	assert.Equal(t, 100, m.Range(2000, 100, func(p []byte) { got = append(got, p...) }))
	assert.Equal(t, b[2000:2100], got)
	m.FreeChain()
}

func TestTrimHeadFreesEmptiedMbufs(t *testing.T) {
	defer noLeaks(t)()
	b := pattern(10000, 4)
	m := FromBytes(b, 0)
	before := ReadStats().Mbufs
	m = m.TrimHead(2048 + 10)
	assert.Equal(t, before-1, ReadStats().Mbufs, "the emptied first cluster is freed")
	assert.Equal(t, b[2058:], m.Linearize())
	assert.Equal(t, 10000-2058, m.PktLen())
	m = m.TrimHead(10000 - 2058 - 1)
	assert.Equal(t, b[9999:], m.Linearize())
	assert.Equal(t, 1, m.PktLen())
	assert.Nil(t, m.TrimHead(1))
}
