package vtnet

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHdrEncoding(t *testing.T) {
	b := make([]byte, HDR_LEN)
	h := Hdr{Flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, GSOType: 1, HdrLen: 0x0102, GSOSize: 0x0304, CsumStart: 0x0506, CsumOffset: 0x0708, NumBuffers: 0x090a}
	PutHdr(b, h)
	assert.Equal(t, []byte{1, 1, 2, 1, 4, 3, 6, 5, 8, 7, 0x0a, 9}, b)
	assert.Equal(t, h, GetHdr(b))
	PutHdr(b, Hdr{})
	assert.Equal(t, make([]byte, HDR_LEN), b, "transmit header: no offloads")
}

func first(numBuffers uint16, data []byte) []byte {
	b := make([]byte, HDR_LEN, HDR_LEN+len(data))
	PutHdr(b, Hdr{NumBuffers: numBuffers})
	return append(b, data...)
}

func frame(n int, seed byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = seed + byte(i*7)
	}
	return f
}

func TestMergerSingleBuffer(t *testing.T) {
	m := Merger{Mergeable: false, Max: 1518, RingSize: 256}
	f := frame(60, 1)
	// Without MRG_RXBUF num_buffers is ignored (the device need not set it).
	require.Equal(t, MergeDone, m.Add(first(0, f)))
	assert.Equal(t, f, m.Frame())
	f2 := frame(1514, 2)
	require.Equal(t, MergeDone, m.Add(first(0, f2)))
	assert.Equal(t, f2, m.Frame())
}

func TestMergerSpansBuffers(t *testing.T) {
	m := Merger{Mergeable: true, Max: 1518, RingSize: 256}
	f := frame(1514, 3)
	assert.Equal(t, MergeMore, m.Add(first(3, f[:500])))
	assert.Equal(t, MergeMore, m.Add(f[500:1000]))
	require.Equal(t, MergeDone, m.Add(f[1000:]))
	assert.True(t, bytes.Equal(f, m.Frame()))
	// And the next frame starts afresh.
	require.Equal(t, MergeDone, m.Add(first(1, f[:64])))
	assert.Equal(t, f[:64], m.Frame())
}

func TestMergerRejects(t *testing.T) {
	m := Merger{Mergeable: true, Max: 1518, RingSize: 8}
	cases := []struct {
		name string
		bufs [][]byte
		why  string
	}{
		{"short header", [][]byte{make([]byte, 5)}, "shorter than the header"},
		{"num_buffers 0", [][]byte{first(0, frame(60, 0))}, "num_buffers out of range"},
		{"num_buffers beyond ring", [][]byte{first(9, frame(60, 0))}, "num_buffers out of range"},
		{"runt", [][]byte{first(1, frame(10, 0))}, "shorter than an Ethernet header"},
		{"too long", [][]byte{first(2, frame(1000, 0)), frame(1000, 0)}, "longer than the MTU"},
	}
	for _, c := range cases {
		var got int
		for i, b := range c.bufs {
			got = m.Add(b)
			if i < len(c.bufs)-1 {
				require.Equal(t, MergeMore, got, c.name)
			}
		}
		assert.Equal(t, MergeBad, got, c.name)
		assert.Contains(t, m.Why(), c.why, c.name)
	}
	// GSO frames were not negotiated.
	b := first(1, frame(60, 0))
	b[1] = 1
	assert.Equal(t, MergeBad, m.Add(b))
	assert.Contains(t, m.Why(), "GSO")
	// A good frame after all that.
	require.Equal(t, MergeDone, m.Add(first(1, frame(60, 9))))
	assert.Equal(t, frame(60, 9), m.Frame())
	// Abort drops a partial frame.
	assert.Equal(t, MergeMore, m.Add(first(2, frame(60, 1))))
	m.Abort()
	require.Equal(t, MergeDone, m.Add(first(1, frame(70, 2))))
	assert.Equal(t, frame(70, 2), m.Frame())
}

// A TSO request's header: NEEDS_CSUM at the TCP checksum, TCPV4,
// hdr_len over the three headers (options included), gso_size the MSS;
// not IPv4, not TCP, a short header or no MSS refused.
func TestTSOHdr(t *testing.T) {
	f := make([]byte, 14+24+32+100)
	f[12], f[13] = 0x08, 0x00
	f[14] = 0x46 // IHL 6: 4 bytes of options
	f[14+9] = 6
	f[14+24+12] = 8 << 4 // 32-byte TCP header
	h, err := TSOHdr(f, 1448)
	require.NoError(t, err)
	assert.Equal(t, Hdr{Flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, GSOType: VIRTIO_NET_HDR_GSO_TCPV4, HdrLen: 14 + 24 + 32,
		GSOSize: 1448, CsumStart: 14 + 24, CsumOffset: 16}, h)
	_, err = TSOHdr(f, 0)
	assert.Error(t, err)
	g := append([]byte(nil), f...)
	g[14+9] = 17
	_, err = TSOHdr(g, 1448)
	assert.Error(t, err)
	g = append([]byte(nil), f...)
	g[13] = 6
	_, err = TSOHdr(g, 1448)
	assert.Error(t, err)
	_, err = TSOHdr(f[:14+24+10], 1448)
	assert.Error(t, err)
}
