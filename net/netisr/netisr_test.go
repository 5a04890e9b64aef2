package netisr

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pkt(flow uint32, seq uint32) *mbuf.Mbuf {
	var b [8]byte
	binary.BigEndian.PutUint32(b[:], flow)
	binary.BigEndian.PutUint32(b[4:], seq)
	m := mbuf.FromBytes(b[:], 0)
	m.Pkt.FlowID = flow
	m.Pkt.HashType = mbuf.M_HASHTYPE_OPAQUE
	return m
}

func TestQueuedDispatchKeepsPerFlowOrder(t *testing.T) {
	n := New(Config{Workers: 4})
	defer n.Close()
	const flows, per = 16, 2000
	var mu sync.Mutex
	last := map[uint32]int64{}
	bad := 0
	var handled atomic.Int64
	workerOf := map[uint32]int{}
	id := n.Register(Proto{Name: "test", Mode: Queued, Policy: PolicyFlow, QueueLimit: flows * per,
		Handler: func(m *mbuf.Mbuf) {
			b := m.Linearize()
			f, s := binary.BigEndian.Uint32(b), int64(binary.BigEndian.Uint32(b[4:]))
			mu.Lock()
			if prev, ok := last[f]; ok && s != prev+1 {
				bad++
			}
			last[f] = s
			mu.Unlock()
			m.FreeChain()
			handled.Add(1)
		}})
	// Several dispatchers, each owning some flows (as several NIC queues
	// would), all at once.
	var wg sync.WaitGroup
	for d := 0; d < 4; d++ {
		wg.Add(1)
		go func(d int) {
			defer wg.Done()
			for s := 0; s < per; s++ {
				for f := d; f < flows; f += 4 {
					require.NoError(t, n.Dispatch(id, pkt(uint32(f), uint32(s))))
				}
			}
		}(d)
	}
	for f := uint32(0); f < flows; f++ {
		workerOf[f] = n.WorkerFor(id, pkt(f, 0))
	}
	wg.Wait()
	require.Eventually(t, func() bool { return handled.Load() == flows*per }, 20*time.Second, time.Millisecond)
	assert.Zero(t, bad, "packets of a flow were reordered")
	st := n.Stats(id)
	assert.Equal(t, uint64(flows*per), st.Queued)
	assert.Zero(t, st.Drops)
	used := map[int]bool{}
	for _, w := range workerOf {
		used[w] = true
	}
	assert.Len(t, used, 4, "flows spread over all workers")
}

func TestDirectDispatchRunsInline(t *testing.T) {
	n := New(Config{Workers: 2})
	defer n.Close()
	var got []uint32
	id := n.Register(Proto{Name: "d", Handler: func(m *mbuf.Mbuf) {
		got = append(got, binary.BigEndian.Uint32(m.Linearize()[4:]))
		m.FreeChain()
	}})
	for i := 0; i < 5; i++ {
		require.NoError(t, n.Dispatch(id, pkt(1, uint32(i))))
	}
	assert.Equal(t, []uint32{0, 1, 2, 3, 4}, got, "handled before Dispatch returned")
	assert.Equal(t, uint64(5), n.Stats(id).Direct)
}

func TestQueueLimitDropsAndCounts(t *testing.T) {
	before := mbuf.ReadStats()
	n := New(Config{Workers: 1})
	block := make(chan struct{})
	var handled atomic.Int64
	id := n.Register(Proto{Name: "slow", Mode: Queued, QueueLimit: 3, Handler: func(m *mbuf.Mbuf) {
		<-block
		m.FreeChain()
		handled.Add(1)
	}})
	errs := 0
	for i := 0; i < 10; i++ {
		if n.Dispatch(id, pkt(0, uint32(i))) == ErrFull {
			errs++
		}
	}
	// The worker holds one packet in the handler, three wait.
	assert.GreaterOrEqual(t, errs, 6)
	assert.Equal(t, uint64(errs), n.Stats(id).Drops)
	close(block)
	require.Eventually(t, func() bool { return handled.Load() == int64(10-errs) }, 5*time.Second, time.Millisecond)
	n.Close()
	assert.Equal(t, before.Mbufs, mbuf.ReadStats().Mbufs, "no mbuf leaked")
}

func TestPolicies(t *testing.T) {
	cpu := 3
	n := New(Config{Workers: 4, CPU: func() int { return cpu }})
	defer n.Close()
	h := func(m *mbuf.Mbuf) { m.FreeChain() }
	byCPU := n.Register(Proto{Name: "cpu", Policy: PolicyCPU, Handler: h})
	bySrc := n.Register(Proto{Name: "src", Policy: PolicySource, Handler: h})
	byFlow := n.Register(Proto{Name: "flow", Policy: PolicyFlow, Handler: h})
	m := pkt(6, 0)
	defer m.FreeChain()
	assert.Equal(t, 3, n.WorkerFor(byCPU, m))
	assert.Equal(t, 2, n.WorkerFor(byFlow, m))
	m.Pkt.HashType = mbuf.M_HASHTYPE_NONE
	m.Pkt.RcvIf, m.Pkt.RxQueue = 1, 0
	assert.Equal(t, n.WorkerFor(bySrc, m), n.WorkerFor(byFlow, m), "no flow id: by source")
	n.SetMode(byCPU, Queued)
}

// A packet dispatched after Close (a link still delivering while its
// stack shuts down) is dropped and freed, not left on a queue no worker
// drains.
func TestDispatchAfterCloseFrees(t *testing.T) {
	before := mbuf.ReadStats()
	n := New(Config{Workers: 2})
	id := n.Register(Proto{Name: "late", Mode: Queued, Policy: PolicyFlow, Handler: func(m *mbuf.Mbuf) { m.FreeChain() }})
	n.Close()
	for i := 0; i < 10; i++ {
		require.ErrorIs(t, n.Dispatch(id, pkt(uint32(i), 1)), ErrFull)
	}
	assert.Equal(t, uint64(10), n.Stats(id).Drops)
	now := mbuf.ReadStats()
	assert.Equal(t, before.Mbufs, now.Mbufs)
	assert.Equal(t, before.Clusters, now.Clusters)
}
