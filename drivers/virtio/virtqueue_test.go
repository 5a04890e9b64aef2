package virtio

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDevice is the device side of a split ring over the same memory as
// the driver's Queue, with "physical" buffer addresses being offsets into
// ram. It follows §2.7.13 (the device's view): read avail idx, walk each
// chain, write into writable buffers, publish used entries.
type fakeDevice struct {
	q         *Queue // only for offsets and size (the device's own copy of them)
	ram       []byte
	lastAvail uint16
	usedIdx   uint16
	seen      [][]byte // readable bytes of each chain consumed
}

func (f *fakeDevice) load32(off int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&f.q.mem[off])))
}
func (f *fakeDevice) store32(off int, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&f.q.mem[off])), v)
}

// step consumes every available chain: it records the readable bytes and
// fills writable buffers with reply (cut to their size), returning the
// chains processed.
func (f *fakeDevice) step(reply func(in []byte) []byte) int {
	q := f.q
	avail := uint16(f.load32(q.availOff) >> 16)
	n := 0
	for f.lastAvail != avail {
		slot := q.availOff + 4 + 2*int(f.lastAvail%uint16(q.Size))
		head := binary.LittleEndian.Uint16(q.mem[slot:])
		f.lastAvail++
		var in []byte
		var outs [][]byte
		i := head
		for k := 0; k < q.Size; k++ {
			d := GetDesc(q.mem[int(i)*DescSize:])
			buf := f.ram[d.Addr : d.Addr+uint64(d.Len)]
			if d.Flags&VIRTQ_DESC_F_WRITE != 0 {
				outs = append(outs, buf)
			} else {
				in = append(in, buf...)
			}
			if d.Flags&VIRTQ_DESC_F_NEXT == 0 {
				break
			}
			i = d.Next
		}
		f.seen = append(f.seen, in)
		out := reply(in)
		written := 0
		for _, b := range outs {
			c := copy(b, out[written:])
			written += c
		}
		e := q.usedOff + 4 + UsedElemSize*int(f.usedIdx%uint16(q.Size))
		binary.LittleEndian.PutUint32(q.mem[e:], uint32(head))
		binary.LittleEndian.PutUint32(q.mem[e+4:], uint32(written))
		f.usedIdx++
		f.store32(q.usedOff, uint32(f.usedIdx)<<16|f.load32(q.usedOff)&0xffff)
		n++
	}
	return n
}

func newTestQueue(t *testing.T, size int, eventIdx bool) (*Queue, *fakeDevice) {
	_, _, total := Layout(size)
	mem := make([]byte, total)
	for i := range mem {
		mem[i] = 0xa5 // NewQueue must clear it
	}
	q, err := NewQueue(1, size, mem, 0x100000, eventIdx)
	require.NoError(t, err)
	return q, &fakeDevice{q: q, ram: make([]byte, 1<<16)}
}

func TestLayout(t *testing.T) {
	for _, n := range []int{2, 8, 64, 256, 1024, 32768} {
		a, u, total := Layout(n)
		assert.Equal(t, 16*n, a, "avail after the table")
		assert.Zero(t, u%4096, "used ring page aligned")
		assert.GreaterOrEqual(t, u, a+6+2*n+2, "avail (with used_event and padding) fits before used")
		assert.GreaterOrEqual(t, total, u+6+8*n+2)
		assert.Zero(t, total%4096)
		assert.Zero(t, (a+4+2*n)%4, "used_event word aligned for the 32-bit access")
		assert.Zero(t, (u+4+8*n)%4, "avail_event word aligned")
	}
	_, _, total := Layout(256)
	assert.Equal(t, 3*4096, total)
}

func TestNewQueueRejects(t *testing.T) {
	for _, n := range []int{0, 1, 3, 100, 65536} {
		_, err := NewQueue(0, n, make([]byte, 1<<21), 0, false)
		assert.Error(t, err, "size %d", n)
	}
	_, err := NewQueue(0, 256, make([]byte, 4096), 0, false)
	assert.Error(t, err, "memory too small")
}

func TestDescriptorEncoding(t *testing.T) {
	b := make([]byte, DescSize)
	PutDesc(b, Desc{Addr: 0x1122334455667788, Len: 0x99aabbcc, Flags: VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, Next: 0x0102})
	assert.Equal(t, []byte{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xcc, 0xbb, 0xaa, 0x99, 3, 0, 2, 1}, b)
	assert.Equal(t, Desc{Addr: 0x1122334455667788, Len: 0x99aabbcc, Flags: 3, Next: 0x0102}, GetDesc(b))
}

func TestNeedEvent(t *testing.T) {
	cases := []struct {
		event, new, old uint16
		want            bool
	}{
		{0, 1, 0, true},  // moving 0→1 passes event 0
		{1, 1, 0, false}, // event 1 not yet passed (needs new > 1)
		{5, 10, 3, true}, // 5 inside (3, 10]
		{10, 10, 3, false},
		{2, 10, 3, false},         // event behind old: already notified
		{0xffff, 2, 0xfffe, true}, // wraps
		{0xfffd, 2, 0xfffe, false},
		{7, 7, 7, false}, // nothing moved
	}
	for _, c := range cases {
		assert.Equal(t, c.want, NeedEvent(c.event, c.new, c.old), "event %d new %d old %d", c.event, c.new, c.old)
	}
}

// Chains of one to three buffers (readable then writable), a ring of 8
// wrapped ten thousand times (and the 16-bit indices past 65535); every reply lands in the right
// buffer with the right length and the free count comes back.
func TestQueueWrapsManyTimes(t *testing.T) {
	for _, ev := range []bool{false, true} {
		q, dev := newTestQueue(t, 8, ev)
		assert.Zero(t, q.load32(q.availOff), "memory cleared")
		next := uint64(0)
		alloc := func(n int) uint64 {
			if next+uint64(n) > uint64(len(dev.ram)) {
				next = 0
			}
			a := next
			next += uint64(n)
			return a
		}
		reply := func(in []byte) []byte {
			out := make([]byte, len(in))
			for i, c := range in {
				out[i] = ^c
			}
			return out
		}
		type posted struct {
			in  []byte
			out uint64
			n   int
		}
		byHead := map[uint16]posted{}
		total := 0
		for round := 0; round < 25000; round++ {
			k := 1 + round%3
			var chains int
			for q.NumFree() >= k && chains < 3 {
				in := []byte{byte(round), byte(round >> 8), byte(chains), 7}
				inAddr := alloc(len(in))
				copy(dev.ram[inAddr:], in)
				bufs := []Buf{{Addr: inAddr, Len: uint32(len(in))}}
				var outAddr uint64
				for j := 1; j < k; j++ {
					a := alloc(2)
					if j == 1 {
						outAddr = a
					}
					bufs = append(bufs, Buf{Addr: a, Len: 2, Write: true})
				}
				h, err := q.Add(bufs...)
				require.NoError(t, err)
				_, dup := byHead[h]
				require.False(t, dup, "head %d handed out twice", h)
				byHead[h] = posted{in: in, out: outAddr, n: 2 * (k - 1)}
				chains++
			}
			q.Kick()
			require.Equal(t, chains, dev.step(reply))
			for {
				u, ok, err := q.Pop()
				require.NoError(t, err)
				if !ok {
					break
				}
				p, found := byHead[u.Head]
				require.True(t, found, "used head %d not posted", u.Head)
				delete(byHead, u.Head)
				require.Equal(t, uint32(p.n), u.Len)
				for i := 0; i < p.n; i++ {
					// Writable buffers of one chain were allocated back to back.
					assert.Equal(t, ^p.in[i], dev.ram[p.out+uint64(i)])
				}
				total++
			}
			require.Empty(t, byHead)
			require.Equal(t, 8, q.NumFree())
			require.Zero(t, q.InFlight())
		}
		// Every three rounds: 3 one-buffer, 3 two-buffer and 2
		// three-buffer chains: the 16-bit indices wrap too.
		assert.Equal(t, 25000/3*8+3, total)
		a, l, d := q.Indices()
		assert.Equal(t, a, l)
		assert.Equal(t, l, d)
	}
}

func TestAddNoSpace(t *testing.T) {
	q, _ := newTestQueue(t, 4, false)
	_, err := q.Add()
	assert.ErrorIs(t, err, ErrNoSpace)
	_, err = q.Add(Buf{}, Buf{}, Buf{})
	require.NoError(t, err)
	h, ok := q.NextHead()
	assert.True(t, ok)
	got, err := q.Add(Buf{Len: 1})
	require.NoError(t, err)
	assert.Equal(t, h, got, "NextHead predicts Add")
	_, ok = q.NextHead()
	assert.False(t, ok)
	_, err = q.Add(Buf{})
	assert.ErrorIs(t, err, ErrNoSpace)
}

// §2.7.10: without EVENT_IDX the device's NO_NOTIFY flag decides; with
// it, avail_event.
func TestKickSuppression(t *testing.T) {
	q, dev := newTestQueue(t, 8, false)
	assert.False(t, q.Kick(), "nothing added")
	q.Add(Buf{Len: 1})
	assert.True(t, q.Kick())
	dev.store32(q.usedOff, VIRTQ_USED_F_NO_NOTIFY)
	q.Add(Buf{Len: 1})
	assert.False(t, q.Kick(), "device said NO_NOTIFY")
	assert.Equal(t, uint16(2), uint16(q.load32(q.availOff)>>16), "published anyway")

	q, dev = newTestQueue(t, 8, true)
	q.Add(Buf{Len: 1})
	assert.True(t, q.Kick(), "avail_event 0: moving 0→1 passes it")
	q.Add(Buf{Len: 1})
	assert.False(t, q.Kick(), "avail_event still 0")
	dev.store32(q.availEventOff(), 3)
	q.Add(Buf{Len: 1})
	assert.False(t, q.Kick(), "2→3 does not pass 3")
	q.Add(Buf{Len: 1})
	assert.True(t, q.Kick(), "3→4 passes 3")
}

func TestInterruptSuppression(t *testing.T) {
	q, dev := newTestQueue(t, 8, false)
	q.Add(Buf{Len: 4, Write: true})
	q.Kick()
	q.DisableInterrupts()
	assert.Equal(t, uint32(VIRTQ_AVAIL_F_NO_INTERRUPT)|1<<16, q.load32(q.availOff), "flag set, published idx kept")
	dev.step(func([]byte) []byte { return []byte{1} })
	assert.True(t, q.EnableInterrupts(), "a buffer came back while disabled")
	assert.Equal(t, uint32(1)<<16, q.load32(q.availOff))
	_, ok, err := q.Pop()
	require.True(t, ok)
	require.NoError(t, err)
	assert.False(t, q.EnableInterrupts())

	q, dev = newTestQueue(t, 8, true)
	for i := 0; i < 3; i++ {
		q.Add(Buf{Len: 4, Write: true})
	}
	q.Kick()
	dev.step(func([]byte) []byte { return nil })
	q.DisableInterrupts()
	assert.Equal(t, uint32(0x8000), q.load32(q.usedEventOff()), "used_event far away")
	q.Pop()
	assert.True(t, q.EnableInterrupts())
	assert.Equal(t, uint32(1), q.load32(q.usedEventOff()), "used_event = next used index")
}

// A broken device: ids out of range or not in flight, lengths beyond
// the posted buffers, a used index running ahead.
func TestBadDevice(t *testing.T) {
	q, dev := newTestQueue(t, 8, false)
	h, _ := q.Add(Buf{Len: 4, Write: true})
	q.Add(Buf{Len: 4})
	q.Kick()
	put := func(id, n uint32) {
		e := q.usedOff + 4 + UsedElemSize*int(dev.usedIdx%8)
		binary.LittleEndian.PutUint32(q.mem[e:], id)
		binary.LittleEndian.PutUint32(q.mem[e+4:], n)
		dev.usedIdx++
		dev.store32(q.usedOff, uint32(dev.usedIdx)<<16)
	}
	put(99, 0)
	_, ok, err := q.Pop()
	assert.False(t, ok)
	assert.ErrorIs(t, err, ErrBadID)
	put(5, 0) // in range, not in flight
	_, _, err = q.Pop()
	assert.ErrorIs(t, err, ErrBadID)
	put(uint32(h), 5)
	u, ok, err := q.Pop()
	assert.True(t, ok, "the chain is returned")
	assert.ErrorIs(t, err, ErrBadLen)
	assert.Equal(t, h, u.Head)
	assert.Equal(t, 1, q.InFlight())
	// Used index jumps 5 ahead with one chain in flight.
	dev.usedIdx += 5
	dev.store32(q.usedOff, uint32(dev.usedIdx)<<16)
	_, ok, err = q.Pop()
	assert.False(t, ok)
	assert.ErrorIs(t, err, ErrBadUsedIdx)
	assert.Equal(t, 1, q.InFlight(), "nothing consumed")
	q.Reset()
	assert.Equal(t, 8, q.NumFree())
	assert.Zero(t, q.InFlight())
}

// The device runs concurrently (its own goroutine), as QEMU's does:
// the atomic index accesses are what orders the rings (go test -race).
func TestQueueConcurrentDevice(t *testing.T) {
	q, dev := newTestQueue(t, 16, true)
	const total = 5000
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if dev.step(func(in []byte) []byte { return nil }) == 0 {
				runtime.Gosched()
			}
		}
	}()
	var mu sync.Mutex // the driver's lock
	sent, done := 0, 0
	for done < total {
		mu.Lock()
		for sent < total && q.NumFree() > 0 {
			h, _ := q.NextHead()
			a := uint64(h) * 4
			binary.LittleEndian.PutUint32(dev.ram[a:], uint32(sent))
			_, err := q.Add(Buf{Addr: a, Len: 4})
			require.NoError(t, err)
			sent++
		}
		q.Kick()
		popped := 0
		for {
			_, ok, err := q.Pop()
			require.NoError(t, err)
			if !ok {
				break
			}
			popped++
		}
		done += popped
		mu.Unlock()
		if popped == 0 {
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	require.Len(t, dev.seen, total)
	for i, in := range dev.seen {
		require.Equal(t, uint32(i), binary.LittleEndian.Uint32(in), "chains seen in order")
	}
}

// NextChain names the descriptors the next Add of k buffers takes, in
// chain order, also after frees have shuffled the free list; more than
// are free is refused.
func TestNextChainPredictsAdd(t *testing.T) {
	q, dev := newTestQueue(t, 16, true)
	for round := 0; round < 200; round++ {
		k := 1 + round%7
		ids, ok := q.NextChain(nil, k)
		if !ok {
			require.Less(t, q.NumFree(), k)
			q.Kick()
			dev.step(func(in []byte) []byte { return nil })
			for {
				_, ok, err := q.Pop()
				require.NoError(t, err)
				if !ok {
					break
				}
			}
			continue
		}
		require.Len(t, ids, k)
		bufs := make([]Buf, k)
		for j := range bufs {
			bufs[j] = Buf{Addr: uint64(j), Len: 1}
		}
		h, err := q.Add(bufs...)
		require.NoError(t, err)
		require.Equal(t, ids[0], h)
		for j := 0; j < k-1; j++ {
			d := GetDesc(q.mem[int(ids[j])*DescSize:])
			require.NotZero(t, d.Flags&VIRTQ_DESC_F_NEXT)
			require.Equal(t, ids[j+1], d.Next, "round %d link %d", round, j)
		}
		require.Zero(t, GetDesc(q.mem[int(ids[k-1])*DescSize:]).Flags&VIRTQ_DESC_F_NEXT)
	}
	_, ok := q.NextChain(nil, 17)
	require.False(t, ok)
}
