// Package vtnet drives the virtio network device (virtio 1.2 §5.1) over
// the modern PCI transport of drivers/virtio, as QEMU's virtio-net-pci
// offers it: features VIRTIO_NET_F_MAC (the address from the device
// configuration), VIRTIO_NET_F_STATUS (link state, updated on
// configuration-change interrupts) and VIRTIO_NET_F_MRG_RXBUF (frames
// spanning several receive buffers are merged), with VIRTIO_F_EVENT_IDX
// for notification suppression when offered, and VIRTIO_NET_F_CTRL_VQ with
// VIRTIO_NET_F_MQ: up to one receive/transmit queue pair per CPU, enabled
// by a command on the control queue (ctrl.go), and VIRTIO_NET_F_CTRL_RX:
// the receive filter (filter.go); interrupts are MSI-X with
// one vector per queue plus one for configuration changes, each an
// MPSAFE ithread, or
// INTx through the ISR when the function has no usable MSI-X (or the
// kernel command line says SMPGO_VTNET=intx). Checksum offload (CSUM,
// GUEST_CSUM) and TCP segmentation offload (HOST_TSO4) are negotiated
// when offered (a tap). It attaches to net/if as "vtnet".
//
// The header encoding (hdr.go) is plain logic tested on the host; the
// driver (vtnet.go) and its self-tests run on QEMU (harness -nic virtio).
package vtnet

import (
	"encoding/binary"
	"errors"

	"github.com/smpgo/smpgo/drivers/virtio"
)

// Feature bits (§5.1.3).
const (
	VIRTIO_NET_F_CSUM           = 0
	VIRTIO_NET_F_GUEST_CSUM     = 1
	VIRTIO_NET_F_MTU            = 3
	VIRTIO_NET_F_MAC            = 5
	VIRTIO_NET_F_GUEST_TSO4     = 7
	VIRTIO_NET_F_GUEST_TSO6     = 8
	VIRTIO_NET_F_GUEST_ECN      = 9
	VIRTIO_NET_F_GUEST_UFO      = 10
	VIRTIO_NET_F_HOST_TSO4      = 11
	VIRTIO_NET_F_HOST_TSO6      = 12
	VIRTIO_NET_F_HOST_ECN       = 13
	VIRTIO_NET_F_HOST_UFO       = 14
	VIRTIO_NET_F_MRG_RXBUF      = 15
	VIRTIO_NET_F_STATUS         = 16
	VIRTIO_NET_F_CTRL_VQ        = 17
	VIRTIO_NET_F_CTRL_RX        = 18
	VIRTIO_NET_F_CTRL_VLAN      = 19
	VIRTIO_NET_F_GUEST_ANNOUNCE = 21
	VIRTIO_NET_F_MQ             = 22
	VIRTIO_NET_F_CTRL_MAC_ADDR  = 23
)

// FeatureNames names the network feature bits for display.
var FeatureNames = map[int]string{
	VIRTIO_NET_F_CSUM: "CSUM", VIRTIO_NET_F_GUEST_CSUM: "GUEST_CSUM", VIRTIO_NET_F_MTU: "MTU",
	VIRTIO_NET_F_MAC: "MAC", VIRTIO_NET_F_GUEST_TSO4: "GUEST_TSO4", VIRTIO_NET_F_GUEST_TSO6: "GUEST_TSO6",
	VIRTIO_NET_F_GUEST_ECN: "GUEST_ECN", VIRTIO_NET_F_GUEST_UFO: "GUEST_UFO", VIRTIO_NET_F_HOST_TSO4: "HOST_TSO4",
	VIRTIO_NET_F_HOST_TSO6: "HOST_TSO6", VIRTIO_NET_F_HOST_ECN: "HOST_ECN", VIRTIO_NET_F_HOST_UFO: "HOST_UFO",
	VIRTIO_NET_F_MRG_RXBUF: "MRG_RXBUF", VIRTIO_NET_F_STATUS: "STATUS", VIRTIO_NET_F_CTRL_VQ: "CTRL_VQ",
	VIRTIO_NET_F_CTRL_RX: "CTRL_RX", VIRTIO_NET_F_CTRL_VLAN: "CTRL_VLAN", VIRTIO_NET_F_GUEST_ANNOUNCE: "GUEST_ANNOUNCE",
	VIRTIO_NET_F_MQ: "MQ", VIRTIO_NET_F_CTRL_MAC_ADDR: "CTRL_MAC_ADDR",
}

// Supported is what the driver accepts when offered. HOST_TSO4 requires
// CSUM (§5.1.3.1), which a device offering it offers too.
const Supported = virtio.Features(1<<VIRTIO_NET_F_MAC | 1<<VIRTIO_NET_F_STATUS | 1<<VIRTIO_NET_F_MRG_RXBUF |
	1<<VIRTIO_NET_F_CTRL_VQ | 1<<VIRTIO_NET_F_MQ | 1<<VIRTIO_NET_F_CSUM | 1<<VIRTIO_NET_F_GUEST_CSUM |
	1<<VIRTIO_NET_F_HOST_TSO4 | 1<<VIRTIO_NET_F_CTRL_RX |
	1<<virtio.F_EVENT_IDX | 1<<virtio.F_VERSION_1)

// Device configuration layout (§5.1.4).
const (
	CFG_MAC                 = 0 // mac[6]
	CFG_STATUS              = 6 // le16, with VIRTIO_NET_F_STATUS
	CFG_MAX_VIRTQUEUE_PAIRS = 8 // le16, with VIRTIO_NET_F_MQ
	CFG_MTU                 = 10

	VIRTIO_NET_S_LINK_UP  = 1
	VIRTIO_NET_S_ANNOUNCE = 2
)

// Queues of a single-pair device (§5.1.2).
const (
	RX_QUEUE = 0 // receiveq1
	TX_QUEUE = 1 // transmitq1
)

// struct virtio_net_hdr (§5.1.6): with VIRTIO_F_VERSION_1 it always has
// num_buffers, 12 bytes.
const (
	HDR_LEN = 12

	VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
	VIRTIO_NET_HDR_F_DATA_VALID = 2
	VIRTIO_NET_HDR_GSO_NONE     = 0
	VIRTIO_NET_HDR_GSO_TCPV4    = 1
)

// Hdr is a decoded virtio_net_hdr.
type Hdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
	NumBuffers uint16
}

// PutHdr encodes h into b[:HDR_LEN].
func PutHdr(b []byte, h Hdr) {
	le := binary.LittleEndian
	b[0], b[1] = h.Flags, h.GSOType
	le.PutUint16(b[2:], h.HdrLen)
	le.PutUint16(b[4:], h.GSOSize)
	le.PutUint16(b[6:], h.CsumStart)
	le.PutUint16(b[8:], h.CsumOffset)
	le.PutUint16(b[10:], h.NumBuffers)
}

// TSOHdr is the header of a TCP segmentation request (§5.1.6.2, with
// VIRTIO_NET_F_HOST_TSO4): frame f starts with its Ethernet, IPv4 and
// TCP headers (the rest need not be in f), the TCP checksum field holds
// the pseudo-header's sum over the whole TCP length (as a Linux guest
// leaves it: the host's segmentation adjusts it for each segment), and
// mss is the payload of each segment. NEEDS_CSUM with csum_start and
// csum_offset at the TCP checksum, gso_type TCPV4, hdr_len the three
// headers' length, gso_size the MSS.
func TSOHdr(f []byte, mss uint16) (Hdr, error) {
	if len(f) < 14+20 || f[12] != 0x08 || f[13] != 0x00 || f[14]>>4 != 4 {
		return Hdr{}, errors.New("vtnet: TSO frame is not IPv4")
	}
	ihl := int(f[14]&0xf) * 4
	if ihl < 20 || len(f) < 14+ihl+20 || f[14+9] != 6 {
		return Hdr{}, errors.New("vtnet: TSO frame is not TCP")
	}
	thl := int(f[14+ihl+12]>>4) * 4
	if thl < 20 || mss == 0 {
		return Hdr{}, errors.New("vtnet: TSO frame with a bad TCP header or no MSS")
	}
	return Hdr{Flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, GSOType: VIRTIO_NET_HDR_GSO_TCPV4, HdrLen: uint16(14 + ihl + thl),
		GSOSize: mss, CsumStart: uint16(14 + ihl), CsumOffset: 16}, nil
}

// GetHdr decodes b[:HDR_LEN].
func GetHdr(b []byte) Hdr {
	le := binary.LittleEndian
	return Hdr{Flags: b[0], GSOType: b[1], HdrLen: le.Uint16(b[2:]), GSOSize: le.Uint16(b[4:]),
		CsumStart: le.Uint16(b[6:]), CsumOffset: le.Uint16(b[8:]), NumBuffers: le.Uint16(b[10:])}
}

// Merger assembles a received frame from one or more buffers
// (§5.1.6.4: with VIRTIO_NET_F_MRG_RXBUF the first buffer's header says
// how many used buffers the frame spans; without it, always one). It
// rejects what a correct device never sends: a first buffer shorter than
// the header, num_buffers 0 or larger than the ring, a frame longer than
// max, a GSO frame that was not negotiated.
type Merger struct {
	Mergeable bool
	Max       int // largest frame accepted (without the header)
	RingSize  int

	buf       []byte
	hdr       Hdr // the frame's header (its first buffer's)
	remaining int
	bad       bool
	why       string
}

// Frame outcomes of Merger.Add.
const (
	MergeMore = iota // more buffers belong to this frame
	MergeDone        // Frame() holds a complete frame
	MergeBad         // the frame is malformed (Why says how): drop it
)

// Add feeds one used buffer's bytes (header included for a first one)
// and reports where the frame stands.
func (m *Merger) Add(b []byte) int {
	if m.remaining == 0 {
		m.buf, m.bad, m.why = m.buf[:0], false, ""
		if len(b) < HDR_LEN {
			m.why = "buffer shorter than the header"
			return MergeBad
		}
		h := GetHdr(b)
		m.hdr = h
		n := 1
		if m.Mergeable {
			n = int(h.NumBuffers)
		}
		switch {
		case n == 0 || n > m.RingSize:
			m.why = "num_buffers out of range"
			return MergeBad
		case h.GSOType != VIRTIO_NET_HDR_GSO_NONE:
			m.bad, m.why = true, "GSO frame without GUEST_TSO"
		}
		m.remaining = n
		b = b[HDR_LEN:]
	}
	m.remaining--
	if !m.bad {
		if len(m.buf)+len(b) > m.Max {
			m.bad, m.why = true, "frame longer than the MTU allows"
		} else {
			m.buf = append(m.buf, b...)
		}
	}
	switch {
	case m.remaining > 0:
		return MergeMore
	case m.bad:
		return MergeBad
	case len(m.buf) < 14:
		m.why = "frame shorter than an Ethernet header"
		return MergeBad
	}
	return MergeDone
}

// Frame returns the assembled frame (valid until the next Add).
func (m *Merger) Frame() []byte { return m.buf }

// Hdr returns the header of the frame Frame holds.
func (m *Merger) Hdr() Hdr { return m.hdr }

// Why says what was wrong with the last bad frame.
func (m *Merger) Why() string { return m.why }

// Abort forgets a partly assembled frame (after a ring reset).
func (m *Merger) Abort() { m.remaining, m.buf = 0, m.buf[:0] }
