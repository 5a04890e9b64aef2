package e1000

import (
	"encoding/binary"

	"github.com/smpgo/smpgo/net/mbuf"
)

// Descriptor formats. Both rings use 16-byte descriptors.

// Receive descriptor (§3.2.3, table 3-1): buffer address, length,
// packet checksum, status, errors, special.
const (
	RXD_STAT_DD  = 1 << 0 // descriptor done
	RXD_STAT_EOP = 1 << 1 // end of packet
	RXD_ERR_CE   = 1 << 0 // CRC or alignment error
	RXD_ERR_SE   = 1 << 1 // symbol error
	RXD_ERR_SEQ  = 1 << 2
	RXD_ERR_CXE  = 1 << 4
	RXD_ERR_RXE  = 1 << 7
	RXD_ERR_BAD  = RXD_ERR_CE | RXD_ERR_SE | RXD_ERR_SEQ | RXD_ERR_CXE | RXD_ERR_RXE
)

// Legacy transmit descriptor (§3.3.3, table 3-8): buffer address, length,
// CSO, command, status, CSS, special.
const (
	TXD_CMD_EOP  = 1 << 0 // end of packet
	TXD_CMD_IFCS = 1 << 1 // insert FCS
	TXD_CMD_RS   = 1 << 3 // report status
	TXD_STAT_DD  = 1 << 0
)

// DescSize is the size of either descriptor.
const DescSize = 16

// RxDesc is a decoded receive descriptor.
type RxDesc struct {
	Addr     uint64
	Length   uint16
	Checksum uint16
	Status   uint8
	Errors   uint8
	Special  uint16
}

// PutRx encodes a receive descriptor ready for the device: only the
// buffer address, everything the device writes back zeroed.
func PutRx(b []byte, addr uint64) {
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint64(b[8:], 0)
}

// GetRx decodes a receive descriptor.
func GetRx(b []byte) RxDesc {
	le := binary.LittleEndian
	return RxDesc{Addr: le.Uint64(b[0:]), Length: le.Uint16(b[8:]), Checksum: le.Uint16(b[10:]),
		Status: b[12], Errors: b[13], Special: le.Uint16(b[14:])}
}

// PutTx encodes a one-buffer legacy transmit descriptor that ends a
// packet, asks for the FCS and for status write-back.
func PutTx(b []byte, addr uint64, length int) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], addr)
	le.PutUint16(b[8:], uint16(length))
	b[10] = 0                                       // CSO
	b[11] = TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS // CMD
	b[12] = 0                                       // STA
	b[13] = 0                                       // CSS
	le.PutUint16(b[14:], 0)
}

// TxDone reports the DD bit of a transmit descriptor.
func TxDone(b []byte) bool { return b[12]&TXD_STAT_DD != 0 }

// Receive checksum offload (8254x SDM chapter 3, receive descriptor
// status and error fields, and "Receive Checksum Offloading"; enabled by
// RXCSUM.IPOFLD/TUOFLD, register 05000h in chapter 13).
const (
	RXD_STAT_IXSM  = 1 << 2 // ignore the checksum indications
	RXD_STAT_TCPCS = 1 << 5 // TCP/UDP checksum calculated
	RXD_STAT_IPCS  = 1 << 6 // IPv4 header checksum calculated
	RXD_ERR_TCPE   = 1 << 5 // TCP/UDP checksum error
	RXD_ERR_IPE    = 1 << 6 // IPv4 header checksum error
)

// RxCsum turns a receive descriptor's status and error bits into mbuf
// checksum flags: nothing with IXSM set (QEMU's 82540EM always sets it:
// it computes no checksums), CALC for each checksum the device
// calculated, VALID when it found no error. A packet whose checksum the
// device found wrong still goes up (not RXD_ERR_BAD): the stack checks it
// again and counts the drop.
func RxCsum(status, errors uint8) mbuf.CsumFlags {
	if status&RXD_STAT_IXSM != 0 {
		return 0
	}
	var f mbuf.CsumFlags
	if status&RXD_STAT_IPCS != 0 {
		f |= mbuf.CSUM_L3_CALC
		if errors&RXD_ERR_IPE == 0 {
			f |= mbuf.CSUM_L3_VALID
		}
	}
	if status&RXD_STAT_TCPCS != 0 {
		f |= mbuf.CSUM_L4_CALC
		if errors&RXD_ERR_TCPE == 0 {
			f |= mbuf.CSUM_L4_VALID
		}
	}
	return f
}

// Transmit checksum offload (8254x SDM §3.3.5 onwards, the TCP/IP
// context and data transmit descriptors, which the legacy descriptor's
// notes in §3.3.3 recommend over its CSO/CSS): a context descriptor tells
// the device where the checksums start, sit and end; data descriptors
// then ask for them with POPTS.TXSM (TCP/UDP) and POPTS.IXSM (IPv4
// header). A context stays in force until the next one.
const (
	TXD_DTYP_D   = 1 << 20 // descriptor type: data (context: 0), dword 2
	TXD_CMD_DEXT = 1 << 29 // extended descriptor (context or data), dword 2
	TXD_CMD_TSE  = 1 << 26
	TUCMD_TCP    = 1 << 24 // context: the packet is TCP (0: UDP)
	TUCMD_IP     = 1 << 25 // context: IPv4 (0: IPv6)
	TUCMD_RS     = 1 << 27 // context: report status (DD written back)
	POPTS_IXSM   = 1 << 0  // data: insert the IPv4 header checksum
	POPTS_TXSM   = 1 << 1  // data: insert the TCP/UDP checksum
)

// TxContext is a TCP/IP context descriptor's checksum fields (offsets
// from the start of the frame; an end of 0 means the end of the packet).
type TxContext struct {
	IPCSS, IPCSO uint8
	IPCSE        uint16
	TUCSS, TUCSO uint8
	TUCSE        uint16
	TCP          bool
	// TCP segmentation (§3.5, TUCMD.TSE): PAYLEN the TCP payload bytes
	// of the whole request, HDRLEN the Ethernet, IP and TCP headers' length
	// (replicated in front of every segment), MSS the payload of each.
	TSE    bool
	PayLen uint32
	HdrLen uint8
	MSS    uint16
}

// PutTxContext encodes a context descriptor with
// RS set, so that it too gets DD written back and retires in order.
func PutTxContext(b []byte, c TxContext) {
	le := binary.LittleEndian
	b[0], b[1] = c.IPCSS, c.IPCSO
	le.PutUint16(b[2:], c.IPCSE)
	b[4], b[5] = c.TUCSS, c.TUCSO
	le.PutUint16(b[6:], c.TUCSE)
	cmd := uint32(TXD_CMD_DEXT | TUCMD_IP | TUCMD_RS)
	if c.TCP {
		cmd |= TUCMD_TCP
	}
	var seg uint32
	if c.TSE {
		cmd |= TXD_CMD_TSE | c.PayLen&0xfffff
		seg = uint32(c.HdrLen)<<8 | uint32(c.MSS)<<16
	}
	le.PutUint32(b[8:], cmd)  // PAYLEN (with TSE), DTYP 0: context
	le.PutUint32(b[12:], seg) // STA, HDRLEN, MSS
}

// PutTxDataTSO encodes one data descriptor of a TCP segmentation
// request (§3.5.6: a request spans several data descriptors, the last
// with EOP; DCMD.TSE in each; POPTS is read from the first only, which
// asks for both checksums in every segment, §3.5.8). RS on each, so
// that every descriptor gets DD written back and retires in order.
func PutTxDataTSO(b []byte, addr uint64, length int, eop bool) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], addr)
	cmd := uint32(TXD_CMD_IFCS|TXD_CMD_RS) << 24
	if eop {
		cmd |= TXD_CMD_EOP << 24
	}
	le.PutUint32(b[8:], uint32(length)&0xfffff|TXD_DTYP_D|TXD_CMD_DEXT|TXD_CMD_TSE|cmd)
	b[12] = 0                       // STA
	b[13] = POPTS_TXSM | POPTS_IXSM // POPTS
	le.PutUint16(b[14:], 0)
}

// TSOContext is the segmentation context for CSUM_TSO frame f (its
// Ethernet, IPv4 and TCP headers at least) of total length n with
// segments of mss payload bytes: both checksums (the IP header's
// rewritten in every segment), the headers' length and the payload's.
func TSOContext(f []byte, n int, mss uint16) (TxContext, bool) {
	if len(f) < 14+20 || f[12] != 0x08 || f[13] != 0 || f[14]>>4 != 4 || f[14+9] != 6 {
		return TxContext{}, false
	}
	ihl := int(f[14]&0xf) * 4
	if ihl < 20 || len(f) < 14+ihl+20 {
		return TxContext{}, false
	}
	hdr := 14 + ihl + int(f[14+ihl+12]>>4)*4
	if hdr < 14+ihl+20 || hdr > 255 || n <= hdr || mss == 0 {
		return TxContext{}, false
	}
	return TxContext{IPCSS: 14, IPCSO: 14 + 10, IPCSE: uint16(14 + ihl - 1),
		TUCSS: uint8(14 + ihl), TUCSO: uint8(14 + ihl + 16), TCP: true,
		TSE: true, PayLen: uint32(n - hdr), HdrLen: uint8(hdr), MSS: mss}, true
}

// TSOPseudo turns the TCP checksum field of a TSO frame's header as the
// stack leaves it (the pseudo-header's sum over the whole TCP length,
// mbuf CSUM_TCP) into what the device wants (§3.5.7: the pseudo-header
// without the length, which it adds for each segment it cuts): the
// length tcpLen subtracted in one's complement.
func TSOPseudo(field uint16, tcpLen int) uint16 {
	s := uint32(field) + uint32(^uint16(tcpLen))
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint16(s)
}

// PutTxData encodes a one-buffer TCP/IP data descriptor that ends a packet, asks for the FCS and status write-back, and
// for the TCP/UDP checksum of the current context.
func PutTxData(b []byte, addr uint64, length int) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], addr)
	le.PutUint32(b[8:], uint32(length)&0xfffff|TXD_DTYP_D|TXD_CMD_DEXT|(TXD_CMD_EOP|TXD_CMD_IFCS|TXD_CMD_RS)<<24)
	b[12] = 0          // STA
	b[13] = POPTS_TXSM // POPTS
	le.PutUint16(b[14:], 0)
}

// TSOFixup readies the headers of a TSO frame of n bytes for the device,
// in b (the frame's first bytes, headers included, in the DMA buffer):
// the IP header's checksum field zeroed (IXSM sums the header as it
// finds it, the field included; FreeBSD's em_tso_setup zeroes it too),
// and the TCP checksum field turned into the pseudo-header's sum without
// the length (TSOPseudo, §3.5.7).
func TSOFixup(b []byte, ctx TxContext, n int) {
	b[ctx.IPCSO], b[ctx.IPCSO+1] = 0, 0
	f := b[ctx.TUCSO:]
	binary.BigEndian.PutUint16(f, TSOPseudo(binary.BigEndian.Uint16(f), n-int(ctx.TUCSS)))
}
