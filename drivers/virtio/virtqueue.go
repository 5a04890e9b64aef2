package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Split virtqueue (§2.7): a descriptor table, the driver area (available
// ring) and the device area (used ring), laid out by [Layout] in one
// physically contiguous block:
//
//	0         descriptor table, Size × 16 bytes (align 16)
//	availOff  avail: flags le16, idx le16, ring[Size] le16, used_event le16
//	usedOff   used:  flags le16, idx le16, ring[Size] {id le32, len le32},
//	          avail_event le16 (page aligned)
//
// The flags/idx halfword pairs that the other side polls are read and
// written as one 32-bit atomic access: the atomic store orders the
// descriptor and ring-entry writes before it (x86 is TSO, and Go's atomic
// store is a full barrier, which the notification checks of §2.7.7.2 and
// §2.7.10 need between publishing an index and reading the other side's
// suppression field). used_event and avail_event are accessed as 32-bit
// words too: Layout leaves two bytes of padding after each, and with an
// even Size both are 4-byte aligned.

// Descriptor flags (§2.7.5).
const (
	VIRTQ_DESC_F_NEXT     = 1
	VIRTQ_DESC_F_WRITE    = 2
	VIRTQ_DESC_F_INDIRECT = 4
)

// Ring flags (§2.7.6, §2.7.8).
const (
	VIRTQ_AVAIL_F_NO_INTERRUPT = 1
	VIRTQ_USED_F_NO_NOTIFY     = 1
)

// DescSize is a descriptor's size; UsedElemSize a used-ring entry's.
const (
	DescSize     = 16
	UsedElemSize = 8
	MaxQueueSize = 32768 // §2.7: Queue Size is at most 32768
	pageSize     = 4096
)

// Layout returns the offsets of the driver and device areas of a queue
// of size entries and the total bytes (a multiple of 4 KiB).
func Layout(size int) (availOff, usedOff, total int) {
	availOff = size * DescSize
	usedOff = roundUp(availOff+4+2*size+2+2, pageSize)
	total = usedOff + roundUp(4+UsedElemSize*size+2+2, pageSize)
	return
}

func roundUp(n, a int) int { return (n + a - 1) / a * a }

// Desc is a decoded descriptor.
type Desc struct {
	Addr  uint64
	Len   uint32
	Flags uint16
	Next  uint16
}

// PutDesc encodes a descriptor (§2.7.5: addr le64, len le32, flags le16,
// next le16).
func PutDesc(b []byte, d Desc) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], d.Addr)
	le.PutUint32(b[8:], d.Len)
	le.PutUint16(b[12:], d.Flags)
	le.PutUint16(b[14:], d.Next)
}

// GetDesc decodes a descriptor.
func GetDesc(b []byte) Desc {
	le := binary.LittleEndian
	return Desc{Addr: le.Uint64(b[0:]), Len: le.Uint32(b[8:]), Flags: le.Uint16(b[12:]), Next: le.Uint16(b[14:])}
}

// NeedEvent is vring_need_event (§2.7.10): whether moving an index from
// old to new passes event, the index the other side asked to be told
// about. All arithmetic is modulo 2^16.
func NeedEvent(event, new, old uint16) bool { return new-event-1 < new-old }

// Buf is one buffer of a chain to add: Write marks it device-writable.
type Buf struct {
	Addr  uint64
	Len   uint32
	Write bool
}

// Used is a completed chain taken from the used ring.
type Used struct {
	Head uint16 // the chain's first descriptor (what Add returned)
	Len  uint32 // bytes the device wrote into the chain's writable buffers
}

// Errors from the device's side of a queue, for the driver to count.
var (
	// ErrNoSpace: not enough free descriptors for the chain.
	ErrNoSpace = errors.New("virtio: virtqueue full")
	// ErrBadID: a used entry names a descriptor that is not the head of
	// a chain in flight; it is skipped.
	ErrBadID = errors.New("virtio: used ring names a descriptor not in flight")
	// ErrBadLen: a used entry's length exceeds the chain's writable
	// bytes; the chain is returned (Used is valid) but its data must
	// not be trusted.
	ErrBadLen = errors.New("virtio: used length exceeds the posted buffers")
	// ErrBadUsedIdx: the used index ran ahead of what is in flight; the
	// ring is not consumed and the device needs a reset.
	ErrBadUsedIdx = errors.New("virtio: used index beyond the chains in flight")
)

// Queue is the driver's side of one split virtqueue. It is not
// synchronised: the driver holds its own lock around every call.
type Queue struct {
	Index    int    // (c) queue number
	Size     int    // (c) entries, a power of 2
	Phys     uint64 // (c) physical address of the block
	mem      []byte // (c) the block: table, avail, used
	availOff int    // (c)
	usedOff  int    // (c)
	eventIdx bool   // (c) VIRTIO_F_EVENT_IDX negotiated

	freeHead   uint16
	numFree    int
	next       []uint16 // shadow of each descriptor's next (the device cannot corrupt it)
	chain      []uint16 // per head: descriptors in its chain; 0 = not in flight
	writable   []uint32 // per head: device-writable bytes posted
	heads      int      // chains in flight
	availIdx   uint16   // next avail index to fill (the shadow)
	published  uint16   // avail index last made visible to the device
	lastUsed   uint16   // next used index to consume
	availFlags uint16
}

// NewQueue sets up queue index of size entries over mem (at least
// Layout(size) bytes, physically contiguous at phys), clearing it.
func NewQueue(index, size int, mem []byte, phys uint64, eventIdx bool) (*Queue, error) {
	if size < 2 || size > MaxQueueSize || size&(size-1) != 0 {
		return nil, fmt.Errorf("virtio: queue %d: size %d is not a power of 2 in [2, %d]", index, size, MaxQueueSize)
	}
	availOff, usedOff, total := Layout(size)
	if len(mem) < total {
		return nil, fmt.Errorf("virtio: queue %d: %d bytes for a ring that needs %d", index, len(mem), total)
	}
	q := &Queue{Index: index, Size: size, Phys: phys, mem: mem[:total], availOff: availOff, usedOff: usedOff, eventIdx: eventIdx,
		next: make([]uint16, size), chain: make([]uint16, size), writable: make([]uint32, size)}
	q.Reset()
	return q, nil
}

// Reset forgets every chain in flight and clears the rings (after a
// device reset, before the queue is given to the device again).
func (q *Queue) Reset() {
	clear(q.mem)
	for i := range q.next {
		q.next[i] = uint16(i + 1)
		q.chain[i], q.writable[i] = 0, 0
	}
	q.freeHead, q.numFree, q.heads = 0, q.Size, 0
	q.availIdx, q.published, q.lastUsed, q.availFlags = 0, 0, 0, 0
}

// DescAddr, DriverAddr and DeviceAddr are the physical addresses of the
// three areas, for the transport.
func (q *Queue) DescAddr() uint64   { return q.Phys }
func (q *Queue) DriverAddr() uint64 { return q.Phys + uint64(q.availOff) }
func (q *Queue) DeviceAddr() uint64 { return q.Phys + uint64(q.usedOff) }

// NumFree is the number of free descriptors.
func (q *Queue) NumFree() int { return q.numFree }

// InFlight is the number of chains the device holds.
func (q *Queue) InFlight() int { return q.heads }

// Indices returns the avail index (shadow), the used index consumed, and
// the device's used index, for diagnostics.
func (q *Queue) Indices() (avail, lastUsed, deviceUsed uint16) {
	return q.availIdx, q.lastUsed, uint16(q.load32(q.usedOff) >> 16)
}

func (q *Queue) word(off int) *uint32  { return (*uint32)(unsafe.Pointer(&q.mem[off])) }
func (q *Queue) load32(off int) uint32 { return atomic.LoadUint32(q.word(off)) }
func (q *Queue) store32(off int, v uint32) {
	atomic.StoreUint32(q.word(off), v)
}

func (q *Queue) usedEventOff() int  { return q.availOff + 4 + 2*q.Size }
func (q *Queue) availEventOff() int { return q.usedOff + 4 + UsedElemSize*q.Size }

// NextHead returns the descriptor the next Add will use as the chain's
// head (drivers that tie a buffer to each descriptor need it first), ok
// false when none is free.
func (q *Queue) NextHead() (uint16, bool) { return q.freeHead, q.numFree > 0 }

// NextChain appends to ids the descriptors the next Add of k buffers
// will use, in chain order (drivers that tie a buffer to each
// descriptor fill them first); ok is false when fewer than k are free.
func (q *Queue) NextChain(ids []uint16, k int) ([]uint16, bool) {
	if k <= 0 || k > q.numFree {
		return ids, false
	}
	i := q.freeHead
	for j := 0; j < k; j++ {
		ids = append(ids, i)
		i = q.next[i]
	}
	return ids, true
}

// Add writes bufs as one descriptor chain and puts its head in the
// available ring (not yet visible: see Kick). It returns the head.
func (q *Queue) Add(bufs ...Buf) (uint16, error) {
	if len(bufs) == 0 || len(bufs) > q.numFree {
		return 0, ErrNoSpace
	}
	head := q.freeHead
	i := head
	var w uint32
	for k, b := range bufs {
		d := Desc{Addr: b.Addr, Len: b.Len}
		if b.Write {
			d.Flags |= VIRTQ_DESC_F_WRITE
			w += b.Len
		}
		nxt := q.next[i]
		if k < len(bufs)-1 {
			d.Flags |= VIRTQ_DESC_F_NEXT
			d.Next = nxt
		}
		PutDesc(q.mem[int(i)*DescSize:], d)
		if k < len(bufs)-1 {
			i = nxt
		} else {
			q.freeHead = nxt
		}
	}
	q.numFree -= len(bufs)
	q.chain[head] = uint16(len(bufs))
	q.writable[head] = w
	q.heads++
	slot := q.availOff + 4 + 2*int(q.availIdx&uint16(q.Size-1))
	binary.LittleEndian.PutUint16(q.mem[slot:], head)
	q.availIdx++
	return head, nil
}

// Kick makes the added chains visible to the device and reports whether
// the device wants a notification (§2.7.10: avail_event with
// VIRTIO_F_EVENT_IDX, else the used ring's NO_NOTIFY flag).
func (q *Queue) Kick() bool {
	old, new := q.published, q.availIdx
	if old == new {
		return false
	}
	q.store32(q.availOff, uint32(q.availFlags)|uint32(new)<<16)
	q.published = new
	if q.eventIdx {
		return NeedEvent(uint16(q.load32(q.availEventOff())), new, old)
	}
	return q.load32(q.usedOff)&VIRTQ_USED_F_NO_NOTIFY == 0
}

// Pending reports whether the device has returned chains not yet taken.
func (q *Queue) Pending() bool { return uint16(q.load32(q.usedOff)>>16) != q.lastUsed }

// Pop takes the next used entry. ok is false when there is none. A
// non-nil error is a device fault to count: ErrBadUsedIdx (nothing
// consumed), ErrBadID (the entry was skipped), ErrBadLen (the chain was
// returned but its length is not to be trusted).
func (q *Queue) Pop() (u Used, ok bool, err error) {
	idx := uint16(q.load32(q.usedOff) >> 16)
	if idx == q.lastUsed {
		return Used{}, false, nil
	}
	if int(idx-q.lastUsed) > q.heads {
		return Used{}, false, ErrBadUsedIdx
	}
	e := q.usedOff + 4 + UsedElemSize*int(q.lastUsed&uint16(q.Size-1))
	id := binary.LittleEndian.Uint32(q.mem[e:])
	n := binary.LittleEndian.Uint32(q.mem[e+4:])
	q.lastUsed++
	if id >= uint32(q.Size) || q.chain[id] == 0 {
		return Used{}, false, ErrBadID
	}
	head := uint16(id)
	u = Used{Head: head, Len: n}
	if n > q.writable[head] {
		err = ErrBadLen
	}
	q.free(head)
	return u, true, err
}

// free returns head's chain to the free list (walking the shadow links).
func (q *Queue) free(head uint16) {
	k := int(q.chain[head])
	last := head
	for j := 1; j < k; j++ {
		last = q.next[last]
	}
	q.next[last] = q.freeHead
	q.freeHead = head
	q.numFree += k
	q.chain[head], q.writable[head] = 0, 0
	q.heads--
}

// DisableInterrupts asks the device not to interrupt for used buffers
// (a hint, §2.7.7): with VIRTIO_F_EVENT_IDX by moving used_event half the
// index space away, else with VIRTQ_AVAIL_F_NO_INTERRUPT.
func (q *Queue) DisableInterrupts() {
	if q.eventIdx {
		q.store32(q.usedEventOff(), uint32(q.lastUsed+0x8000))
		return
	}
	q.availFlags |= VIRTQ_AVAIL_F_NO_INTERRUPT
	q.store32(q.availOff, uint32(q.availFlags)|uint32(q.published)<<16)
}

// EnableInterrupts asks for an interrupt at the next used buffer and
// reports whether used buffers arrived meanwhile (the caller polls again
// instead of waiting for an interrupt that may not come).
func (q *Queue) EnableInterrupts() bool {
	if q.eventIdx {
		q.store32(q.usedEventOff(), uint32(q.lastUsed))
	} else {
		q.availFlags &^= VIRTQ_AVAIL_F_NO_INTERRUPT
		q.store32(q.availOff, uint32(q.availFlags)|uint32(q.published)<<16)
	}
	return q.Pending()
}
