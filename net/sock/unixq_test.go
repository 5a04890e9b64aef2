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
	n, e := q.put([][]byte{data[:3000], data[3000:]}, len(data), "", nil)
	require.Equal(t, syscall.Errno(0), e)
	assert.Equal(t, 4096, n, "a stream send takes what fits")
	_, e = q.put([][]byte{data}, len(data), "", nil)
	assert.Equal(t, syscall.EAGAIN, e, "full")
	n, e = q.put(nil, 0, "", nil)
	assert.Equal(t, 0, n)
	assert.Equal(t, syscall.Errno(0), e, "an empty write on a full queue")

	// Reads span messages and buffers.
	var got []byte
	for {
		b1, b2 := make([]byte, 700), make([]byte, 300)
		n, _, fds, trunc, empty := q.get([][]byte{b1, b2})
		assert.Nil(t, fds)
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
		n, e := q.put([][]byte{bytes.Repeat([]byte{byte(i)}, size)}, size, "@from", nil)
		require.Equal(t, syscall.Errno(0), e)
		assert.Equal(t, size, n)
	}
	_, e := q.put([][]byte{make([]byte, 1001)}, 1001, "", nil)
	assert.Equal(t, syscall.EAGAIN, e, "a datagram is never split")
	_, e = q.put([][]byte{make([]byte, 3001)}, 3001, "", nil)
	assert.Equal(t, syscall.EMSGSIZE, e)

	buf := make([]byte, 500)
	for i, size := range []int{0, 1, 1000, 999} {
		n, from, _, trunc, empty := q.get([][]byte{buf})
		require.False(t, empty)
		assert.Equal(t, "@from", from)
		assert.Equal(t, min(size, 500), n, "one datagram per read")
		assert.Equal(t, size > 500, trunc)
		assert.Equal(t, bytes.Repeat([]byte{byte(i)}, n), buf[:n])
	}
	_, _, _, _, empty := q.get([][]byte{buf})
	assert.True(t, empty)

	// The count limit.
	for range unixMaxMsgs {
		_, e := q.put(nil, 0, "", nil)
		require.Equal(t, syscall.Errno(0), e)
	}
	_, e = q.put(nil, 0, "", nil)
	assert.Equal(t, syscall.EAGAIN, e)
	unread, fds := q.drop()
	assert.True(t, unread)
	assert.Nil(t, fds)
	unread, _ = q.drop()
	assert.False(t, unread)
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

func TestUnixQueueRights(t *testing.T) {
	q := newUnixQueue(false)
	put := func(s string, fds ...int) {
		n, e := q.put([][]byte{[]byte(s)}, len(s), "", fds)
		require.Equal(t, syscall.Errno(0), e)
		require.Equal(t, len(s), n)
	}
	put("ab")
	put("cd", 10, 11)
	put("ef")
	put("gh", 12)
	buf := make([]byte, 100)
	// A read stops before a message carrying descriptors...
	n, _, fds, _, _ := q.get([][]byte{buf})
	assert.Equal(t, "ab", string(buf[:n]))
	assert.Nil(t, fds)
	// ...which come with its first byte, and the read goes on after it.
	n, _, fds, _, _ = q.get([][]byte{buf[:1]})
	assert.Equal(t, "c", string(buf[:n]))
	assert.Equal(t, []int{10, 11}, fds)
	n, _, fds, _, _ = q.get([][]byte{buf})
	assert.Equal(t, "def", string(buf[:n]))
	assert.Nil(t, fds)
	// Closing with descriptors in flight hands them back to close.
	unread, inflight := q.drop()
	assert.True(t, unread)
	assert.Equal(t, []int{12}, inflight)

	r := newUnixQueue(true)
	_, e := r.put([][]byte{[]byte("x")}, 1, "@a", []int{7})
	require.Equal(t, syscall.Errno(0), e)
	n, from, fds, trunc, _ := r.get([][]byte{buf})
	assert.Equal(t, 1, n)
	assert.Equal(t, "@a", from)
	assert.Equal(t, []int{7}, fds)
	assert.False(t, trunc)
}
