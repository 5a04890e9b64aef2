package memlink

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sink collects frames received on an interface.
type sink struct {
	mu     sync.Mutex
	frames [][]byte
}

func (s *sink) input(_ *netif.Interface, m *mbuf.Mbuf) {
	s.mu.Lock()
	s.frames = append(s.frames, m.Linearize())
	s.mu.Unlock()
	m.FreeChain()
}

func (s *sink) get() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.frames...)
}

func frame(i int) []byte {
	b := make([]byte, 60+i%100)
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < len(b); j++ {
		b[j] = byte(i + j)
	}
	return b
}

func open(t *testing.T, cfg Config) (*Link, *sink, *sink) {
	l, err := New(cfg)
	require.NoError(t, err)
	sa, sb := &sink{}, &sink{}
	l.A.SetInput(sa.input)
	l.B.SetInput(sb.input)
	require.NoError(t, l.A.SetUp(true))
	require.NoError(t, l.B.SetUp(true))
	t.Cleanup(l.Close)
	return l, sa, sb
}

func send(t *testing.T, ifp *netif.Interface, n int) {
	for i := 0; i < n; i++ {
		for {
			err := ifp.Transmit(mbuf.FromBytes(frame(i), 0))
			if err == nil {
				break
			}
			require.ErrorIs(t, err, netif.ErrQueueFull)
			time.Sleep(time.Millisecond)
		}
	}
}

func TestCleanLinkDeliversInOrder(t *testing.T) {
	l, sa, sb := open(t, Config{})
	assert.Equal(t, netif.LINK_STATE_UP, l.A.LinkState())
	assert.NotEqual(t, l.A.MAC(), l.B.MAC())
	send(t, l.A, 1000)
	send(t, l.B, 10)
	require.Eventually(t, func() bool { return len(sb.get()) == 1000 && len(sa.get()) == 10 }, 10*time.Second, time.Millisecond)
	for i, f := range sb.get() {
		assert.Equal(t, frame(i), f, "frame %d", i)
	}
	ab, ba := l.Counters()
	assert.Equal(t, uint64(1000), ab.Delivered)
	assert.Equal(t, uint64(10), ba.Delivered)
	assert.Equal(t, uint64(1000), l.B.Stats().RxSum.Packets)
}

// run sends n frames through a damaged link and returns what arrived.
func runFaults(t *testing.T, f Faults, n int) ([][]byte, Counters) {
	l, _, sb := open(t, Config{Faults: f})
	send(t, l.A, n)
	require.Eventually(t, func() bool {
		ab, _ := l.Counters()
		return ab.Lost+ab.Delivered-ab.Duplicated == uint64(n)
	}, 10*time.Second, time.Millisecond)
	ab, _ := l.Counters()
	require.Eventually(t, func() bool { return uint64(len(sb.get())) == ab.Delivered }, 10*time.Second, time.Millisecond)
	return sb.get(), ab
}

func TestFaultsAreSeededAndCounted(t *testing.T) {
	f := Faults{Seed: 42, Loss: 0.1, Dup: 0.05, Corrupt: 0.05}
	got1, c1 := runFaults(t, f, 2000)
	got2, c2 := runFaults(t, f, 2000)
	assert.Equal(t, c1.Lost, c2.Lost)
	assert.Equal(t, got1, got2, "same seed, same damage")
	assert.Greater(t, c1.Lost, uint64(100))
	assert.Less(t, c1.Lost, uint64(300))
	assert.Greater(t, c1.Duplicated, uint64(30))
	assert.Greater(t, c1.Corrupted, uint64(30))
	// Corrupted frames differ from what was sent in exactly one bit.
	bad := 0
	for _, g := range got1 {
		i := int(binary.BigEndian.Uint32(g))
		if i >= 2000 || len(frame(i)) != len(g) {
			bad++ // corruption hit the sequence number
			continue
		}
		want := frame(i)
		bits := 0
		for j := range g {
			for x := g[j] ^ want[j]; x != 0; x &= x - 1 {
				bits++
			}
		}
		assert.LessOrEqual(t, bits, 1)
	}
	assert.Less(t, bad, 20)
	got3, _ := runFaults(t, Faults{Seed: 43, Loss: 0.1, Dup: 0.05, Corrupt: 0.05}, 2000)
	assert.NotEqual(t, got1, got3, "another seed, other damage")
}

func TestReorderDeliversEverything(t *testing.T) {
	got, c := runFaults(t, Faults{Seed: 7, Reorder: 0.2}, 1000)
	require.Len(t, got, 1000)
	assert.Greater(t, c.Reordered, uint64(100))
	seen := map[uint32]bool{}
	inversions := 0
	prev := -1
	for _, g := range got {
		i := binary.BigEndian.Uint32(g)
		seen[i] = true
		if int(i) < prev {
			inversions++
		}
		prev = int(i)
	}
	assert.Len(t, seen, 1000)
	assert.Greater(t, inversions, 50)
}

func TestBackPressureWhenReceiverStalls(t *testing.T) {
	l, _, _ := open(t, Config{QueueLen: 8})
	release := make(chan struct{})
	l.B.SetInput(func(_ *netif.Interface, m *mbuf.Mbuf) {
		<-release
		m.FreeChain()
	})
	full := 0
	for i := 0; i < 20; i++ {
		if err := l.A.Transmit(mbuf.FromBytes(frame(i), 0)); err != nil {
			assert.ErrorIs(t, err, netif.ErrQueueFull)
			full++
		}
	}
	// 8 queued plus at most one taken by the stalled receiver.
	assert.GreaterOrEqual(t, full, 11)
	assert.Equal(t, uint64(full), l.A.Stats().TxSum.Drops)
	ab, _ := l.Counters()
	assert.Equal(t, uint64(full), ab.Full)
	close(release)
}
