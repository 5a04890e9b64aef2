package inet

import (
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/wire"
)

// ipInput validates an IPv4 packet (RFC 791 §3.1, RFC 1122 §3.2.1) and
// delivers it. m starts at the IP header.
func (st *Stack) ipInput(ifs *ifState, m *mbuf.Mbuf) {
	st.count(IPIn)
	m, err := m.Pullup(wire.IPv4HdrLen)
	if err != nil {
		st.count(IPDropShort)
		m.FreeChain()
		return
	}
	if hl := int(m.Bytes()[0]&0xf) * 4; hl > wire.IPv4HdrLen {
		if m, err = m.Pullup(hl); err != nil {
			st.count(IPDropHeaderLen)
			m.FreeChain()
			return
		}
	}
	csumOK := m.Pkt.Csum&(mbuf.CSUM_L3_CALC|mbuf.CSUM_L3_VALID) == mbuf.CSUM_L3_CALC|mbuf.CSUM_L3_VALID ||
		m.Pkt.Flags&mbuf.M_LOOP != 0
	h, err := wire.ParseIPv4(m.Bytes(), m.PktLen(), csumOK)
	if err != nil {
		st.count(ipParseStat(err))
		m.FreeChain()
		return
	}
	if h.HdrLen > wire.IPv4HdrLen {
		// Options (source routes, record route, ...) are not supported:
		// drop rather than half-honour them (RFC 7126 §4 filters most).
		st.count(IPDropOptions)
		m.FreeChain()
		return
	}
	if m.PktLen() > h.TotalLen {
		m.Adj(h.TotalLen - m.PktLen()) // link-layer padding
	}
	if h.Src.IsBroadcast() || h.Src.IsMulticast() || (h.Src.IsLoopback() && ifs.ifp.Type() != netif.IFT_LOOP) {
		st.count(IPDropBadSrc)
		m.FreeChain()
		return
	}
	if !st.forUs(ifs, &h, m) {
		st.count(IPDropNotOurs)
		m.FreeChain()
		return
	}
	if h.IsFragment() {
		st.count(IPFragmentsIn)
		if m = st.reass.add(st, &h, m); m == nil {
			return
		}
		st.count(IPReassembled)
	}
	st.count(IPDelivered)
	switch h.Proto {
	case wire.IPPROTO_TCP:
		st.tcpInput(ifs, &h, m)
	case wire.IPPROTO_UDP:
		st.udpInput(ifs, &h, m)
	case wire.IPPROTO_ICMP:
		st.icmpInput(ifs, &h, m)
	default:
		st.count(IPDropNoProto)
		st.icmpError(m, &h, wire.ICMP_UNREACH, wire.ICMP_UNREACH_PROTOCOL, 0)
	}
}

func ipParseStat(err error) Stat {
	switch err {
	case wire.ErrVersion:
		return IPDropVersion
	case wire.ErrHeaderLen:
		return IPDropHeaderLen
	case wire.ErrTotalLen:
		return IPDropTotalLen
	case wire.ErrChecksum:
		return IPDropChecksum
	}
	return IPDropShort
}

// forUs decides whether the stack accepts a packet for delivery (weak host
// model: any of our addresses on any interface), marking broadcasts.
func (st *Stack) forUs(ifs *ifState, h *wire.IPv4, m *mbuf.Mbuf) bool {
	if h.Dst.IsBroadcast() {
		m.Pkt.Flags |= mbuf.M_BCAST
		return true
	}
	if h.Dst.IsMulticast() {
		m.Pkt.Flags |= mbuf.M_MCAST
		return h.Dst == wire.MustAddr("224.0.0.1")
	}
	st.rtMu.RLock()
	defer st.rtMu.RUnlock()
	if st.isLocalRLocked(h.Dst) {
		return true
	}
	for _, a := range ifs.addrs {
		if h.Dst == a.broadcast() {
			m.Pkt.Flags |= mbuf.M_BCAST
			return true
		}
	}
	// An interface without an address takes unicast UDP (a DHCP server
	// may answer to the address it is offering, RFC 2131 §4.1).
	return len(ifs.addrs) == 0 && h.Proto == wire.IPPROTO_UDP
}

// outOpts are ipOutput's options.
type outOpts struct {
	ifp *netif.Interface // force the interface (DHCP broadcasts)
	ttl uint8            // 0: default
	tos uint8
	df  bool
}

// ipOutput prepends an IPv4 header to m (the transport header and data) and
// sends it towards dst, fragmenting if it exceeds the MTU and df is clear.
// It always consumes m. src may be zero: the route's address is used.
func (st *Stack) ipOutput(m *mbuf.Mbuf, src, dst Addr, proto uint8, o outOpts) error {
	rt, err := st.routeTo(dst, o.ifp)
	if err != nil {
		st.count(IPDropNoRoute)
		m.FreeChain()
		return err
	}
	if src.IsUnspecified() && o.ifp == nil {
		src = rt.src
	}
	return st.ipOutputRoute(rt, m, src, dst, proto, o)
}

func (st *Stack) ipOutputRoute(rt route, m *mbuf.Mbuf, src, dst Addr, proto uint8, o outOpts) error {
	h := wire.IPv4{
		TOS:      o.tos,
		TotalLen: wire.IPv4HdrLen + m.PktLen(),
		ID:       uint16(st.ipID.Add(1)),
		TTL:      o.ttl,
		Proto:    proto,
		Src:      src,
		Dst:      dst,
	}
	if h.TTL == 0 {
		h.TTL = wire.IPDefTTL
	}
	if o.df {
		h.Frag = wire.IP_DF
	}
	mtu := rt.ifs.ifp.MTU()
	if m.Pkt.Csum&mbuf.CSUM_TSO != 0 {
		if !offloadTSO(rt.ifs.ifp) || h.TotalLen > netif.TSOMax {
			// The interface (the route changed, or TSO was turned
			// off) does not cut it: never send it oversized.
			return st.tcpSegment(rt, m, src, dst, o)
		}
		st.count(IPOut)
		m = m.Prepend(wire.IPv4HdrLen)
		h.Put(m.Bytes())
		return st.etherOutput(rt, m)
	}
	st.count(IPOut)
	if h.TotalLen > mtu || !offloadCsum(rt.ifs.ifp) {
		finishCsum(m) // fragments, or no device to do it (csum.go)
	}
	if h.TotalLen <= mtu {
		m = m.Prepend(wire.IPv4HdrLen)
		h.Put(m.Bytes())
		return st.etherOutput(rt, m)
	}
	if o.df {
		st.count(IPDropNeedFrag)
		m.FreeChain()
		return ErrMsgSize
	}
	return st.fragment(rt, m, &h, mtu)
}

// fragment sends m as fragments of at most mtu bytes (RFC 791 §3.2,
// "Fragmentation"), each sharing m's data.
func (st *Stack) fragment(rt route, m *mbuf.Mbuf, h *wire.IPv4, mtu int) error {
	defer m.FreeChain()
	chunk := (mtu - wire.IPv4HdrLen) &^ 7
	if chunk <= 0 {
		st.count(IPDropNeedFrag)
		return ErrMsgSize
	}
	total := m.PktLen()
	var firstErr error
	for off := 0; off < total; off += chunk {
		n := min(chunk, total-off)
		f := m.Copy(off, n)
		fh := *h
		fh.TotalLen = wire.IPv4HdrLen + n
		fh.Frag = uint16(off / 8)
		if off+n < total {
			fh.Frag |= wire.IP_MF
		}
		f = f.Prepend(wire.IPv4HdrLen)
		fh.Put(f.Bytes())
		st.count(IPFragmentsOut)
		if err := st.etherOutput(rt, f); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}
