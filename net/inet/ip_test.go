package inet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/memlink"
	"github.com/smpgo/smpgo/net/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPingResolvesARPBothWays(t *testing.T) {
	a, b, l := pair(t, Config{Seed: 1}, memlink.Config{})
	_, err := a.Ping(ctx5(t), addrB, 1, 56)
	require.NoError(t, err)
	_, err = a.Ping(ctx5(t), addrB, 2, 1000)
	require.NoError(t, err)
	ea := a.ARPEntries(l.A)
	require.Len(t, ea, 1)
	assert.Equal(t, addrB, ea[0].Addr)
	assert.Equal(t, l.B.MAC(), ea[0].MAC)
	assert.True(t, ea[0].Complete)
	// B learnt A from the request that targeted it.
	eb := b.ARPEntries(l.B)
	require.Len(t, eb, 1)
	assert.Equal(t, l.A.MAC(), eb[0].MAC)
	assert.Equal(t, uint64(2), b.Stat(ICMPEchoReplies))
	assert.Equal(t, uint64(1), a.Stat(ARPRequestsSent))
}

func TestPingSelfAndLoopback(t *testing.T) {
	a, _, _ := pair(t, Config{Seed: 2}, memlink.Config{})
	_, err := a.Ping(ctx5(t), addrA, 1, 10)
	require.NoError(t, err)
	_, err = a.Ping(ctx5(t), wire.MustAddr("127.0.0.1"), 1, 10)
	require.NoError(t, err)
	_, err = a.Ping(ctx5(t), wire.MustAddr("192.168.9.9"), 1, 10)
	assert.ErrorIs(t, err, ErrNoRoute)
}

func TestDefaultGateway(t *testing.T) {
	a, _, l := pair(t, Config{Seed: 3}, memlink.Config{})
	assert.ErrorIs(t, a.SetDefaultGateway(wire.MustAddr("10.9.0.1")), ErrNoRoute, "gateway must be on a connected network")
	require.NoError(t, a.SetDefaultGateway(addrB))
	src, err := a.SourceFor(wire.MustAddr("8.8.8.8"))
	require.NoError(t, err)
	assert.Equal(t, addrA, src)
	var def *Route
	for _, r := range a.Routes() {
		if r.Prefix == 0 {
			r := r
			def = &r
		}
	}
	require.NotNil(t, def)
	assert.Equal(t, addrB, def.Gateway)
	assert.Same(t, l.A, def.Ifp)
}

func udpEcho(t *testing.T, st *Stack, port uint16) *UDPConn {
	c, err := st.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), port))
	require.NoError(t, err)
	go func() {
		buf := make([]byte, 70000)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUDPEchoAndFragmentation(t *testing.T) {
	a, b, _ := pair(t, Config{Seed: 4}, memlink.Config{Faults: memlink.Faults{Seed: 9, Reorder: 0.3}})
	udpEcho(t, b, 7)
	c, err := a.DialUDP(netip.AddrPortFrom(addrB.Netip(), 7))
	require.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 70000)
	for _, n := range []int{0, 1, 1472, 1473, 8000, 65507} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		for i := range msg {
			msg[i] = byte(i * 13)
		}
		_, err := c.Write(msg)
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		got, err := c.Read(buf)
		require.NoError(t, err, "size %d", n)
		assert.Equal(t, msg, buf[:got], "size %d", n)
	}
	assert.Greater(t, a.Stat(IPFragmentsOut), uint64(40))
	assert.Greater(t, b.Stat(IPReassembled), uint64(2))
	assert.Equal(t, 0, a.ReassemblyPending())
}

func TestUDPPortUnreachableAndDeadline(t *testing.T) {
	a, b, _ := pair(t, Config{Seed: 5}, memlink.Config{})
	c, err := a.DialUDP(netip.AddrPortFrom(addrB.Netip(), 9999))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("anyone?"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 10))
	assert.ErrorIs(t, err, ErrConnRefused)
	assert.Equal(t, uint64(1), b.Stat(UDPDropNoPort))

	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = c.Read(make([]byte, 10))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.True(t, errors.As(err, &ne))
	assert.True(t, ne.Timeout())

	require.NoError(t, c.Close())
	_, err = c.Read(make([]byte, 10))
	assert.ErrorIs(t, err, net.ErrClosed)

	_, err = a.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 7))
	require.NoError(t, err)
	_, err = a.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 7))
	assert.ErrorIs(t, err, ErrAddrInUse)
}

func TestICMPErrorsAreRateLimited(t *testing.T) {
	st, peer, l := withRaw(t, Config{Seed: 6, ICMPErrorRate: 10, SlowTick: time.Hour})
	peer.announce(t, st, l)
	for i := 0; i < 30; i++ {
		peer.inject(t, frameIP(l, wire.IPPROTO_UDP, udpPayload(addrB, addrA, 1000, 4444, []byte("x")), nil))
	}
	require.Eventually(t, func() bool { return st.Stat(UDPDropNoPort) == 30 }, 5*time.Second, time.Millisecond)
	// The tick is an hour: the budget is 10/s × 1 h capped to one tick's worth.
	assert.Greater(t, st.Stat(ICMPErrorsRateLimited), uint64(0))
	assert.Equal(t, uint64(30), st.Stat(ICMPOut)+st.Stat(ICMPErrorsRateLimited))
	f := peer.waitFrame(t, func(f []byte) bool {
		return len(f) > 34 && f[23] == wire.IPPROTO_ICMP && f[34] == wire.ICMP_UNREACH && f[35] == wire.ICMP_UNREACH_PORT
	})
	// The error quotes our datagram's IP header and 8 bytes.
	assert.Equal(t, addrB[:], f[34+8+12:34+8+16])
}

func TestMalformedPacketsAreCountedAndDropped(t *testing.T) {
	st, peer, l := withRaw(t, Config{Seed: 7})
	good := frameIP(l, wire.IPPROTO_UDP, udpPayload(addrB, addrA, 1, 2, []byte("hi")), nil)
	cases := []struct {
		name  string
		frame []byte
		stat  Stat
	}{
		{"short ether", good[:10], EtherDropShort},
		{"short ip", good[:wire.EtherHdrLen+12], IPDropShort},
		{"version", func() []byte { b := bytes.Clone(good); b[14] = 0x65; return b }(), IPDropVersion},
		{"hdrlen", func() []byte { b := bytes.Clone(good); b[14] = 0x43; return b }(), IPDropHeaderLen},
		{"totlen", frameIP(l, wire.IPPROTO_UDP, nil, func(h *wire.IPv4) { h.TotalLen = 500 }), IPDropTotalLen},
		{"checksum", func() []byte { b := bytes.Clone(good); b[14+8]--; return b }(), IPDropChecksum},
		{"options", func() []byte {
			b := bytes.Clone(good)
			b = append(b[:34], append([]byte{1, 1, 1, 0}, b[34:]...)...)
			b[14] = 0x46
			binary.BigEndian.PutUint16(b[16:], uint16(len(b)-14))
			b[24], b[25] = 0, 0
			c := wire.Checksum(b[14:38])
			binary.BigEndian.PutUint16(b[24:], c)
			return b
		}(), IPDropOptions},
		{"broadcast source", frameIP(l, wire.IPPROTO_UDP, nil, func(h *wire.IPv4) { h.Src = wire.AddrBroadcast }), IPDropBadSrc},
		{"not ours", frameIP(l, wire.IPPROTO_UDP, nil, func(h *wire.IPv4) { h.Dst = wire.MustAddr("10.0.0.77") }), IPDropNotOurs},
		{"udp short", frameIP(l, wire.IPPROTO_UDP, []byte{1, 2, 3}, nil), UDPDropShort},
		{"udp checksum", func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 0xff; return b }(), UDPDropChecksum},
		{"udp length", frameIP(l, wire.IPPROTO_UDP, []byte{0, 1, 0, 2, 0, 200, 0, 0}, nil), UDPDropShort},
		{"icmp short", frameIP(l, wire.IPPROTO_ICMP, []byte{8, 0}, nil), ICMPDropBad},
		{"icmp checksum", frameIP(l, wire.IPPROTO_ICMP, []byte{8, 0, 0, 0, 0, 0, 0, 1}, nil), ICMPDropChecksum},
		{"tcp short", frameIP(l, wire.IPPROTO_TCP, []byte{0, 1, 0, 2}, nil), TCPDropShort},
		{"fragment not multiple of 8", frameIP(l, wire.IPPROTO_UDP, make([]byte, 13), func(h *wire.IPv4) { h.Frag = wire.IP_MF }), IPFragDropBad},
		{"fragment beyond 64K", frameIP(l, wire.IPPROTO_UDP, make([]byte, 16), func(h *wire.IPv4) { h.Frag = wire.IP_MF | 8190 }), IPFragDropTooBig},
		{"unknown ethertype", func() []byte { b := bytes.Clone(good); b[12] = 0x88; return b }(), EtherDropType},
		{"bad arp", func() []byte {
			b := make([]byte, 42)
			eh := wire.Ether{Dst: netif.Broadcast, Src: l.B.MAC(), Type: wire.ETHERTYPE_ARP}
			eh.Put(b)
			b[14+1] = 7
			return b
		}(), ARPDropBad},
	}
	for _, c := range cases {
		before := st.Stat(c.stat)
		peer.inject(t, c.frame)
		require.Eventually(t, func() bool { return st.Stat(c.stat) == before+1 }, 5*time.Second, time.Millisecond, c.name)
	}
}

func TestReassemblyOverlapTimeoutAndLimit(t *testing.T) {
	clk := NewFakeClock()
	st, peer, l := withRaw(t, Config{Seed: 8, Clock: clk, ReassMax: 2})
	frag := func(id uint16, off int, mf bool, n int) []byte {
		return frameIP(l, wire.IPPROTO_UDP, make([]byte, n), func(h *wire.IPv4) {
			h.ID = id
			h.Frag = uint16(off / 8)
			if mf {
				h.Frag |= wire.IP_MF
			}
		})
	}
	wait := func(s Stat, v uint64) {
		require.Eventually(t, func() bool { return st.Stat(s) == v }, 5*time.Second, time.Millisecond, s.String())
	}
	// Overlap: [0,16) then [8,24) poisons datagram 1.
	peer.inject(t, frag(1, 0, true, 16))
	peer.inject(t, frag(1, 8, true, 16))
	wait(IPFragDropOverlap, 1)
	assert.Equal(t, 0, st.ReassemblyPending())
	// An exact duplicate is dropped alone.
	peer.inject(t, frag(2, 0, true, 16))
	peer.inject(t, frag(2, 0, true, 16))
	wait(IPFragDropOverlap, 2)
	assert.Equal(t, 1, st.ReassemblyPending())
	// Limit: a third datagram while two are pending.
	peer.inject(t, frag(3, 0, true, 16))
	peer.inject(t, frag(4, 0, true, 16))
	wait(IPFragDropLimit, 1)
	// Timeout frees them and reports time exceeded for those with a
	// first fragment.
	clk.Advance(31 * time.Second)
	assert.Equal(t, 0, st.ReassemblyPending())
	assert.Equal(t, uint64(2), st.Stat(IPFragDropTimeout))
}

func TestARPHostDownAndHeldQueue(t *testing.T) {
	clk := NewFakeClock()
	st, peer, l := withRaw(t, Config{Seed: 9, Clock: clk, ARPHold: 2})
	c, err := st.DialUDP(netip.AddrPortFrom(wire.MustAddr("10.0.0.50").Netip(), 5))
	require.NoError(t, err)
	defer c.Close()
	for i := 0; i < 3; i++ {
		_, err := c.Write([]byte("x"))
		require.NoError(t, err)
	}
	assert.Equal(t, uint64(1), st.Stat(ARPHeldDrop), "hold queue keeps the newest 2")
	req := peer.waitFrame(t, func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == wire.ETHERTYPE_ARP && f[21] == wire.ARPOP_REQUEST &&
			bytes.Equal(f[38:42], []byte{10, 0, 0, 50})
	})
	assert.Equal(t, netif.Broadcast[:], req[0:6])
	for i := 0; i < 10; i++ {
		clk.Advance(time.Second)
	}
	assert.Equal(t, uint64(2), st.Stat(ARPResolveFail), "held packets dropped when the host does not answer")
	_, err = c.Write([]byte("x"))
	assert.ErrorIs(t, err, ErrHostDown)
	assert.GreaterOrEqual(t, st.Stat(ARPRequestsSent), uint64(5))
	_ = l
}

func TestGratuitousARPOnAddressAndConflict(t *testing.T) {
	st, peer, l := withRaw(t, Config{Seed: 10})
	f := peer.waitFrame(t, func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == wire.ETHERTYPE_ARP &&
			bytes.Equal(f[28:32], addrA[:]) && bytes.Equal(f[38:42], addrA[:])
	})
	assert.Equal(t, l.A.MAC().String(), netif.HWAddr(f[6:12]).String())
	// Someone else claims 10.0.0.1.
	arp := make([]byte, 42)
	eh := wire.Ether{Dst: netif.Broadcast, Src: l.B.MAC(), Type: wire.ETHERTYPE_ARP}
	eh.Put(arp)
	ap := wire.ARP{Op: wire.ARPOP_REQUEST, SHA: l.B.MAC(), SPA: addrA, TPA: addrA}
	ap.Put(arp[14:])
	peer.inject(t, arp)
	require.Eventually(t, func() bool { return st.Stat(ARPConflict) == 1 }, 5*time.Second, time.Millisecond)
}

func TestTCPClosedPortAnswersRST(t *testing.T) {
	st, peer, l := withRaw(t, Config{Seed: 11})
	peer.announce(t, st, l)
	seg := make([]byte, 20)
	th := wire.TCP{SrcPort: 4000, DstPort: 81, Seq: 1000, Flags: wire.TH_SYN, Window: 100, Opts: wire.TCPOptions{WScale: -1}}
	th.Put(seg)
	c := wire.Pseudo(addrB, addrA, wire.IPPROTO_TCP, 20).Add(seg).Fold()
	binary.BigEndian.PutUint16(seg[16:], c)
	peer.inject(t, frameIP(l, wire.IPPROTO_TCP, seg, nil))
	f := peer.waitFrame(t, func(f []byte) bool {
		return len(f) >= 54 && binary.BigEndian.Uint16(f[12:]) == wire.ETHERTYPE_IP && f[23] == wire.IPPROTO_TCP
	})
	r, err := wire.ParseTCP(f[34:])
	require.NoError(t, err)
	assert.Equal(t, uint8(wire.TH_RST|wire.TH_ACK), r.Flags)
	assert.Equal(t, uint32(1001), r.Ack)
	assert.Equal(t, uint16(4000), r.DstPort)
}

func TestGiantModeUDPAndPing(t *testing.T) {
	a, b, _ := pair(t, Config{Seed: 12, Giant: true}, memlink.Config{})
	assert.True(t, a.GiantMode())
	udpEcho(t, b, 7)
	_, err := a.Ping(ctx5(t), addrB, 1, 100)
	require.NoError(t, err)
	c, err := a.DialUDP(netip.AddrPortFrom(addrB.Netip(), 7))
	require.NoError(t, err)
	defer c.Close()
	for i := 0; i < 50; i++ {
		_, err = c.Write([]byte{byte(i)})
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		buf := make([]byte, 4)
		n, err := c.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, []byte{byte(i)}, buf[:n])
	}
}
