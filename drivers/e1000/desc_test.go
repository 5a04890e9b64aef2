package e1000

import (
	"encoding/binary"
	"math/rand"
	"testing"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRxCsum(t *testing.T) {
	const all = mbuf.CSUM_L3_CALC | mbuf.CSUM_L3_VALID | mbuf.CSUM_L4_CALC | mbuf.CSUM_L4_VALID
	for _, tc := range []struct {
		status, errors uint8
		want           mbuf.CsumFlags
	}{
		{RXD_STAT_DD | RXD_STAT_EOP, 0, 0},                                                  // nothing calculated
		{RXD_STAT_DD | RXD_STAT_EOP | RXD_STAT_IXSM | RXD_STAT_IPCS | RXD_STAT_TCPCS, 0, 0}, // QEMU: ignore
		{RXD_STAT_IPCS | RXD_STAT_TCPCS, 0, all},
		{RXD_STAT_IPCS, 0, mbuf.CSUM_L3_CALC | mbuf.CSUM_L3_VALID},
		{RXD_STAT_IPCS | RXD_STAT_TCPCS, RXD_ERR_TCPE, mbuf.CSUM_L3_CALC | mbuf.CSUM_L3_VALID | mbuf.CSUM_L4_CALC},
		{RXD_STAT_IPCS | RXD_STAT_TCPCS, RXD_ERR_IPE, mbuf.CSUM_L3_CALC | mbuf.CSUM_L4_CALC | mbuf.CSUM_L4_VALID},
		{RXD_STAT_TCPCS, RXD_ERR_TCPE | RXD_ERR_IPE, mbuf.CSUM_L4_CALC},
	} {
		assert.Equal(t, tc.want, RxCsum(tc.status, tc.errors), "status %#x errors %#x", tc.status, tc.errors)
	}
	// Checksum errors are not frame errors: the stack sees and counts them.
	assert.Zero(t, (RXD_ERR_TCPE|RXD_ERR_IPE)&RXD_ERR_BAD)
}

func TestTxOffloadDescriptors(t *testing.T) {
	le := binary.LittleEndian
	b := make([]byte, DescSize)
	PutTxContext(b, TxContext{IPCSS: 14, IPCSO: 24, IPCSE: 33, TUCSS: 34, TUCSO: 50, TCP: true})
	assert.Equal(t, []byte{14, 24, 33, 0, 34, 50, 0, 0}, b[:8])
	dw2 := le.Uint32(b[8:])
	assert.Zero(t, dw2&0xfffff, "PAYLEN: no segmentation")
	assert.Zero(t, dw2>>20&0xf, "DTYP 0: context")
	assert.Equal(t, uint32(1<<5|1<<3|1<<1|1<<0), dw2>>24, "TUCMD: DEXT, RS, IP, TCP")
	assert.Zero(t, le.Uint32(b[12:]))
	assert.False(t, TxDone(b))

	PutTxContext(b, TxContext{TUCSS: 34, TUCSO: 40})
	assert.Equal(t, uint32(1<<5|1<<3|1<<1), le.Uint32(b[8:])>>24, "UDP: TCP bit clear")

	PutTxData(b, 0x123456789a, 1514)
	assert.Equal(t, uint64(0x123456789a), le.Uint64(b[0:]))
	dw2 = le.Uint32(b[8:])
	assert.Equal(t, uint32(1514), dw2&0xfffff, "DTALEN")
	assert.Equal(t, uint32(1), dw2>>20&0xf, "DTYP 1: data")
	assert.Equal(t, uint32(1<<5|1<<3|1<<1|1<<0), dw2>>24, "DCMD: DEXT, RS, IFCS, EOP")
	assert.Equal(t, byte(POPTS_TXSM), b[13])
	assert.False(t, TxDone(b))
	b[12] |= TXD_STAT_DD
	assert.True(t, TxDone(b), "DD in the same place as in legacy descriptors")
}

// A TCP segmentation context (§3.3.5 with TUCMD.TSE): checksum offsets
// as for checksum offload, PAYLEN in dword 2's low 20 bits, HDRLEN and
// MSS in dword 3; data descriptors with DCMD.TSE, POPTS TXSM|IXSM, EOP
// only on the last.
func TestTSODescriptors(t *testing.T) {
	f := make([]byte, 14+20+20)
	f[12], f[13], f[14], f[14+9], f[14+20+12] = 0x08, 0, 0x45, 6, 5<<4
	ctx, ok := TSOContext(f, 14+20+20+10000, 1460)
	require.True(t, ok)
	assert.Equal(t, TxContext{IPCSS: 14, IPCSO: 24, IPCSE: 33, TUCSS: 34, TUCSO: 50, TCP: true,
		TSE: true, PayLen: 10000, HdrLen: 54, MSS: 1460}, ctx)
	b := make([]byte, DescSize)
	PutTxContext(b, ctx)
	le := binary.LittleEndian
	assert.Equal(t, []byte{14, 24, 33, 0, 34, 50, 0, 0}, b[:8])
	assert.Equal(t, uint32(10000|TXD_CMD_DEXT|TUCMD_IP|TUCMD_RS|TUCMD_TCP|TXD_CMD_TSE), le.Uint32(b[8:]))
	assert.Equal(t, uint32(54<<8|1460<<16), le.Uint32(b[12:]))
	assert.Zero(t, le.Uint32(b[8:])&TXD_DTYP_D, "a context descriptor")

	PutTxDataTSO(b, 0x1234, 2048, false)
	assert.Equal(t, uint64(0x1234), le.Uint64(b))
	w := le.Uint32(b[8:])
	assert.Equal(t, uint32(2048), w&0xfffff)
	assert.NotZero(t, w&TXD_CMD_TSE)
	assert.NotZero(t, w&TXD_DTYP_D)
	assert.Zero(t, w&(TXD_CMD_EOP<<24))
	assert.NotZero(t, w&(TXD_CMD_RS<<24))
	assert.Equal(t, uint8(POPTS_TXSM|POPTS_IXSM), b[13])
	PutTxDataTSO(b, 0x1234, 100, true)
	assert.NotZero(t, le.Uint32(b[8:])&(TXD_CMD_EOP<<24))

	// Not TCP, no payload past the headers, no MSS: refused.
	g := append([]byte(nil), f...)
	g[14+9] = 17
	_, ok = TSOContext(g, 20000, 1460)
	assert.False(t, ok)
	_, ok = TSOContext(f, 54, 1460)
	assert.False(t, ok)
	_, ok = TSOContext(f, 20000, 0)
	assert.False(t, ok)
}

// TSOPseudo takes the TCP length out of the stack's pseudo-header sum:
// the result equals the sum of the pseudo-header without a length (one's
// complement: 0 and 0xffff are the same number).
func TestTSOPseudo(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 10000; i++ {
		var src, dst wire.Addr
		r.Read(src[:])
		r.Read(dst[:])
		n := 20 + r.Intn(65515)
		field := ^wire.Pseudo(src, dst, wire.IPPROTO_TCP, n).Fold()
		want := ^wire.Pseudo(src, dst, wire.IPPROTO_TCP, 0).Fold()
		got := TSOPseudo(field, n)
		if got != want && !(got|want == 0xffff && got&want == 0) {
			t.Fatalf("src %v dst %v length %d: got %#x want %#x", src, dst, n, got, want)
		}
	}
}

// emulateTSE cuts frame f as the 8254x does with segmentation context
// ctx (SDM §3.5.9: each frame the header plus MSS of payload; IP total
// length, identification +1 per frame, TCP sequence number advanced, FIN
// and PSH cleared but in the last; the TCP length added to the
// checksum field, then TXSM sums from TUCSS to the end and IXSM the IP
// header, each with its field as found).
func emulateTSE(f []byte, ctx TxContext) [][]byte {
	hdr := int(ctx.HdrLen)
	var out [][]byte
	for off, i := 0, 0; off < int(ctx.PayLen); off, i = off+int(ctx.MSS), i+1 {
		n := min(int(ctx.MSS), int(ctx.PayLen)-off)
		s := append(append([]byte(nil), f[:hdr]...), f[hdr+off:hdr+off+n]...)
		binary.BigEndian.PutUint16(s[ctx.IPCSS+2:], uint16(len(s)-int(ctx.IPCSS)))
		binary.BigEndian.PutUint16(s[ctx.IPCSS+4:], binary.BigEndian.Uint16(s[ctx.IPCSS+4:])+uint16(i))
		tcp := s[ctx.TUCSS:]
		binary.BigEndian.PutUint32(tcp[4:], binary.BigEndian.Uint32(tcp[4:])+uint32(off))
		if off+n < int(ctx.PayLen) {
			tcp[13] &^= wire.TH_FIN | wire.TH_PUSH
		}
		ph := uint32(binary.BigEndian.Uint16(s[ctx.TUCSO:])) + uint32(len(tcp))
		binary.BigEndian.PutUint16(s[ctx.TUCSO:], uint16(ph>>16+ph&0xffff))
		binary.BigEndian.PutUint16(s[ctx.TUCSO:], wire.Checksum(tcp))
		binary.BigEndian.PutUint16(s[ctx.IPCSO:], wire.Checksum(s[ctx.IPCSS:int(ctx.IPCSE)+1]))
		out = append(out, s)
	}
	return out
}

// A frame as the stack hands it over (valid IP header checksum, the TCP
// field holding the pseudo-header's sum over the whole length), fixed up
// by TSOFixup and cut by the emulated device: every segment's IP and TCP
// checksums verify, sequence numbers follow, FIN/PSH on the last only.
func TestTSOFixupThroughDevice(t *testing.T) {
	src, dst := wire.MustAddr("10.99.0.2"), wire.MustAddr("10.99.0.1")
	for _, pay := range []int{1461, 2920, 10000, 65535 - 40} {
		f := make([]byte, 14+40+pay)
		binary.BigEndian.PutUint16(f[12:], wire.ETHERTYPE_IP)
		h := wire.IPv4{TotalLen: 40 + pay, ID: 0xfff0, TTL: 64, Proto: wire.IPPROTO_TCP, Src: src, Dst: dst}
		h.Put(f[14:])
		th := wire.TCP{SrcPort: 19, DstPort: 40000, Seq: 0xfffff000, Ack: 1, Flags: wire.TH_ACK | wire.TH_PUSH | wire.TH_FIN, Window: 500, Opts: wire.TCPOptions{WScale: -1}}
		th.Put(f[34:])
		rand.New(rand.NewSource(int64(pay))).Read(f[54:])
		binary.BigEndian.PutUint16(f[34+16:], ^wire.Pseudo(src, dst, wire.IPPROTO_TCP, 20+pay).Fold())
		ctx, ok := TSOContext(f, len(f), 1460)
		require.True(t, ok)
		TSOFixup(f, ctx, len(f))
		segs := emulateTSE(f, ctx)
		require.Len(t, segs, (pay+1459)/1460)
		for i, s := range segs {
			ip := s[14:]
			require.Zero(t, wire.Checksum(ip[:20]), "payload %d segment %d: IP checksum", pay, i)
			tcp := ip[20:]
			require.Zero(t, wire.Pseudo(src, dst, wire.IPPROTO_TCP, len(tcp)).Add(tcp).Fold(), "payload %d segment %d: TCP checksum", pay, i)
			require.Equal(t, uint32(0xfffff000+1460*i), binary.BigEndian.Uint32(tcp[4:]))
			require.Equal(t, i == len(segs)-1, tcp[13]&wire.TH_FIN != 0)
		}
	}
}
