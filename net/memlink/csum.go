package memlink

import (
	"encoding/binary"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/wire"
)

// A checksum-offloading NIC, emulated (Config.Offload).

// insertCsum completes the transport checksum of an Ethernet/IPv4 frame
// whose field (at off from the transport header) holds the
// pseudo-header's sum, as the NIC would.
func insertCsum(frame []byte, off int) {
	if len(frame) < 14+20 {
		return
	}
	wire.CompleteCsum(frame, 14+int(frame[14]&0xf)*4, off, frame[14+9] == wire.IPPROTO_UDP)
}

// verifyCsum checks an Ethernet/IPv4 frame's header checksum and, for an
// unfragmented TCP or UDP packet, its transport checksum, and returns the
// receive flags a NIC would set: CALC for what it checked, VALID for
// what was right.
func verifyCsum(frame []byte) mbuf.CsumFlags {
	if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != wire.ETHERTYPE_IP || frame[14]>>4 != 4 {
		return 0
	}
	ip := frame[14:]
	hl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if hl < 20 || total < hl || total > len(ip) {
		return 0
	}
	f := mbuf.CSUM_L3_CALC
	if wire.Checksum(ip[:hl]) == 0 {
		f |= mbuf.CSUM_L3_VALID
	}
	proto := ip[9]
	if (proto != wire.IPPROTO_TCP && proto != wire.IPPROTO_UDP) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return f
	}
	var src, dst wire.Addr
	copy(src[:], ip[12:16])
	copy(dst[:], ip[16:20])
	seg := ip[hl:total]
	if proto == wire.IPPROTO_UDP && len(seg) >= 8 && binary.BigEndian.Uint16(seg[6:]) == 0 {
		return f // no UDP checksum to check
	}
	f |= mbuf.CSUM_L4_CALC
	if wire.Pseudo(src, dst, proto, len(seg)).Add(seg).Fold() == 0 {
		f |= mbuf.CSUM_L4_VALID
	}
	return f
}
