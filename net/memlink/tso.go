package memlink

import (
	"encoding/binary"
	"errors"

	"github.com/smpgo/smpgo/net/wire"
)

// A TCP-segmentation-offloading NIC, emulated (Config.TSO): a frame sent
// with mbuf CSUM_TSO is cut into frames that fit the MTU as the 8254x
// does it (8254x SDM §3.5: the header replicated in front of each
// payload of MSS bytes, the IPv4 total length, identification (+1 a
// segment) and header checksum rewritten, the TCP sequence number
// advanced, FIN and PSH kept only on the last segment, and each
// segment's TCP checksum computed whole). The request is checked
// against the stack's contract first, a malformed one dropped and
// counted (Counters.TSOBad).

// errTSO is a TSO request the emulated device refuses.
var errTSO = errors.New("memlink: malformed TSO request")

// segmentTSO cuts Ethernet/IPv4/TCP frame f into segments of at most mss
// payload bytes, each frame at most 14+mtu bytes.
func segmentTSO(f []byte, mss, mtu int) ([][]byte, error) {
	if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != wire.ETHERTYPE_IP || f[14]>>4 != 4 {
		return nil, errTSO
	}
	ip := f[14:]
	ihl := int(ip[0]&0xf) * 4
	if ihl < 20 || len(ip) < ihl+20 || ip[9] != wire.IPPROTO_TCP || int(binary.BigEndian.Uint16(ip[2:])) != len(ip) {
		return nil, errTSO
	}
	if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 || wire.Checksum(ip[:ihl]) != 0 {
		return nil, errTSO // a fragment, or a header the stack got wrong
	}
	tcp := ip[ihl:]
	thl := int(tcp[12]>>4) * 4
	pay := len(tcp) - thl
	if thl < 20 || pay <= 0 || mss <= 0 || ihl+thl+mss > mtu {
		return nil, errTSO
	}
	var src, dst wire.Addr
	copy(src[:], ip[12:16])
	copy(dst[:], ip[16:20])
	// The contract: the checksum field holds the pseudo-header's sum
	// over the whole TCP length (mbuf CSUM_TCP), as a Linux host expects
	// from a virtio guest.
	if binary.BigEndian.Uint16(tcp[16:]) != ^wire.Pseudo(src, dst, wire.IPPROTO_TCP, len(tcp)).Fold() {
		return nil, errTSO
	}
	hdr := 14 + ihl + thl
	id := binary.BigEndian.Uint16(ip[4:])
	seq := binary.BigEndian.Uint32(tcp[4:])
	flags := tcp[13]
	var out [][]byte
	for off, i := 0, 0; off < pay; off, i = off+mss, i+1 {
		n := min(mss, pay-off)
		s := make([]byte, hdr+n)
		copy(s, f[:hdr])
		copy(s[hdr:], f[hdr+off:hdr+off+n])
		sip := s[14:]
		binary.BigEndian.PutUint16(sip[2:], uint16(ihl+thl+n))
		binary.BigEndian.PutUint16(sip[4:], id+uint16(i))
		sip[10], sip[11] = 0, 0
		binary.BigEndian.PutUint16(sip[10:], wire.Checksum(sip[:ihl]))
		st := sip[ihl:]
		binary.BigEndian.PutUint32(st[4:], seq+uint32(off))
		fl := flags
		if off+n < pay {
			fl &^= wire.TH_FIN | wire.TH_PUSH
		}
		if i > 0 {
			fl &^= wire.TH_CWR
		}
		st[13] = fl
		st[16], st[17] = 0, 0
		binary.BigEndian.PutUint16(st[16:], wire.Pseudo(src, dst, wire.IPPROTO_TCP, len(st)).Add(st).Fold())
		out = append(out, s)
	}
	return out, nil
}
