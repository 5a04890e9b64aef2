package netif

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDriver records transmitted frames; full makes it refuse them.
type fakeDriver struct {
	mu     sync.Mutex
	frames [][]byte
	queues []int
	full   bool
	flags  []Flags
	// onTx, if set, runs inside Transmit (to inspect the context).
	onTx func()
}

func (d *fakeDriver) Transmit(q int, m *mbuf.Mbuf) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.full {
		return ErrQueueFull
	}
	if d.onTx != nil {
		d.onTx()
	}
	d.frames = append(d.frames, m.Linearize())
	d.queues = append(d.queues, q)
	m.FreeChain()
	return nil
}

func (d *fakeDriver) SetFlags(f Flags) error {
	d.mu.Lock()
	d.flags = append(d.flags, f)
	d.mu.Unlock()
	return nil
}

func (d *fakeDriver) sent() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([][]byte(nil), d.frames...)
}

func noLeaks(t *testing.T) func() {
	before := mbuf.ReadStats()
	return func() {
		after := mbuf.ReadStats()
		assert.Equal(t, before.Mbufs, after.Mbufs, "mbufs leaked")
		assert.Equal(t, before.Clusters, after.Clusters, "clusters leaked")
	}
}

func TestAttachNamesAndLookup(t *testing.T) {
	a, err := Attach(Config{Name: "tst", MAC: HWAddr{2, 0, 0, 0, 0, 1}}, &fakeDriver{})
	require.NoError(t, err)
	b, err := Attach(Config{Name: "tst"}, &fakeDriver{})
	require.NoError(t, err)
	var ua, ub int
	_, err = fmt.Sscanf(a.Name(), "tst%d", &ua)
	require.NoError(t, err)
	_, err = fmt.Sscanf(b.Name(), "tst%d", &ub)
	require.NoError(t, err)
	assert.Equal(t, ua+1, ub, "units count up per prefix")
	assert.Equal(t, a.Index()+1, b.Index())
	assert.Same(t, a, ByIndex(a.Index()))
	assert.Same(t, b, ByName(b.Name()))
	assert.Equal(t, 1500, a.MTU())
	assert.Equal(t, "02:00:00:00:00:01", a.MAC().String())
	assert.False(t, a.Up(), "interfaces attach down")
	b.Detach()
	assert.Nil(t, ByName(b.Name()))
	assert.Nil(t, ByIndex(b.Index()))
	_, err = Attach(Config{}, &fakeDriver{})
	assert.ErrorIs(t, err, ErrBadConfig)
	_, err = Attach(Config{Name: "x", MTU: 10}, &fakeDriver{})
	assert.ErrorIs(t, err, ErrBadConfig)
	a.Detach()
}

func TestOnAttachSeesOldAndNew(t *testing.T) {
	old, _ := Attach(Config{Name: "oat"}, &fakeDriver{})
	var seen []string
	var mu sync.Mutex
	OnAttach(func(ifp *Interface) {
		mu.Lock()
		seen = append(seen, ifp.Name())
		mu.Unlock()
	})
	nw, _ := Attach(Config{Name: "oat"}, &fakeDriver{})
	mu.Lock()
	assert.Contains(t, seen, old.Name())
	assert.Contains(t, seen, nw.Name())
	mu.Unlock()
	old.Detach()
	nw.Detach()
}

func TestTransmitCountsAndBackPressure(t *testing.T) {
	defer noLeaks(t)()
	d := &fakeDriver{}
	ifp, err := Attach(Config{Name: "txc", TxQueues: 4}, d)
	require.NoError(t, err)
	defer ifp.Detach()

	m := mbuf.FromBytes([]byte("down"), 0)
	assert.ErrorIs(t, ifp.Transmit(m), ErrDown)
	assert.Equal(t, uint64(1), ifp.Stats().TxSum.Drops)

	require.NoError(t, ifp.SetUp(true))
	assert.True(t, ifp.Up())
	assert.Equal(t, []Flags{IFF_UP}, d.flags)

	for i := 0; i < 8; i++ {
		m := mbuf.FromBytes(make([]byte, 100+i), 0)
		m.Pkt.FlowID = uint32(i)
		m.Pkt.HashType = mbuf.M_HASHTYPE_OPAQUE
		require.NoError(t, ifp.Transmit(m))
	}
	assert.Len(t, d.sent(), 8)
	assert.Equal(t, []int{0, 1, 2, 3, 0, 1, 2, 3}, d.queues, "flow id picks the queue")
	s := ifp.Stats()
	assert.Equal(t, uint64(8), s.TxSum.Packets)
	assert.Equal(t, uint64(8*100+28), s.TxSum.Bytes)
	assert.Equal(t, uint64(2), s.Tx[1].Packets)
	assert.Equal(t, uint64(100+1+100+5), s.Tx[1].Bytes)

	d.mu.Lock()
	d.full = true
	d.mu.Unlock()
	assert.ErrorIs(t, ifp.Transmit(mbuf.FromBytes([]byte("x"), 0)), ErrQueueFull)
	assert.Equal(t, uint64(2), ifp.Stats().Tx[0].Drops, "one while down, one ring full")
}

func TestInputUpcall(t *testing.T) {
	defer noLeaks(t)()
	ifp, _ := Attach(Config{Name: "rxc", RxQueues: 2}, &fakeDriver{})
	defer ifp.Detach()

	ifp.Input(1, mbuf.FromBytes([]byte("early"), 0))
	assert.Equal(t, uint64(1), ifp.Stats().NoInput, "no stack yet")

	var got [][]byte
	var rcv []int
	ifp.SetInput(func(i *Interface, m *mbuf.Mbuf) {
		got = append(got, m.Linearize())
		rcv = append(rcv, m.Pkt.RcvIf, m.Pkt.RxQueue)
		m.FreeChain()
	})
	ifp.Input(1, mbuf.FromBytes([]byte("while down"), 0))
	assert.Equal(t, uint64(2), ifp.Stats().NoInput)
	require.NoError(t, ifp.SetUp(true))
	ifp.Input(1, mbuf.FromBytes([]byte("hello"), 0))
	ifp.Input(0, mbuf.FromBytes([]byte("hi"), 0))
	assert.Equal(t, [][]byte{[]byte("hello"), []byte("hi")}, got)
	assert.Equal(t, []int{ifp.Index(), 1, ifp.Index(), 0}, rcv)
	s := ifp.Stats()
	assert.Equal(t, uint64(3), s.Rx[1].Packets)
	assert.Equal(t, uint64(2), s.Rx[1].Drops)
	assert.Equal(t, uint64(1), s.Rx[0].Packets)
	ifp.CountRx(0, RxError, 3)
	ifp.CountRx(1, RxDrop, 1)
	s = ifp.Stats()
	assert.Equal(t, uint64(3), s.Rx[0].Errors)
	assert.Equal(t, uint64(3), s.RxSum.Drops)
}

func TestLinkStateListeners(t *testing.T) {
	ifp, _ := Attach(Config{Name: "lnk"}, &fakeDriver{})
	defer ifp.Detach()
	var events []LinkState
	ifp.OnLinkState(func(_ *Interface, s LinkState) { events = append(events, s) })
	ifp.SetLinkState(LINK_STATE_UP)
	ifp.SetLinkState(LINK_STATE_UP)
	ifp.SetLinkState(LINK_STATE_DOWN)
	assert.Equal(t, []LinkState{LINK_STATE_UP, LINK_STATE_DOWN}, events, "only changes are reported")
	assert.Equal(t, LINK_STATE_DOWN, ifp.LinkState())
}

func TestMTUAndMulticast(t *testing.T) {
	ifp, _ := Attach(Config{Name: "mtu"}, &fakeDriver{})
	defer ifp.Detach()
	assert.NoError(t, ifp.SetMTU(1400))
	assert.Equal(t, 1400, ifp.MTU())
	assert.ErrorIs(t, ifp.SetMTU(9000), ErrNotSupported)
	assert.ErrorIs(t, ifp.SetMTU(20), ErrBadConfig)
	assert.ErrorIs(t, ifp.SetMulticast([]HWAddr{{1}}), ErrNotSupported)
}

// trackedLock is a Giant that records whether it is held.
type trackedLock struct {
	mu   sync.Mutex
	held atomic.Bool
}

func (l *trackedLock) Lock()   { l.mu.Lock(); l.held.Store(true) }
func (l *trackedLock) Unlock() { l.held.Store(false); l.mu.Unlock() }

func TestNeedsGiantDefersTransmit(t *testing.T) {
	defer noLeaks(t)()
	g := &trackedLock{}
	old := Giant
	SetGiant(g)
	defer SetGiant(old)

	var underGiant, total atomic.Int32
	d := &fakeDriver{onTx: func() {
		total.Add(1)
		if g.held.Load() {
			underGiant.Add(1)
		}
	}}
	ifp, err := Attach(Config{Name: "gnt", Flags: IFF_NEEDSGIANT, GiantQueueLen: 4}, d)
	require.NoError(t, err)
	require.NoError(t, ifp.SetUp(true))

	// Hold Giant: the worker cannot run, so the caller never waits for it
	// and the bounded queue fills.
	g.Lock()
	var errs []error
	for i := 0; i < 6; i++ {
		errs = append(errs, ifp.Transmit(mbuf.FromBytes([]byte{byte(i)}, 0)))
	}
	// The worker may have dequeued the first packet and be waiting for
	// Giant with it, so 4 or 5 are accepted.
	accepted := 0
	for _, e := range errs {
		if e == nil {
			accepted++
		} else {
			assert.ErrorIs(t, e, ErrQueueFull)
		}
	}
	assert.GreaterOrEqual(t, accepted, 4)
	assert.LessOrEqual(t, accepted, 5)
	g.Unlock()

	require.Eventually(t, func() bool { return int(total.Load()) == accepted }, 5*time.Second, time.Millisecond)
	assert.Equal(t, total.Load(), underGiant.Load(), "every driver transmit ran under Giant")
	s := ifp.Stats()
	assert.Equal(t, uint64(accepted), s.GiantTxPackets)
	assert.Equal(t, uint64(6-accepted), s.TxSum.Drops)
	ifp.Detach()
	assert.ErrorIs(t, ifp.Transmit(mbuf.FromBytes([]byte{1}, 0)), ErrDetached)
}

func TestPseudoAndInputFunc(t *testing.T) {
	d := &fakeDriver{}
	ifp, err := Attach(Config{Name: "pz", Type: IFT_ETHER, Pseudo: true}, d)
	require.NoError(t, err)
	defer ifp.Detach()
	require.True(t, ifp.Pseudo())
	require.Nil(t, ifp.InputFunc())
	n := 0
	ifp.SetInput(func(*Interface, *mbuf.Mbuf) { n++ })
	ifp.InputFunc()(ifp, nil)
	require.Equal(t, 1, n)
	ifp2, err := Attach(Config{Name: "pz", Type: IFT_ETHER}, d)
	require.NoError(t, err)
	defer ifp2.Detach()
	require.False(t, ifp2.Pseudo())
}

// ipv4Frame builds an Ethernet/IPv4 frame with protocol proto from
// src:sport to dst:dport (ports only for TCP/UDP), fragment field frag.
func ipv4Frame(proto byte, src, dst [4]byte, sport, dport uint16, frag uint16, payload int) []byte {
	f := make([]byte, 14+20+8+payload)
	f[12], f[13] = 0x08, 0x00
	ip := f[14:]
	ip[0] = 0x45
	ip[6], ip[7] = byte(frag>>8), byte(frag)
	ip[9] = proto
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	ip[20], ip[21], ip[22], ip[23] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
	return f
}

func TestFlowHashSpreadsFlowsAndKeepsEachOnOneQueue(t *testing.T) {
	defer noLeaks(t)()
	d := &fakeDriver{}
	ifp, err := Attach(Config{Name: "txh", TxQueues: 4}, d)
	require.NoError(t, err)
	defer ifp.Detach()
	require.NoError(t, ifp.SetUp(true))
	src, dst := [4]byte{10, 99, 0, 2}, [4]byte{10, 99, 0, 1}
	const flows, per = 64, 5
	for k := 0; k < per; k++ {
		for f := 0; f < flows; f++ {
			proto := byte(6)
			if f%2 == 1 {
				proto = 17
			}
			require.NoError(t, ifp.Transmit(mbuf.FromBytes(ipv4Frame(proto, src, dst, uint16(40000+f), 7, 0, k*100), 0)))
		}
	}
	used := map[int]int{}
	for f := 0; f < flows; f++ {
		q := d.queues[f]
		for k := 1; k < per; k++ {
			require.Equal(t, q, d.queues[k*flows+f], "flow %d changed queues", f)
		}
		used[q]++
	}
	assert.Len(t, used, 4, "64 flows over 4 queues use them all: %v", used)
	for q, n := range used {
		assert.Greater(t, n, 4, "queue %d got %d of 64 flows", q, n)
	}

	// Fragments of one datagram hash alike (no ports in later pieces);
	// ARP and runts go to queue 0; ports matter for TCP/UDP only.
	FlowHash := func(m *mbuf.Mbuf) (uint32, bool) {
		defer m.FreeChain()
		return FlowHash(m)
	}
	h1, ok1 := FlowHash(mbuf.FromBytes(ipv4Frame(17, src, dst, 1, 2, 0x2000, 1000), 0))
	h2, ok2 := FlowHash(mbuf.FromBytes(ipv4Frame(17, src, dst, 9, 9, 0x00b9, 0), 0))
	require.True(t, ok1 && ok2)
	assert.Equal(t, h1, h2)
	ha, _ := FlowHash(mbuf.FromBytes(ipv4Frame(6, src, dst, 1000, 80, 0, 0), 0))
	hb, _ := FlowHash(mbuf.FromBytes(ipv4Frame(6, src, dst, 1001, 80, 0, 0), 0))
	assert.NotEqual(t, ha, hb)
	i1, _ := FlowHash(mbuf.FromBytes(ipv4Frame(1, src, dst, 1000, 80, 0, 0), 0))
	i2, _ := FlowHash(mbuf.FromBytes(ipv4Frame(1, src, dst, 1001, 81, 0, 0), 0))
	assert.Equal(t, i1, i2, "ICMP: addresses and protocol only")
	arp := make([]byte, 60)
	arp[12], arp[13] = 0x08, 0x06
	_, ok := FlowHash(mbuf.FromBytes(arp, 0))
	assert.False(t, ok)
	_, ok = FlowHash(mbuf.FromBytes(make([]byte, 20), 0))
	assert.False(t, ok)
	d.queues = nil
	require.NoError(t, ifp.Transmit(mbuf.FromBytes(arp, 0)))
	assert.Equal(t, []int{0}, d.queues)
}

// mcDriver records every filter it is given.
type mcDriver struct {
	fakeDriver
	filters [][]HWAddr
	fail    bool
}

func (d *mcDriver) SetMulticast(a []HWAddr) error {
	if d.fail {
		return errors.New("filter full")
	}
	d.filters = append(d.filters, a)
	return nil
}

func TestJoinLeaveMulticastRefcounted(t *testing.T) {
	d := &mcDriver{}
	ifp, err := Attach(Config{Name: "mc"}, d)
	require.NoError(t, err)
	defer ifp.Detach()
	g1, g2 := HWAddr{0x01, 0x00, 0x5e, 1, 2, 3}, HWAddr{0x01, 0x00, 0x5e, 9, 8, 200}
	assert.ErrorIs(t, ifp.JoinMulticast(HWAddr{0x02, 0, 0, 0, 0, 1}), ErrNotMulticast)
	assert.ErrorIs(t, ifp.JoinMulticast(Broadcast), ErrNotMulticast)
	require.NoError(t, ifp.JoinMulticast(g1))
	require.NoError(t, ifp.JoinMulticast(g1))
	require.NoError(t, ifp.JoinMulticast(g2))
	assert.Equal(t, 2, ifp.MulticastRefs(g1))
	assert.Equal(t, [][]HWAddr{{g1}, {g1, g2}}, d.filters, "the driver hears of first joins only")
	require.NoError(t, ifp.LeaveMulticast(g1))
	assert.Len(t, d.filters, 2, "one reference left: filter unchanged")
	require.NoError(t, ifp.LeaveMulticast(g1))
	assert.Equal(t, []HWAddr{g2}, d.filters[2])
	assert.ErrorIs(t, ifp.LeaveMulticast(g1), ErrNotJoined)
	assert.Equal(t, 0, ifp.MulticastRefs(g1))
	d.fail = true
	assert.Error(t, ifp.JoinMulticast(g1))
	assert.Equal(t, []HWAddr{g2}, ifp.Multicast(), "a refused join changes nothing")
	d.fail = false

	// Concurrent joins and leaves of one group balance out.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 100; k++ {
				assert.NoError(t, ifp.JoinMulticast(g1))
				assert.NoError(t, ifp.LeaveMulticast(g1))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, []HWAddr{g2}, ifp.Multicast())
	assert.Equal(t, []HWAddr{g2}, d.filters[len(d.filters)-1])

	plain, _ := Attach(Config{Name: "nomc"}, &fakeDriver{})
	defer plain.Detach()
	assert.ErrorIs(t, plain.JoinMulticast(g1), ErrNotSupported)
}
