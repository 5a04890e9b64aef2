package e1000

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRingWrapsManyTimes(t *testing.T) {
	r := Ring{N: 8}
	assert.Equal(t, 7, r.Free(), "one slot stays empty: head == tail means empty")
	var pushed, popped int
	for round := 0; round < 1000; round++ {
		k := 1 + round%7
		for i := 0; i < k; i++ {
			idx, ok := r.Push()
			require.True(t, ok)
			assert.Equal(t, pushed%8, idx)
			pushed++
		}
		assert.Equal(t, k, r.InFlight())
		assert.True(t, r.ValidHead(r.Next))
		assert.True(t, r.ValidHead(r.Tail))
		for i := 0; i < k; i++ {
			idx, ok := r.Pop()
			require.True(t, ok)
			assert.Equal(t, popped%8, idx)
			popped++
		}
		_, ok := r.Pop()
		assert.False(t, ok)
	}
	assert.Equal(t, pushed, popped)
}

func TestRingFullAndHeadValidation(t *testing.T) {
	r := Ring{N: 8, Next: 6, Tail: 6}
	for i := 0; i < 7; i++ {
		_, ok := r.Push()
		require.True(t, ok)
	}
	assert.True(t, r.Full())
	_, ok := r.Push()
	assert.False(t, ok)
	assert.Equal(t, 5, r.Tail)
	// In flight: 6,7,0,1,2,3,4; valid heads 6..5 (all but none outside).
	assert.True(t, r.ValidHead(6))
	assert.True(t, r.ValidHead(2))
	assert.True(t, r.ValidHead(5))
	assert.False(t, r.ValidHead(8))
	assert.False(t, r.ValidHead(-1))
	r2 := Ring{N: 8, Next: 2, Tail: 4}
	assert.True(t, r2.ValidHead(3))
	assert.False(t, r2.ValidHead(5), "beyond the tail")
	assert.False(t, r2.ValidHead(1), "behind the oldest")
}

func TestDescriptorEncoding(t *testing.T) {
	b := make([]byte, DescSize)
	for i := range b {
		b[i] = 0xff
	}
	PutRx(b, 0x12345678_9abcdef0)
	assert.Equal(t, []byte{0xf0, 0xde, 0xbc, 0x9a, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0, 0, 0, 0, 0}, b)
	// Device write-back: length 60, status DD|EOP, no errors.
	b[8], b[9], b[12] = 60, 0, RXD_STAT_DD|RXD_STAT_EOP
	d := GetRx(b)
	assert.Equal(t, RxDesc{Addr: 0x12345678_9abcdef0, Length: 60, Status: 3}, d)

	PutTx(b, 0x1000, 42)
	assert.Equal(t, []byte{0, 0x10, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0x0b, 0, 0, 0, 0}, b)
	assert.False(t, TxDone(b))
	b[12] = TXD_STAT_DD
	assert.True(t, TxDone(b))
}
