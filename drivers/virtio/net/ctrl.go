package vtnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/smpgo/smpgo/drivers/virtio"
)

// Multiqueue and the control virtqueue (virtio 1.2 §5.1.2, §5.1.6.5):
// with VIRTIO_NET_F_MQ the device has max_virtqueue_pairs receive/
// transmit pairs, queue 2i receiveq(i+1) and 2i+1 transmitq(i+1), and the
// control queue is queue 2*max_virtqueue_pairs (2 without MQ). Only the
// first pair runs until the driver sends VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET
// on the control queue (§5.1.6.5.5).

// Control classes, commands and acks (§5.1.6.5).
const (
	VIRTIO_NET_CTRL_RX                   = 0
	VIRTIO_NET_CTRL_RX_PROMISC           = 0
	VIRTIO_NET_CTRL_RX_ALLMULTI          = 1
	VIRTIO_NET_CTRL_MQ                   = 4
	VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET      = 0
	VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN      = 1
	VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX      = 0x8000
	VIRTIO_NET_OK                   byte = 0
	VIRTIO_NET_ERR                  byte = 1
)

// RxQueue and TxQueue are the virtqueue indices of pair i (0-based).
func RxQueue(i int) int { return 2 * i }
func TxQueue(i int) int { return 2*i + 1 }

// Plan is the queue layout a device gets.
type Plan struct {
	Pairs     int  // queue pairs the driver runs
	MaxPairs  int  // the device's max_virtqueue_pairs (1 without MQ)
	Ctrl      bool // a control queue is set up
	CtrlIndex int  // its virtqueue index
	// Why says what limited Pairs below MaxPairs ("" when nothing did).
	Why string
}

// PlanQueues decides the layout from the negotiated features, the
// device's max_virtqueue_pairs (read only with VIRTIO_NET_F_MQ), the
// number of queues the transport reports, the CPUs and the MSI-X vectors
// available (0: INTx, one pair). N = min(max_virtqueue_pairs, CPUs,
// what the vectors allow: one for configuration changes and one per
// queue). An out-of-range max_virtqueue_pairs is an error (the caller
// falls back to one pair without MQ).
func PlanQueues(f virtio.Features, maxPairs, numQueues, cpus, vectors int) (Plan, error) {
	p := Plan{Pairs: 1, MaxPairs: 1, Ctrl: f.Has(VIRTIO_NET_F_CTRL_VQ), CtrlIndex: 2}
	mq := f.Has(VIRTIO_NET_F_MQ) && p.Ctrl // §5.1.3.1: MQ requires CTRL_VQ
	if mq {
		if maxPairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || maxPairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX {
			return p, fmt.Errorf("vtnet: max_virtqueue_pairs %d out of range [1, %#x]", maxPairs, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX)
		}
		p.MaxPairs = maxPairs
		p.CtrlIndex = 2 * maxPairs
	}
	need := 2 * p.MaxPairs
	if p.Ctrl {
		need = p.CtrlIndex + 1
	}
	if numQueues < need {
		return p, fmt.Errorf("vtnet: device has %d queues, needs %d for %d pairs", numQueues, need, p.MaxPairs)
	}
	if !mq {
		return p, nil
	}
	p.Pairs = p.MaxPairs
	if cpus < p.Pairs {
		p.Pairs, p.Why = max(cpus, 1), fmt.Sprintf("%d CPUs", cpus)
	}
	if byVec := (vectors - 1) / 2; byVec < p.Pairs {
		p.Pairs, p.Why = max(byVec, 1), fmt.Sprintf("%d MSI-X vectors", vectors)
	}
	return p, nil
}

// EncodeCtrl writes a control command's device-readable part (struct
// virtio_net_ctrl without ack: class, command, command-specific data)
// into b and returns its length.
func EncodeCtrl(b []byte, class, cmd byte, data []byte) int {
	b[0], b[1] = class, cmd
	return 2 + copy(b[2:], data)
}

// MQPairsSet is VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET's data: le16
// virtqueue_pairs (§5.1.6.5.5).
func MQPairsSet(n int) []byte {
	return binary.LittleEndian.AppendUint16(nil, uint16(n))
}

// Control-queue errors.
var (
	ErrCtrlTimeout = errors.New("vtnet: control command not answered")
	ErrCtrlBusy    = errors.New("vtnet: control queue holds an unanswered command")
	ErrCtrlRefused = errors.New("vtnet: control command refused")
)

// The ack byte is CtrlQueue.Buf's last; the command goes at its start
// (a MAC table of 64 addresses takes 394 bytes).

// CtrlQueue sends control commands one at a time and waits (bounded) for
// each answer by polling the used ring: commands are rare (attach,
// reset) and QEMU answers them synchronously in the notification.
type CtrlQueue struct {
	Q       *virtio.Queue
	Buf     []byte // DMA memory for the command and, in its last byte, the ack ...
	BufPhys uint64 // ... at this bus address
	Notify  func()
	Timeout time.Duration // 0: one second
	Poll    time.Duration // 0: 100 µs

	Commands, Failures uint64 // counters (the caller's lock)
}

// Command sends class/cmd with data and waits for the device's ack. A
// command left unanswered stays in flight (ErrCtrlBusy afterwards, until
// the device is reset and Q with it).
func (c *CtrlQueue) Command(class, cmd byte, data []byte) error {
	c.Commands++
	err := c.command(class, cmd, data)
	if err != nil {
		c.Failures++
	}
	return err
}

func (c *CtrlQueue) command(class, cmd byte, data []byte) error {
	ackOff := len(c.Buf) - 1
	if 2+len(data) > ackOff {
		return fmt.Errorf("vtnet: control command of %d bytes", len(data))
	}
	if c.Q.InFlight() > 0 {
		if _, ok, _ := c.Q.Pop(); !ok || c.Q.InFlight() > 0 {
			return ErrCtrlBusy
		}
	}
	n := EncodeCtrl(c.Buf, class, cmd, data)
	c.Buf[ackOff] = 0xff // neither OK nor ERR until the device writes it
	head, err := c.Q.Add(virtio.Buf{Addr: c.BufPhys, Len: uint32(n)},
		virtio.Buf{Addr: c.BufPhys + uint64(ackOff), Len: 1, Write: true})
	if err != nil {
		return err
	}
	if c.Q.Kick() {
		c.Notify()
	}
	timeout, poll := c.Timeout, c.Poll
	if timeout == 0 {
		timeout = time.Second
	}
	if poll == 0 {
		poll = 100 * time.Microsecond
	}
	deadline := time.Now().Add(timeout)
	for {
		u, ok, err := c.Q.Pop()
		switch {
		case err == virtio.ErrBadLen:
			return fmt.Errorf("vtnet: control ack: %w", err)
		case err != nil:
			return fmt.Errorf("vtnet: control queue: %w", err)
		case ok && u.Head != head:
			return fmt.Errorf("vtnet: control queue returned descriptor %d, sent %d", u.Head, head)
		case ok && u.Len < 1:
			return fmt.Errorf("vtnet: control command %d/%d: device wrote no ack", class, cmd)
		case ok && c.Buf[ackOff] != VIRTIO_NET_OK:
			return fmt.Errorf("%w: class %d command %d: ack %d", ErrCtrlRefused, class, cmd, c.Buf[ackOff])
		case ok:
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: class %d command %d after %v", ErrCtrlTimeout, class, cmd, timeout)
		}
		time.Sleep(poll)
	}
}
