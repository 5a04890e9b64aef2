package sock

import (
	"bytes"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnixQueueStream(t *testing.T) {
	q := newUnixQueue(false)
	q.setLimit(4096)
	data := bytes.Repeat([]byte("0123456789"), 500) // 5000 bytes
	n, e := q.put([][]byte{data[:3000], data[3000:]}, len(data), "")
	require.Equal(t, syscall.Errno(0), e)
	assert.Equal(t, 4096, n, "a stream send takes what fits")
	_, e = q.put([][]byte{data}, len(data), "")
	assert.Equal(t, syscall.EAGAIN, e, "full")
	n, e = q.put(nil, 0, "")
	assert.Equal(t, 0, n)
	assert.Equal(t, syscall.Errno(0), e, "an empty write on a full queue")

	// Reads span messages and buffers.
	var got []byte
	for {
		b1, b2 := make([]byte, 700), make([]byte, 300)
		n, _, trunc, empty := q.get([][]byte{b1, b2})
		assert.False(t, trunc)
		if empty {
			break
		}
		got = append(got, append(b1, b2...)[:n]...)
	}
	assert.Equal(t, data[:4096], got)
	assert.Equal(t, 0, q.bytes)
	assert.Nil(t, q.msgs)
}

func TestUnixQueueRecords(t *testing.T) {
	q := newUnixQueue(true)
	q.setLimit(3000)
	for i, size := range []int{0, 1, 1000, 999} {
		n, e := q.put([][]byte{bytes.Repeat([]byte{byte(i)}, size)}, size, "@from")
		require.Equal(t, syscall.Errno(0), e)
		assert.Equal(t, size, n)
	}
	_, e := q.put([][]byte{make([]byte, 1001)}, 1001, "")
	assert.Equal(t, syscall.EAGAIN, e, "a datagram is never split")
	_, e = q.put([][]byte{make([]byte, 3001)}, 3001, "")
	assert.Equal(t, syscall.EMSGSIZE, e)

	buf := make([]byte, 500)
	for i, size := range []int{0, 1, 1000, 999} {
		n, from, trunc, empty := q.get([][]byte{buf})
		require.False(t, empty)
		assert.Equal(t, "@from", from)
		assert.Equal(t, min(size, 500), n, "one datagram per read")
		assert.Equal(t, size > 500, trunc)
		assert.Equal(t, bytes.Repeat([]byte{byte(i)}, n), buf[:n])
	}
	_, _, _, empty := q.get([][]byte{buf})
	assert.True(t, empty)

	// The count limit.
	for range unixMaxMsgs {
		_, e := q.put(nil, 0, "")
		require.Equal(t, syscall.Errno(0), e)
	}
	_, e = q.put(nil, 0, "")
	assert.Equal(t, syscall.EAGAIN, e)
	assert.True(t, q.drop())
	assert.False(t, q.drop())
}

func TestUnixQueueWaitersAndLimits(t *testing.T) {
	q := newUnixQueue(false)
	a, b := &unixSock{}, &unixSock{}
	q.wait(a)
	q.wait(b)
	q.wait(a)
	assert.Equal(t, []*unixSock{a, b}, q.takeWaiters())
	assert.Nil(t, q.takeWaiters())
	assert.Equal(t, unixMinBuf, q.setLimit(1))
	assert.Equal(t, unixMaxBuf, q.setLimit(1<<30))
	assert.Equal(t, unixDefaultBuf, newUnixQueue(true).limit)
}
