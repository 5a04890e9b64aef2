package e1000

import (
	"encoding/binary"
	"testing"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/stretchr/testify/assert"
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
