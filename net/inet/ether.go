package inet

import (
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/netisr"
	"github.com/smpgo/smpgo/net/wire"
)

// input is the netif upcall for every interface of the stack.
func (st *Stack) input(ifp *netif.Interface, m *mbuf.Mbuf) {
	if n := st.cfg.Netisr; n != nil {
		if st.cfg.NetisrMode == netisr.Queued {
			st.count(NetisrQueued)
			if n.Dispatch(st.isrID, m) != nil {
				st.count(NetisrDropFull)
			}
			return
		}
	}
	st.count(NetisrDirect)
	st.process(ifp, m)
}

// process runs the stack on one received frame (ether_input).
func (st *Stack) process(ifp *netif.Interface, m *mbuf.Mbuf) {
	// Counted before closed is read: Close, which sets closed before it
	// reads the count, waits for every frame that got past the check.
	st.busy.Add(1)
	defer st.busy.Add(-1)
	if st.closed.Load() {
		m.FreeChain()
		return
	}
	ifs := st.ifState(ifp.Index())
	if ifs == nil {
		m.FreeChain()
		return
	}
	st.enter()
	defer st.exit()
	if ifp.Type() == netif.IFT_LOOP {
		st.ipInput(ifs, m)
		return
	}
	st.count(EtherIn)
	m, err := m.Pullup(wire.EtherHdrLen)
	if err != nil {
		st.count(EtherDropShort)
		m.FreeChain()
		return
	}
	eh, _ := wire.ParseEther(m.Bytes())
	switch {
	case eh.Dst == netif.Broadcast:
		m.Pkt.Flags |= mbuf.M_BCAST
	case eh.Dst.IsMulticast():
		m.Pkt.Flags |= mbuf.M_MCAST
	case eh.Dst != ifp.MAC() && ifp.Flags()&netif.IFF_PROMISC == 0:
		st.count(EtherDropNotOurs)
		m.FreeChain()
		return
	}
	m.Adj(wire.EtherHdrLen)
	switch eh.Type {
	case wire.ETHERTYPE_IP:
		st.ipInput(ifs, m)
	case wire.ETHERTYPE_ARP:
		st.arpInput(ifs, m)
	default:
		st.count(EtherDropType)
		m.FreeChain()
	}
}

// etherOutput frames an IP packet for rt's interface and transmits it,
// resolving the next hop with ARP (the packet may wait in the ARP queue).
func (st *Stack) etherOutput(rt route, m *mbuf.Mbuf) error {
	ifp := rt.ifs.ifp
	if ifp.Type() == netif.IFT_LOOP {
		return ifp.Transmit(m)
	}
	var dst netif.HWAddr
	switch {
	case rt.bcast || rt.nexthop.IsBroadcast():
		dst = netif.Broadcast
	case rt.nexthop.IsMulticast():
		dst = netif.HWAddr{0x01, 0x00, 0x5e, rt.nexthop[1] & 0x7f, rt.nexthop[2], rt.nexthop[3]}
	default:
		var ok bool
		var err error
		dst, ok, err = rt.ifs.arp.resolve(rt.nexthop, m)
		if err != nil {
			return err
		}
		if !ok {
			return nil // held until the reply comes
		}
	}
	return st.etherSend(ifp, dst, wire.ETHERTYPE_IP, m)
}

// etherSend prepends an Ethernet header and hands the frame to the driver.
func (st *Stack) etherSend(ifp *netif.Interface, dst netif.HWAddr, typ uint16, m *mbuf.Mbuf) error {
	m = m.Prepend(wire.EtherHdrLen)
	eh := wire.Ether{Dst: dst, Src: ifp.MAC(), Type: typ}
	eh.Put(m.Bytes())
	st.count(EtherOut)
	return ifp.Transmit(m)
}
