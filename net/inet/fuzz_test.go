package inet

import (
	"testing"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/memlink"
	"github.com/smpgo/smpgo/net/wire"
)

// FuzzStackInput feeds arbitrary frames to a live stack through its input
// path: nothing may panic. The stack's own goroutines (loopback, timers)
// make coverage slightly non-deterministic, so fuzz with a short
// minimisation budget:
//
//	go test -run XXX -fuzz FuzzStackInput -fuzzminimizetime 1s ./net/inet
func FuzzStackInput(f *testing.F) {
	l, err := memlink.New(memlink.Config{})
	if err != nil {
		f.Fatal(err)
	}
	st, err := New(Config{Seed: 30})
	if err != nil {
		f.Fatal(err)
	}
	if err := st.AddInterface(l.A); err != nil {
		f.Fatal(err)
	}
	if err := st.SetAddr(l.A, addrA, 24); err != nil {
		f.Fatal(err)
	}
	_, _ = st.ListenUDP(toAddrPort(Addr{}, 7))
	defer func() { st.Close(); l.Close() }()

	f.Add(frameIP(l, wire.IPPROTO_UDP, udpPayload(addrB, addrA, 1, 7, []byte("seed")), nil))
	f.Add(frameIP(l, wire.IPPROTO_ICMP, []byte{8, 0, 0xf7, 0xfe, 0, 1, 0, 0}, nil))
	f.Add(frameIP(l, wire.IPPROTO_TCP, make([]byte, 20), nil))
	f.Add(frameIP(l, wire.IPPROTO_UDP, make([]byte, 16), func(h *wire.IPv4) { h.Frag = wire.IP_MF }))
	arp := make([]byte, 42)
	eh := wire.Ether{Dst: netif.Broadcast, Src: l.B.MAC(), Type: wire.ETHERTYPE_ARP}
	eh.Put(arp)
	ap := wire.ARP{Op: wire.ARPOP_REQUEST, SHA: l.B.MAC(), SPA: addrB, TPA: addrA}
	ap.Put(arp[14:])
	f.Add(arp)
	f.Fuzz(func(t *testing.T, frame []byte) {
		m := mbuf.FromBytes(frame, 0)
		if m == nil {
			return
		}
		// Straight into the stack, in this goroutine.
		st.process(l.A, m)
	})
}
