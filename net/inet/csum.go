package inet

import (
	"encoding/binary"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/wire"
)

// Transmit checksum offload, as FreeBSD's CSUM_TCP/CSUM_UDP and
// in_delayed_cksum: TCP and UDP output put only the pseudo-header's sum
// (folded, not complemented) in the checksum field and mark the packet;
// once the route's interface is known, ipOutputRoute either leaves the
// rest to the device (IFCAP_TXCSUM enabled, the packet not fragmented:
// the device sums from the transport header to the end, the field
// included, and stores the complement) or finishes the checksum in
// software, the same sum over the same bytes.

// csumField is the offset of the checksum field in each transport header.
var csumField = map[uint8]uint16{wire.IPPROTO_TCP: 16, wire.IPPROTO_UDP: 6}

// delayCsum prepares transport segment m (header first, length n) for
// a delayed checksum: the field holds the pseudo-header's sum, and
// m.Pkt.Csum/CsumData say which protocol and where the field is.
func delayCsum(m *mbuf.Mbuf, src, dst wire.Addr, proto uint8, n int) {
	off := csumField[proto]
	binary.BigEndian.PutUint16(m.Bytes()[off:], ^wire.Pseudo(src, dst, proto, n).Fold())
	if proto == wire.IPPROTO_TCP {
		m.Pkt.Csum |= mbuf.CSUM_TCP
	} else {
		m.Pkt.Csum |= mbuf.CSUM_UDP
	}
	m.Pkt.CsumData = off
}

// finishCsum computes a delayed checksum in software over transport
// segment m (header first): the one's complement of the sum of every
// byte, the pseudo-header's sum already in the field (RFC 1071's sum is
// associative). A UDP checksum of 0 is sent as 0xffff (RFC 768).
func finishCsum(m *mbuf.Mbuf) {
	if m.Pkt.Csum&(mbuf.CSUM_TCP|mbuf.CSUM_UDP) == 0 {
		return
	}
	sum := wire.SumMbuf(0, m, 0, m.PktLen()).Fold()
	if sum == 0 && m.Pkt.Csum&mbuf.CSUM_UDP != 0 {
		sum = 0xffff
	}
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], sum)
	m.CopyIn(int(m.Pkt.CsumData), b[:])
	m.Pkt.Csum &^= mbuf.CSUM_TCP | mbuf.CSUM_UDP
}

// offloadCsum reports whether ifp computes the delayed checksums of
// packets sent whole through it.
func offloadCsum(ifp *netif.Interface) bool {
	return ifp.CapEnable()&netif.IFCAP_TXCSUM != 0
}

// offloadTSO reports whether ifp cuts CSUM_TSO packets itself.
func offloadTSO(ifp *netif.Interface) bool {
	return ifp.CapEnable()&(netif.IFCAP_TSO4|netif.IFCAP_TXCSUM) == netif.IFCAP_TSO4|netif.IFCAP_TXCSUM
}
