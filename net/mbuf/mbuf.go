package mbuf

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Sizes, as in sys/sys/param.h and mbuf.h.
const (
	// MSIZE is the inline data capacity of one mbuf.
	MSIZE = 256
	// MCLBYTES is the size of a standard data cluster.
	MCLBYTES = 2048
	// MaxHdr is the headroom reserved in front of data built by the stack
	// for link, network and transport headers (Ethernet 14 + IPv4 60 +
	// TCP 60, rounded up).
	MaxHdr = 144
)

// Errors returned by chain operations.
var (
	ErrShort   = errors.New("mbuf: packet shorter than requested")
	ErrTooBig  = errors.New("mbuf: request larger than a cluster")
	ErrNoSpace = errors.New("mbuf: out of clusters")
)

// Flags describe a packet (PktHdr.Flags).
type Flags uint16

const (
	// M_BCAST: received as a link-level broadcast.
	M_BCAST Flags = 1 << iota
	// M_MCAST: received as a link-level multicast.
	M_MCAST
	// M_LOOP: looped back by the stack.
	M_LOOP
)

// CsumFlags are checksum-offload requests (transmit) and results (receive),
// as CSUM_* in sys/sys/mbuf.h.
type CsumFlags uint32

const (
	// Transmit: the device computes the IPv4 header checksum.
	CSUM_IP CsumFlags = 1 << iota
	// Transmit: the device computes the TCP checksum; CsumData holds the
	// offset of the checksum field from the start of the TCP header.
	CSUM_TCP
	// Transmit: the device computes the UDP checksum.
	CSUM_UDP
	// Receive: the device checked the IPv4 header checksum ...
	CSUM_L3_CALC
	// ... and found it valid.
	CSUM_L3_VALID
	// Receive: the device checked the TCP/UDP checksum ...
	CSUM_L4_CALC
	// ... and found it valid.
	CSUM_L4_VALID
	// Transmit: TCP segmentation offload (FreeBSD's CSUM_TSO): the packet
	// is one TCP segment larger than the path's MSS, to be cut by the
	// device into segments of PktHdr.TSOSegSz payload bytes, each with
	// its own IPv4 header (length, id, checksum) and TCP header (sequence
	// number, flags: FIN and PSH only on the last, CWR only on the
	// first, and checksum). CSUM_TCP is set with it: the checksum field
	// holds the pseudo-header's sum over the whole segment's length.
	CSUM_TSO
)

// HashType says what PktHdr.FlowID was computed over (M_HASHTYPE_*).
type HashType uint8

const (
	// M_HASHTYPE_NONE: no flow id.
	M_HASHTYPE_NONE HashType = iota
	// M_HASHTYPE_OPAQUE: a flow id without a defined meaning (e.g. the
	// receive queue).
	M_HASHTYPE_OPAQUE
	// M_HASHTYPE_IPV4: hash of the IPv4 source and destination.
	M_HASHTYPE_IPV4
	// M_HASHTYPE_TCP_IPV4: hash of addresses and TCP ports.
	M_HASHTYPE_TCP_IPV4
	// M_HASHTYPE_UDP_IPV4: hash of addresses and UDP ports.
	M_HASHTYPE_UDP_IPV4
)

// PktHdr is the packet header, valid in the first mbuf of a chain.
type PktHdr struct {
	Len      int       // total bytes in the chain
	RcvIf    int       // receiving interface index, 0 if none
	RxQueue  int       // receive queue it arrived on
	FlowID   uint32    // flow hash (see HashType)
	HashType HashType  // what FlowID covers
	Flags    Flags     // M_BCAST, M_MCAST, M_LOOP
	Csum     CsumFlags // offload requests or results
	CsumData uint16    // offload argument (see CSUM_TCP)
	TSOSegSz uint16    // with CSUM_TSO: the payload bytes of each segment (the MSS)
}

// Mbuf is one buffer of a chain. Data is buf[off:off+n].
type Mbuf struct {
	next    *Mbuf // next buffer of this packet
	nextPkt *Mbuf // next packet of a Queue
	buf     []byte
	off, n  int
	ext     *Ext // external storage, nil for inline data
	hdr     bool // Pkt is valid
	freed   bool // on the free list: catches double frees
	// Pkt is the packet header; meaningful only on the first mbuf.
	Pkt    PktHdr
	inline [MSIZE]byte
}

// Ext is reference-counted external storage (FreeBSD's m_ext). Its bytes
// may live outside the Go heap (a UMA zone, a driver's DMA area); the Ext
// itself is a Go heap object so that it can hold the free callback.
type Ext struct {
	refs atomic.Int32
	// Buf is the whole buffer.
	Buf []byte
	// Phys is the physical address of Buf[0], or 0 when unknown.
	Phys uint64
	// Arg is the owner's cookie (a ring slot, a zone item).
	Arg  uintptr
	free func(*Ext)
}

// Refs returns the current reference count.
func (e *Ext) Refs() int { return int(e.refs.Load()) }

// Stats counts buffers in use and allocation failures.
type Stats struct {
	Mbufs    int64 // mbufs allocated and not freed
	Clusters int64 // clusters from the Storage not freed
	Ext      int64 // external buffers (any kind) with references
	Failures int64 // cluster allocations that failed
	Drops    int64 // packets dropped by full Queues
}

var stats struct {
	mbufs, clusters, ext, failures, drops atomic.Int64
}

// ReadStats returns the current counters.
func ReadStats() Stats {
	return Stats{
		Mbufs:    stats.mbufs.Load(),
		Clusters: stats.clusters.Load(),
		Ext:      stats.ext.Load(),
		Failures: stats.failures.Load(),
		Drops:    stats.drops.Load(),
	}
}

var mbufPool = sync.Pool{New: func() any { return new(Mbuf) }}

// get returns a fresh mbuf with inline storage.
func get(hdr bool) *Mbuf {
	m := mbufPool.Get().(*Mbuf)
	stats.mbufs.Add(1)
	m.next, m.nextPkt, m.ext = nil, nil, nil
	m.buf = m.inline[:]
	m.off, m.n = 0, 0
	m.hdr = hdr
	m.freed = false
	m.Pkt = PktHdr{}
	return m
}

// Get returns an empty packet-header mbuf with inline storage and no
// headroom reserved.
func Get() *Mbuf { return get(true) }

// GetCluster returns an empty packet-header mbuf with a cluster attached,
// or nil when the Storage is exhausted (counted in Stats.Failures).
func GetCluster() *Mbuf {
	m := get(true)
	if !m.attachCluster() {
		m.Free()
		return nil
	}
	return m
}

// GetExt returns a packet-header mbuf whose data is buf[off:off+n] of
// external storage that the caller owns: free is called once the last
// reference is gone (from whatever goroutine drops it). Drivers use it to
// pass receive buffers up without copying.
func GetExt(buf []byte, phys uint64, arg uintptr, off, n int, free func(*Ext)) *Mbuf {
	e := &Ext{Buf: buf, Phys: phys, Arg: arg, free: free}
	e.refs.Store(1)
	stats.ext.Add(1)
	m := get(true)
	m.ext, m.buf, m.off, m.n = e, buf, off, n
	m.Pkt.Len = n
	return m
}

func (m *Mbuf) attachCluster() bool {
	s := storage
	data, phys, ok := s.Alloc()
	if !ok {
		stats.failures.Add(1)
		return false
	}
	stats.clusters.Add(1)
	stats.ext.Add(1)
	e := &Ext{Buf: data, Phys: phys, free: freeCluster}
	e.refs.Store(1)
	m.ext, m.buf, m.off, m.n = e, data, 0, 0
	return true
}

func freeCluster(e *Ext) {
	stats.clusters.Add(-1)
	storage.Free(e.Buf, e.Phys)
}

// Free releases this one mbuf (and its reference to external storage) and
// returns the next mbuf of the chain.
func (m *Mbuf) Free() *Mbuf {
	if m.freed {
		panic("mbuf.Free: double free")
	}
	next := m.next
	if e := m.ext; e != nil {
		if r := e.refs.Add(-1); r == 0 {
			stats.ext.Add(-1)
			if e.free != nil {
				e.free(e)
			}
		} else if r < 0 {
			panic("mbuf.Free: external storage reference count below zero")
		}
	}
	m.freed = true
	m.next, m.nextPkt, m.ext, m.buf = nil, nil, nil, nil
	stats.mbufs.Add(-1)
	mbufPool.Put(m)
	return next
}

// FreeChain releases the whole chain (m_freem). A nil chain is allowed.
func (m *Mbuf) FreeChain() {
	for m != nil {
		m = m.Free()
	}
}

// Next returns the next mbuf of the packet.
func (m *Mbuf) Next() *Mbuf { return m.next }

// Bytes returns this mbuf's data. It may be changed in place only when
// Writable reports true.
func (m *Mbuf) Bytes() []byte { return m.buf[m.off : m.off+m.n : m.off+m.n] }

// Len returns the bytes in this mbuf.
func (m *Mbuf) Len() int { return m.n }

// PktLen returns the packet length from the header.
func (m *Mbuf) PktLen() int { return m.Pkt.Len }

// IsExt reports whether the data is in external storage.
func (m *Mbuf) IsExt() bool { return m.ext != nil }

// Ext returns the external storage, or nil.
func (m *Mbuf) Ext() *Ext { return m.ext }

// Phys returns the physical address of this mbuf's data, or 0 when the
// storage has none (inline data, heap clusters).
func (m *Mbuf) Phys() uint64 {
	if m.ext == nil || m.ext.Phys == 0 {
		return 0
	}
	return m.ext.Phys + uint64(m.off)
}

// Writable reports whether this mbuf's bytes are not shared.
func (m *Mbuf) Writable() bool { return m.ext == nil || m.ext.refs.Load() == 1 }

// Leading returns the free space in front of the data.
func (m *Mbuf) Leading() int {
	if !m.Writable() {
		return 0
	}
	return m.off
}

// Trailing returns the free space after the data.
func (m *Mbuf) Trailing() int {
	if !m.Writable() {
		return 0
	}
	return len(m.buf) - m.off - m.n
}

// Reserve moves the start of an empty mbuf n bytes in, leaving headroom
// for headers to be prepended later.
func (m *Mbuf) Reserve(n int) {
	if m.n != 0 || m.off+n > len(m.buf) || n < 0 {
		panic("mbuf.Reserve: mbuf not empty or reserve too large")
	}
	m.off += n
}

// SetLen sets this single mbuf's data length (for an mbuf being filled,
// e.g. by a driver) and the packet length to match. It must fit.
func (m *Mbuf) SetLen(n int) {
	if n < 0 || m.off+n > len(m.buf) {
		panic("mbuf.SetLen: length beyond buffer")
	}
	m.n = n
	if m.hdr {
		m.Pkt.Len = n
	}
}
