package e1000

import "encoding/binary"

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
