package inet

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/memlink"
	"github.com/smpgo/smpgo/net/nlock"
	"github.com/smpgo/smpgo/net/wire"
	"github.com/stretchr/testify/require"
)

var (
	addrA = wire.MustAddr("10.0.0.1")
	addrB = wire.MustAddr("10.0.0.2")
)

// checkLeaks fails the test if mbufs are still out once everything shut
// down (giving in-flight deliveries a moment to finish).
func checkLeaks(t *testing.T) {
	before := mbuf.ReadStats()
	t.Cleanup(func() {
		var now mbuf.Stats
		ok := false
		for i := 0; i < 200; i++ {
			now = mbuf.ReadStats()
			if now.Mbufs == before.Mbufs && now.Clusters == before.Clusters && now.Ext == before.Ext {
				ok = true
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !ok {
			t.Errorf("mbuf leak: before %+v after %+v", before, now)
		}
	})
}

// pair returns two stacks joined by a memlink, A at 10.0.0.1/24 and B at
// 10.0.0.2/24. Everything is torn down (and leaks checked) at cleanup.
func pair(t *testing.T, cfg Config, lcfg memlink.Config) (*Stack, *Stack, *memlink.Link) {
	checkLeaks(t)
	l, err := memlink.New(lcfg)
	require.NoError(t, err)
	cfgB := cfg
	cfgB.Seed = cfg.Seed + 1
	a, err := New(cfg)
	require.NoError(t, err)
	b, err := New(cfgB)
	require.NoError(t, err)
	require.NoError(t, a.AddInterface(l.A))
	require.NoError(t, b.AddInterface(l.B))
	require.NoError(t, a.SetAddr(l.A, addrA, 24))
	require.NoError(t, b.SetAddr(l.B, addrB, 24))
	t.Cleanup(func() {
		a.Close()
		b.Close()
		l.Close()
	})
	return a, b, l
}

// rawPeer is the far end of a memlink without a stack: tests inject frames
// and inspect what the stack sends.
type rawPeer struct {
	ifp    *netif.Interface
	mu     sync.Mutex
	frames [][]byte
	got    chan struct{}
}

func (p *rawPeer) input(_ *netif.Interface, m *mbuf.Mbuf) {
	p.mu.Lock()
	p.frames = append(p.frames, m.Linearize())
	p.mu.Unlock()
	m.FreeChain()
	select {
	case p.got <- struct{}{}:
	default:
	}
}

func (p *rawPeer) take() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.frames
	p.frames = nil
	return f
}

// waitFrame waits for a frame that match accepts.
func (p *rawPeer) waitFrame(t *testing.T, match func([]byte) bool) []byte {
	deadline := time.Now().Add(5 * time.Second)
	var seen [][]byte
	for time.Now().Before(deadline) {
		for _, f := range p.take() {
			if match(f) {
				return f
			}
			seen = append(seen, f)
		}
		select {
		case <-p.got:
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no matching frame among %d", len(seen))
	return nil
}

func (p *rawPeer) inject(t *testing.T, frame []byte) {
	m := mbuf.FromBytes(frame, 0)
	require.NotNil(t, m)
	require.NoError(t, p.ifp.Transmit(m))
}

// announce teaches the stack the peer's MAC (10.0.0.2) with an ARP reply.
func (p *rawPeer) announce(t *testing.T, st *Stack, l *memlink.Link) {
	arp := make([]byte, wire.EtherHdrLen+wire.ARPLen)
	eh := wire.Ether{Dst: l.A.MAC(), Src: l.B.MAC(), Type: wire.ETHERTYPE_ARP}
	eh.Put(arp)
	ap := wire.ARP{Op: wire.ARPOP_REPLY, SHA: l.B.MAC(), SPA: addrB, THA: l.A.MAC(), TPA: addrA}
	ap.Put(arp[wire.EtherHdrLen:])
	p.inject(t, arp)
	require.Eventually(t, func() bool { return len(st.ARPEntries(l.A)) == 1 }, 5*time.Second, time.Millisecond)
}

// withRaw returns a stack at 10.0.0.1/24 whose link peer is a rawPeer
// with MAC peerMAC (the link's B side).
func withRaw(t *testing.T, cfg Config) (*Stack, *rawPeer, *memlink.Link) {
	checkLeaks(t)
	l, err := memlink.New(memlink.Config{})
	require.NoError(t, err)
	st, err := New(cfg)
	require.NoError(t, err)
	p := &rawPeer{ifp: l.B, got: make(chan struct{}, 1)}
	l.B.SetInput(p.input)
	require.NoError(t, l.B.SetUp(true))
	require.NoError(t, st.AddInterface(l.A))
	require.NoError(t, st.SetAddr(l.A, addrA, 24))
	t.Cleanup(func() {
		st.Close()
		l.Close()
	})
	return st, p, l
}

// frameIP builds an Ethernet+IPv4 frame from peer (10.0.0.2) to the stack.
func frameIP(l *memlink.Link, proto uint8, payload []byte, mod func(h *wire.IPv4)) []byte {
	h := wire.IPv4{TotalLen: wire.IPv4HdrLen + len(payload), ID: 99, TTL: 64, Proto: proto, Src: addrB, Dst: addrA}
	if mod != nil {
		mod(&h)
	}
	b := make([]byte, wire.EtherHdrLen+wire.IPv4HdrLen+len(payload))
	eh := wire.Ether{Dst: l.A.MAC(), Src: l.B.MAC(), Type: wire.ETHERTYPE_IP}
	eh.Put(b)
	h.Put(b[wire.EtherHdrLen:])
	copy(b[wire.EtherHdrLen+wire.IPv4HdrLen:], payload)
	return b
}

// udpPayload builds a UDP datagram with a correct checksum.
func udpPayload(src, dst Addr, sport, dport uint16, data []byte) []byte {
	b := make([]byte, wire.UDPHdrLen+len(data))
	u := wire.UDP{SrcPort: sport, DstPort: dport, Length: len(b)}
	u.Put(b)
	copy(b[8:], data)
	c := wire.Pseudo(src, dst, wire.IPPROTO_UDP, len(b)).Add(b).Fold()
	b[6], b[7] = byte(c>>8), byte(c)
	return b
}

// TestMain fails the package if the host witness (nlock's seam: the
// stack's locks checked against witness.Order on the host) reported
// anything during the tests: a lock order reversal, an unlock by a
// goroutine that does not hold the lock, two locks of one class held.
func TestMain(m *testing.M) {
	code := m.Run()
	if rs := nlock.HostReports(); len(rs) > 0 {
		for _, r := range rs {
			fmt.Fprintf(os.Stderr, "witness: %s\n", r.Text)
		}
		fmt.Fprintf(os.Stderr, "FAIL: %d witness reports\n", len(rs))
		code = 1
	}
	os.Exit(code)
}
