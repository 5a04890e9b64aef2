package inet

import (
	"encoding/binary"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/wire"
)

// TCP segmentation offload's software side. TCP output hands a segment
// of up to 64 KiB with CSUM_TSO and the MSS in TSOSegSz to ipOutputRoute
// only when the route's interface has IFCAP_TSO4 on; should the packet
// reach an interface that does not (the route changed between TCP's
// decision and the send, TSO was turned off, the loopback), tcpSegment
// cuts it here as the device would (FreeBSD's tcp_gso idea, Linux's
// tcp_gso_segment), so nothing ever goes out larger than the MTU.

// tcpSegment cuts CSUM_TSO segment m (TCP header first) into segments of
// at most TSOSegSz payload bytes that also fit rt's MTU: each gets a copy
// of the header with its own sequence number, FIN and PSH only on the
// last and CWR only on the first, and a delayed checksum of its own; the
// data is shared with m, not copied. Each goes through ipOutputRoute
// (which leaves its checksum to the device or finishes it). It consumes
// m and returns the first error.
func (st *Stack) tcpSegment(rt route, m *mbuf.Mbuf, src, dst Addr, o outOpts) error {
	defer m.FreeChain()
	var hb [60]byte
	hl := 0
	if m.CopyOut(0, hb[:wire.TCPHdrLen]) == wire.TCPHdrLen {
		hl = int(hb[12]>>4) * 4
	}
	mss := int(m.Pkt.TSOSegSz)
	if lim := rt.ifs.ifp.MTU() - wire.IPv4HdrLen - hl; mss <= 0 || mss > lim {
		mss = lim
	}
	total := m.PktLen() - hl
	if hl < wire.TCPHdrLen || total <= 0 || mss <= 0 {
		st.count(TCPTSODropBad)
		return ErrMsgSize
	}
	m.CopyOut(0, hb[:hl])
	st.count(TCPTSOSoftware)
	seq := binary.BigEndian.Uint32(hb[4:8])
	flags := hb[13]
	var firstErr error
	for off := 0; off < total; off += mss {
		n := min(mss, total-off)
		s := m.Copy(hl+off, n)
		s.Pkt.Csum &^= mbuf.CSUM_TSO | mbuf.CSUM_TCP
		s.Pkt.TSOSegSz = 0
		s = s.Prepend(hl)
		b := s.Bytes()
		copy(b, hb[:hl])
		binary.BigEndian.PutUint32(b[4:8], seq+uint32(off))
		f := flags
		if off+n < total {
			f &^= wire.TH_FIN | wire.TH_PUSH
		}
		if off > 0 {
			f &^= wire.TH_CWR
		}
		b[13] = f
		delayCsum(s, src, dst, wire.IPPROTO_TCP, s.PktLen())
		st.count(TCPTSOSoftSegs)
		if err := st.ipOutputRoute(rt, s, src, dst, wire.IPPROTO_TCP, o); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}
