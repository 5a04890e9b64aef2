package inet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/memlink"
	"github.com/smpgo/smpgo/net/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wireCheck taps an interface's input and checks every frame that
// arrives as a NIC's wire would carry it: at most the MTU, a valid IPv4
// header checksum, a valid TCP checksum computed over the whole
// segment, at most one MSS of payload, and on a link that neither loses
// nor reorders a data segment never starts past the highest byte seen
// (no hole: the segments of a TSO burst arrive with consecutive sequence
// numbers).
type wireCheck struct {
	mu       sync.Mutex
	mss      int
	lossless bool
	frames   int
	data     int
	end      map[uint32]uint32 // per port pair: highest sequence seen
	bad      []string
}

func tapWire(ifp *netif.Interface, mss int, lossless bool) *wireCheck {
	w := &wireCheck{mss: mss, lossless: lossless, end: map[uint32]uint32{}}
	next := ifp.InputFunc()
	ifp.SetInput(func(ifp *netif.Interface, m *mbuf.Mbuf) {
		w.check(m.Linearize(), ifp.MTU())
		next(ifp, m)
	})
	return w
}

func (w *wireCheck) fail(format string, a ...any) {
	if len(w.bad) < 10 {
		w.bad = append(w.bad, fmt.Sprintf(format, a...))
	}
}

func (w *wireCheck) check(f []byte, mtu int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.frames++
	if len(f) > 14+mtu {
		w.fail("frame of %d bytes over MTU %d", len(f), mtu)
	}
	if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != wire.ETHERTYPE_IP {
		return
	}
	ip := f[14:]
	ihl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if wire.Checksum(ip[:ihl]) != 0 {
		w.fail("IPv4 header checksum")
	}
	if ip[9] != wire.IPPROTO_TCP || total > len(ip) {
		return
	}
	var src, dst wire.Addr
	copy(src[:], ip[12:16])
	copy(dst[:], ip[16:20])
	tcp := ip[ihl:total]
	if wire.Pseudo(src, dst, wire.IPPROTO_TCP, len(tcp)).Add(tcp).Fold() != 0 {
		w.fail("TCP checksum of a %d-byte segment", len(tcp))
	}
	pay := len(tcp) - int(tcp[12]>>4)*4
	if pay > w.mss {
		w.fail("TCP payload %d over the MSS %d", pay, w.mss)
	}
	if pay == 0 {
		return
	}
	w.data++
	port := binary.BigEndian.Uint32(tcp[0:]) // both ports: one direction of one connection
	seq := binary.BigEndian.Uint32(tcp[4:])
	if e, ok := w.end[port]; ok && w.lossless && seqGT(seq, e) {
		w.fail("port %d: segment at %d past the highest byte %d", port, seq, e)
	}
	if e, ok := w.end[port]; !ok || seqGT(seq+uint32(pay), e) {
		w.end[port] = seq + uint32(pay)
	}
}

func (w *wireCheck) result() (frames, data int, bad []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frames, w.data, append([]string(nil), w.bad...)
}

// TCP over a link that cuts TSO segments as hardware would: both
// directions hand it segments of many MSS, every frame on the wire
// checks out (wireCheck), 2 MiB echo byte for byte; with IFCAP_TSO4
// turned off the same transfer hands it none.
func TestTSOOverLink(t *testing.T) {
	a, b, l := pair(t, Config{Seed: 71, TCP: fastTCP()}, memlink.Config{Offload: true, TSO: true})
	echoServer(t, b, 7)
	wa := tapWire(l.A, 1460, true)
	wb := tapWire(l.B, 1460, true)
	for _, ifp := range []*netif.Interface{l.A, l.B} {
		require.Equal(t, netif.IFCAP_RXCSUM|netif.IFCAP_TXCSUM|netif.IFCAP_TSO4, ifp.CapEnable())
	}
	run := func(seed int64) {
		c, err := a.DialTCP(ctx5(t), netip.AddrPortFrom(addrB.Netip(), 7))
		require.NoError(t, err)
		transfer(t, c, randBytes(seed, 2<<20))
		require.NoError(t, c.Close())
	}
	run(1)
	ab, ba := l.Counters()
	t.Logf("TSO on: A→B %+v B→A %+v; A tcp.tso.out %d, B %d", ab, ba, a.Stat(TCPTSOOut), b.Stat(TCPTSOOut))
	for _, c := range []memlink.Counters{ab, ba} {
		assert.Greater(t, c.TSOFrames, uint64(10))
		assert.Zero(t, c.TSOBad)
	}
	assert.GreaterOrEqual(t, ab.TSOLargest, uint64(10), "the window grew to TSO frames of 10 MSS and more")
	assert.Greater(t, a.Stat(TCPTSOOut), uint64(10))
	assert.Greater(t, b.Stat(TCPTSOOut), uint64(10))
	assert.Zero(t, a.Stat(TCPTSOSoftware)+b.Stat(TCPTSOSoftware), "nothing cut in software")
	sa := l.A.Stats()
	assert.Equal(t, ab.TSOFrames, sa.TSOPackets, "net/if counted what the driver took")
	assert.Equal(t, ab.TSOSegments, sa.TSOSegments)
	for _, w := range []*wireCheck{wa, wb} {
		frames, data, bad := w.result()
		assert.Empty(t, bad)
		assert.Greater(t, data, 1400, "of %d frames", frames)
	}

	for _, ifp := range []*netif.Interface{l.A, l.B} {
		assert.Equal(t, netif.IFCAP_RXCSUM|netif.IFCAP_TXCSUM, ifp.SetCapEnable(netif.IFCAP_RXCSUM|netif.IFCAP_TXCSUM))
	}
	outA, outB := a.Stat(TCPTSOOut), b.Stat(TCPTSOOut)
	run(2)
	ab2, ba2 := l.Counters()
	assert.Equal(t, ab.TSOFrames, ab2.TSOFrames, "TSO off: none handed to the link")
	assert.Equal(t, ba.TSOFrames, ba2.TSOFrames)
	assert.Equal(t, outA, a.Stat(TCPTSOOut))
	assert.Equal(t, outB, b.Stat(TCPTSOOut))
	assert.Greater(t, ab2.CsumInserted, ab.CsumInserted, "checksums still offloaded")
	_, _, bad := wa.result()
	assert.Empty(t, bad)
	waitNoConns(t, a, b)
}

// TSO needs transmit checksum offload: without IFCAP_TXCSUM it cannot be
// enabled (net.csum=off implies no TSO).
func TestTSONeedsTxCsum(t *testing.T) {
	_, _, l := pair(t, Config{Seed: 72}, memlink.Config{Offload: true, TSO: true})
	assert.Equal(t, netif.IFCAP_RXCSUM, l.A.SetCapEnable(netif.IFCAP_RXCSUM|netif.IFCAP_TSO4))
	assert.Equal(t, netif.IFCAP_TXCSUM|netif.IFCAP_TSO4, l.A.SetCapEnable(netif.IFCAP_TXCSUM|netif.IFCAP_TSO4))
	assert.False(t, offloadTSO(l.B) && l.B.SetCapEnable(0) != 0)
	assert.False(t, offloadTSO(l.B))
}

// TCP over a lossy, duplicating, reordering link with TSO: large
// segments, retransmissions (plain MSS segments) and the window's
// collapse after timeouts mix; every frame still checks out and 1 MiB
// echoes byte for byte.
func TestTSOLossyLink(t *testing.T) {
	f := memlink.Faults{Seed: 9, Loss: 0.02, Dup: 0.01, Reorder: 0.02}
	a, b, l := pair(t, Config{Seed: 73, TCP: fastTCP()}, memlink.Config{Offload: true, TSO: true, Faults: f})
	echoServer(t, b, 7)
	wa := tapWire(l.A, 1460, false)
	wb := tapWire(l.B, 1460, false)
	var c *TCPConn
	var err error
	for i := 0; i < 5 && c == nil; i++ {
		c, err = a.DialTCP(ctx5(t), netip.AddrPortFrom(addrB.Netip(), 7))
	}
	require.NoError(t, err)
	transfer(t, c, randBytes(4, 1<<20))
	require.NoError(t, c.Close())
	ab, ba := l.Counters()
	t.Logf("A→B %+v B→A %+v; rexmits %d+%d", ab, ba, a.Stat(TCPRexmits)+a.Stat(TCPFastRexmits), b.Stat(TCPRexmits)+b.Stat(TCPFastRexmits))
	assert.Greater(t, ab.TSOFrames+ba.TSOFrames, uint64(0))
	assert.Greater(t, ab.Lost+ba.Lost, uint64(0))
	assert.Zero(t, ab.TSOBad+ba.TSOBad)
	for _, w := range []*wireCheck{wa, wb} {
		_, _, bad := w.result()
		assert.Empty(t, bad)
	}
	waitNoConns(t, a, b)
}

// A CSUM_TSO packet that reaches an interface without TSO (the route
// changed after TCP chose the size) is cut in software: MSS-sized
// segments with consecutive sequence numbers, FIN and PSH on the last
// only, CWR on the first only, each with a full checksum; an MSS larger
// than the MTU allows is clamped to it; a malformed one is dropped and
// counted.
func TestTSOSoftwareFallback(t *testing.T) {
	st, peer, l := withRaw(t, Config{Seed: 74})
	peer.announce(t, st, l)
	mk := func(n int, mss uint16, flags uint8) *mbuf.Mbuf {
		data := randBytes(int64(n), n)
		m := mbuf.FromBytes(data, mbuf.MaxHdr)
		require.NotNil(t, m)
		m = m.Prepend(wire.TCPHdrLen)
		th := wire.TCP{SrcPort: 4000, DstPort: 5000, Seq: 0xfffff000, Ack: 7, Flags: flags, Window: 100, Opts: wire.TCPOptions{WScale: -1}}
		th.Put(m.Bytes())
		delayCsum(m, addrA, addrB, wire.IPPROTO_TCP, m.PktLen())
		m.Pkt.Csum |= mbuf.CSUM_TSO
		m.Pkt.TSOSegSz = mss
		return m
	}
	type seg struct {
		seq   uint32
		n     int
		flags uint8
	}
	collect := func(want int) []seg {
		var out []seg
		var frames [][]byte
		require.Eventually(t, func() bool {
			for _, f := range peer.take() {
				if binary.BigEndian.Uint16(f[12:]) == wire.ETHERTYPE_IP {
					frames = append(frames, f)
				}
			}
			return len(frames) >= want
		}, 5*time.Second, time.Millisecond)
		require.Len(t, frames, want)
		for _, f := range frames {
			require.LessOrEqual(t, len(f), 14+1500)
			ip := f[14:]
			total := int(binary.BigEndian.Uint16(ip[2:]))
			require.Zero(t, wire.Checksum(ip[:20]))
			tcp := ip[20:total]
			require.Zero(t, wire.Pseudo(addrA, addrB, wire.IPPROTO_TCP, len(tcp)).Add(tcp).Fold(), "checksum")
			out = append(out, seg{binary.BigEndian.Uint32(tcp[4:]), len(tcp) - 20, tcp[13]})
		}
		return out
	}
	flags := uint8(wire.TH_ACK | wire.TH_PUSH | wire.TH_FIN | wire.TH_CWR)
	require.NoError(t, st.ipOutput(mk(10000, 1000, flags), addrA, addrB, wire.IPPROTO_TCP, outOpts{}))
	segs := collect(10)
	for i, s := range segs {
		assert.Equal(t, uint32(0xfffff000)+uint32(1000*i), s.seq, "segment %d", i)
		assert.Equal(t, 1000, s.n)
		last, first := i == len(segs)-1, i == 0
		assert.Equal(t, last, s.flags&wire.TH_FIN != 0, "FIN on segment %d", i)
		assert.Equal(t, last, s.flags&wire.TH_PUSH != 0, "PSH on segment %d", i)
		assert.Equal(t, first, s.flags&wire.TH_CWR != 0, "CWR on segment %d", i)
		assert.NotZero(t, s.flags&wire.TH_ACK)
	}
	// An MSS past what the MTU carries: clamped to 1460.
	require.NoError(t, st.ipOutput(mk(4000, 9000, wire.TH_ACK), addrA, addrB, wire.IPPROTO_TCP, outOpts{}))
	segs = collect(3)
	assert.Equal(t, []int{1460, 1460, 1080}, []int{segs[0].n, segs[1].n, segs[2].n})
	assert.Equal(t, uint64(2), st.Stat(TCPTSOSoftware))
	assert.Equal(t, uint64(13), st.Stat(TCPTSOSoftSegs))
	// Only a header: nothing to cut.
	m := mk(0, 1000, wire.TH_ACK)
	assert.Error(t, st.ipOutput(m, addrA, addrB, wire.IPPROTO_TCP, outOpts{}))
	assert.Equal(t, uint64(1), st.Stat(TCPTSODropBad))
}
