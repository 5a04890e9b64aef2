package memlink

import (
	"encoding/binary"
	"testing"

	"github.com/smpgo/smpgo/net/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tsoFrame builds an Ethernet/IPv4/TCP frame of n payload bytes as the
// stack hands a TSO request to a NIC (pseudo-header sum in the field).
func tsoFrame(n int, flags uint8) []byte {
	src, dst := wire.MustAddr("10.0.0.1"), wire.MustAddr("10.0.0.2")
	f := make([]byte, 14+20+20+n)
	binary.BigEndian.PutUint16(f[12:], wire.ETHERTYPE_IP)
	h := wire.IPv4{TotalLen: 40 + n, ID: 0xfffe, TTL: 64, Proto: wire.IPPROTO_TCP, Src: src, Dst: dst}
	h.Put(f[14:])
	th := wire.TCP{SrcPort: 1, DstPort: 2, Seq: 0xffffff00, Ack: 5, Flags: flags, Window: 9, Opts: wire.TCPOptions{WScale: -1}}
	th.Put(f[34:])
	for i := range n {
		f[54+i] = byte(i * 7)
	}
	binary.BigEndian.PutUint16(f[34+16:], ^wire.Pseudo(src, dst, wire.IPPROTO_TCP, 20+n).Fold())
	return f
}

// The emulated NIC cuts a TSO request as the 8254x does: every segment
// fits the MTU, carries the header with consecutive sequence numbers and
// IP ids, FIN/PSH on the last only, CWR on the first only, valid
// checksums, and the payloads in order make the original.
func TestSegmentTSO(t *testing.T) {
	f := tsoFrame(5000, wire.TH_ACK|wire.TH_PUSH|wire.TH_FIN|wire.TH_CWR)
	segs, err := segmentTSO(f, 1460, 1500)
	require.NoError(t, err)
	require.Len(t, segs, 4)
	var payload []byte
	for i, s := range segs {
		ip := s[14:]
		assert.LessOrEqual(t, len(s), 1514)
		assert.Equal(t, len(ip), int(binary.BigEndian.Uint16(ip[2:])))
		assert.Equal(t, uint16(0xfffe+i), binary.BigEndian.Uint16(ip[4:]), "IP id")
		assert.Zero(t, wire.Checksum(ip[:20]))
		tcp := ip[20:]
		assert.Zero(t, wire.Pseudo(wire.MustAddr("10.0.0.1"), wire.MustAddr("10.0.0.2"), wire.IPPROTO_TCP, len(tcp)).Add(tcp).Fold())
		assert.Equal(t, uint32(0xffffff00)+uint32(1460*i), binary.BigEndian.Uint32(tcp[4:]))
		last := i == len(segs)-1
		assert.Equal(t, last, tcp[13]&wire.TH_FIN != 0)
		assert.Equal(t, last, tcp[13]&wire.TH_PUSH != 0)
		assert.Equal(t, i == 0, tcp[13]&wire.TH_CWR != 0)
		payload = append(payload, tcp[20:]...)
	}
	assert.Equal(t, f[54:], payload)
	assert.Equal(t, []int{1460, 1460, 1460, 620}, []int{len(segs[0]) - 54, len(segs[1]) - 54, len(segs[2]) - 54, len(segs[3]) - 54})

	// Refused: an MSS the MTU cannot carry, no payload, a checksum field
	// not holding the pseudo-header's sum, a bad IP header checksum.
	_, err = segmentTSO(f, 1461, 1500)
	assert.Error(t, err)
	_, err = segmentTSO(tsoFrame(0, wire.TH_ACK), 1000, 1500)
	assert.Error(t, err)
	g := append([]byte(nil), f...)
	g[34+16] ^= 1
	_, err = segmentTSO(g, 1000, 1500)
	assert.Error(t, err)
	g = append([]byte(nil), f...)
	g[14+10] ^= 1
	_, err = segmentTSO(g, 1000, 1500)
	assert.Error(t, err)
}
