package vtnet

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/drivers/virtio"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlanQueues(t *testing.T) {
	mq := virtio.Bit(VIRTIO_NET_F_MQ) | virtio.Bit(VIRTIO_NET_F_CTRL_VQ) | virtio.Bit(virtio.F_VERSION_1)
	for _, tc := range []struct {
		name                         string
		f                            virtio.Features
		maxPairs, queues, cpus, vecs int
		pairs, maxP, ctrlIdx         int
		ctrl                         bool
		err                          string
	}{
		{"no MQ, no ctrl (slirp without ctrl_vq)", virtio.Bit(virtio.F_VERSION_1), 0, 2, 4, 3, 1, 1, 2, false, ""},
		{"no MQ, ctrl at 2", virtio.Bit(VIRTIO_NET_F_CTRL_VQ), 7, 3, 4, 3, 1, 1, 2, true, ""},
		{"MQ without CTRL_VQ is ignored", virtio.Bit(VIRTIO_NET_F_MQ), 4, 9, 4, 10, 1, 1, 2, false, ""},
		{"MQ 4 pairs, 4 CPUs, 10 vectors", mq, 4, 9, 4, 10, 4, 4, 8, true, ""},
		{"MQ limited by CPUs", mq, 8, 17, 2, 18, 2, 8, 16, true, ""},
		{"MQ limited by vectors", mq, 4, 9, 4, 6, 2, 4, 8, true, ""},
		{"MQ with INTx: one pair", mq, 4, 9, 4, 0, 1, 4, 8, true, ""},
		{"MQ, one CPU", mq, 4, 9, 1, 10, 1, 4, 8, true, ""},
		{"max pairs 0", mq, 0, 9, 4, 10, 1, 1, 2, true, "max_virtqueue_pairs 0 out of range"},
		{"max pairs too many", mq, 0x8001, 9, 4, 10, 1, 1, 2, true, "max_virtqueue_pairs 32769 out of range"},
		{"too few queues for the ctrl queue", mq, 4, 8, 4, 10, 1, 4, 8, true, "device has 8 queues, needs 9"},
		{"too few queues", virtio.Bit(virtio.F_VERSION_1), 0, 1, 4, 3, 1, 1, 2, false, "device has 1 queues, needs 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PlanQueues(tc.f, tc.maxPairs, tc.queues, tc.cpus, tc.vecs)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.pairs, p.Pairs)
			assert.Equal(t, tc.maxP, p.MaxPairs)
			assert.Equal(t, tc.ctrl, p.Ctrl)
			assert.Equal(t, tc.ctrlIdx, p.CtrlIndex)
		})
	}
	assert.Equal(t, []int{0, 1, 6, 7}, []int{RxQueue(0), TxQueue(0), RxQueue(3), TxQueue(3)})
}

func TestEncodeCtrl(t *testing.T) {
	b := make([]byte, 16)
	n := EncodeCtrl(b, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MQPairsSet(0x0304))
	assert.Equal(t, []byte{4, 0, 0x04, 0x03}, b[:n])
	n = EncodeCtrl(b, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, []byte{1})
	assert.Equal(t, []byte{0, 0, 1}, b[:n])
}

// ctrlDevice is the device side of a control queue over ram (ring at 0,
// bus address == offset): §2.7.13's walk of each available chain, the
// readable part recorded, ack written into the writable byte.
type ctrlDevice struct {
	ram       []byte
	size      int
	lastAvail uint16
	usedIdx   uint16
	cmds      [][]byte
	answer    func(cmd []byte) (ack byte, written uint32)
	badID     bool
}

func (f *ctrlDevice) word(off int) *uint32 { return (*uint32)(unsafe.Pointer(&f.ram[off])) }

func (f *ctrlDevice) step() {
	availOff, usedOff, _ := virtio.Layout(f.size)
	avail := uint16(atomic.LoadUint32(f.word(availOff)) >> 16)
	for f.lastAvail != avail {
		head := binary.LittleEndian.Uint16(f.ram[availOff+4+2*int(f.lastAvail%uint16(f.size)):])
		f.lastAvail++
		var in []byte
		var ack []byte
		for i := head; ; {
			d := virtio.GetDesc(f.ram[int(i)*virtio.DescSize:])
			buf := f.ram[d.Addr : d.Addr+uint64(d.Len)]
			if d.Flags&virtio.VIRTQ_DESC_F_WRITE != 0 {
				ack = buf
			} else {
				in = append(in, buf...)
			}
			if d.Flags&virtio.VIRTQ_DESC_F_NEXT == 0 {
				break
			}
			i = d.Next
		}
		f.cmds = append(f.cmds, in)
		a, n := f.answer(in)
		if len(ack) > 0 {
			ack[0] = a
		}
		id := uint32(head)
		if f.badID {
			id = uint32(head) + 1
		}
		e := usedOff + 4 + virtio.UsedElemSize*int(f.usedIdx%uint16(f.size))
		binary.LittleEndian.PutUint32(f.ram[e:], id)
		binary.LittleEndian.PutUint32(f.ram[e+4:], n)
		f.usedIdx++
		atomic.StoreUint32(f.word(usedOff), uint32(f.usedIdx)<<16)
	}
	// avail_event: notify me at the next buffer (§2.7.10).
	atomic.StoreUint32(f.word(usedOff+4+virtio.UsedElemSize*f.size), uint32(f.lastAvail))
}

func newCtrl(t *testing.T, answer func([]byte) (byte, uint32)) (*CtrlQueue, *ctrlDevice) {
	const size = 16
	ram := make([]byte, 1<<14)
	q, err := virtio.NewQueue(8, size, ram[:8192], 0, true)
	require.NoError(t, err)
	dev := &ctrlDevice{ram: ram, size: size, answer: answer}
	c := &CtrlQueue{Q: q, Buf: ram[8192:8448], BufPhys: 8192, Timeout: 50 * time.Millisecond, Poll: time.Millisecond}
	c.Notify = dev.step
	return c, dev
}

func TestCtrlCommand(t *testing.T) {
	ok := func([]byte) (byte, uint32) { return VIRTIO_NET_OK, 1 }
	c, dev := newCtrl(t, ok)
	for n := 1; n <= 40; n++ { // wraps the 16-entry ring several times
		require.NoError(t, c.Command(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MQPairsSet(n)))
	}
	require.Len(t, dev.cmds, 40)
	assert.Equal(t, []byte{4, 0, 4, 0}, dev.cmds[3])
	assert.Equal(t, uint64(40), c.Commands)
	assert.Zero(t, c.Failures)
	assert.Zero(t, c.Q.InFlight())

	c, _ = newCtrl(t, func([]byte) (byte, uint32) { return VIRTIO_NET_ERR, 1 })
	err := c.Command(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MQPairsSet(9))
	require.ErrorIs(t, err, ErrCtrlRefused)
	assert.Equal(t, uint64(1), c.Failures)

	c, _ = newCtrl(t, func([]byte) (byte, uint32) { return VIRTIO_NET_OK, 0 })
	require.ErrorContains(t, c.Command(VIRTIO_NET_CTRL_MQ, 0, MQPairsSet(2)), "wrote no ack")

	c, dev = newCtrl(t, ok)
	dev.badID = true
	require.ErrorIs(t, c.Command(VIRTIO_NET_CTRL_MQ, 0, MQPairsSet(2)), virtio.ErrBadID)

	c, _ = newCtrl(t, func([]byte) (byte, uint32) { return VIRTIO_NET_OK, 5 })
	require.ErrorIs(t, c.Command(VIRTIO_NET_CTRL_MQ, 0, MQPairsSet(2)), virtio.ErrBadLen)

	// A device that never answers: a bounded wait, then the queue is busy
	// until the (late) answer arrives.
	c, dev = newCtrl(t, ok)
	c.Notify = func() {}
	start := time.Now()
	require.ErrorIs(t, c.Command(VIRTIO_NET_CTRL_MQ, 0, MQPairsSet(2)), ErrCtrlTimeout)
	assert.Less(t, time.Since(start), 10*time.Second)
	require.ErrorIs(t, c.Command(VIRTIO_NET_CTRL_MQ, 0, MQPairsSet(2)), ErrCtrlBusy)
	dev.step()
	c.Notify = dev.step
	require.NoError(t, c.Command(VIRTIO_NET_CTRL_MQ, 0, MQPairsSet(3)))
	assert.Equal(t, []byte{4, 0, 3, 0}, dev.cmds[len(dev.cmds)-1])

	// The command fills the buffer up to its last byte, the ack's: a
	// MAC table of 40 groups (248 bytes) fits 256, one more byte than
	// the room does not.
	groups := make([]netif.HWAddr, 40)
	require.NoError(t, c.Command(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, MACTableSet(nil, groups)))
	assert.Len(t, dev.cmds[len(dev.cmds)-1], 2+8+6*40)
	require.NoError(t, c.Command(VIRTIO_NET_CTRL_MQ, 0, make([]byte, len(c.Buf)-3)))
	require.ErrorContains(t, c.Command(VIRTIO_NET_CTRL_MQ, 0, make([]byte, len(c.Buf)-2)), "control command of 254 bytes")
}
