package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	netif "github.com/smpgo/smpgo/net/if"
)

// Addr is an IPv4 address in network byte order.
type Addr [4]byte

// Well-known addresses.
var (
	AddrAny       = Addr{}
	AddrBroadcast = Addr{255, 255, 255, 255}
)

// AddrFrom32 converts a host-order integer.
func AddrFrom32(v uint32) Addr {
	var a Addr
	binary.BigEndian.PutUint32(a[:], v)
	return a
}

// ParseAddr parses dotted-quad notation.
func ParseAddr(s string) (Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is4() {
		return Addr{}, fmt.Errorf("wire: bad IPv4 address %q", s)
	}
	return ip.As4(), nil
}

// MustAddr parses a constant address and panics on error (for tables and tests).
func MustAddr(s string) Addr {
	a, err := ParseAddr(s)
	if err != nil {
		panic(err)
	}
	return a
}

// Uint32 returns the address as a host-order integer.
func (a Addr) Uint32() uint32 { return binary.BigEndian.Uint32(a[:]) }

// Netip converts to netip.Addr.
func (a Addr) Netip() netip.Addr { return netip.AddrFrom4(a) }

func (a Addr) String() string { return fmt.Sprintf("%d.%d.%d.%d", a[0], a[1], a[2], a[3]) }

// IsUnspecified reports 0.0.0.0.
func (a Addr) IsUnspecified() bool { return a == AddrAny }

// IsBroadcast reports the limited broadcast 255.255.255.255.
func (a Addr) IsBroadcast() bool { return a == AddrBroadcast }

// IsMulticast reports class D (224.0.0.0/4).
func (a Addr) IsMulticast() bool { return a[0]&0xf0 == 0xe0 }

// IsLoopback reports 127.0.0.0/8.
func (a Addr) IsLoopback() bool { return a[0] == 127 }

// Mask returns a with prefix bits kept.
func (a Addr) Mask(bits int) Addr { return AddrFrom32(a.Uint32() & PrefixMask(bits)) }

// PrefixMask returns the host-order netmask of a prefix length.
func PrefixMask(bits int) uint32 {
	if bits <= 0 {
		return 0
	}
	if bits >= 32 {
		return 0xffffffff
	}
	return ^uint32(0) << (32 - bits)
}

// Parse errors. Each names one reason a header is rejected; the stack
// counts drops per reason.
var (
	ErrTruncated   = errors.New("truncated header")
	ErrVersion     = errors.New("bad IP version")
	ErrHeaderLen   = errors.New("bad header length")
	ErrTotalLen    = errors.New("bad total length")
	ErrChecksum    = errors.New("bad checksum")
	ErrOptions     = errors.New("IP options present")
	ErrARPFormat   = errors.New("unsupported ARP hardware or protocol")
	ErrOptionBad   = errors.New("malformed TCP option")
	ErrBadAddr     = errors.New("bad address")
	ErrUDPLength   = errors.New("bad UDP length")
	ErrTCPDataOff  = errors.New("bad TCP data offset")
	ErrFragment    = errors.New("bad fragment")
	ErrUnsupported = errors.New("unsupported")
)

// ---- Ethernet II (IEEE 802.3 clause 3.2.6, EtherType framing) ----

// Ethernet framing constants.
const (
	EtherHdrLen    = 14
	EtherMinLen    = 60 // without FCS
	ETHERTYPE_IP   = 0x0800
	ETHERTYPE_ARP  = 0x0806
	ETHERTYPE_VLAN = 0x8100
)

// Ether is an Ethernet II header.
type Ether struct {
	Dst, Src netif.HWAddr
	Type     uint16
}

// ParseEther decodes an Ethernet header.
func ParseEther(b []byte) (Ether, error) {
	if len(b) < EtherHdrLen {
		return Ether{}, ErrTruncated
	}
	var e Ether
	copy(e.Dst[:], b[0:6])
	copy(e.Src[:], b[6:12])
	e.Type = binary.BigEndian.Uint16(b[12:14])
	return e, nil
}

// Put encodes the header into b[:EtherHdrLen].
func (e *Ether) Put(b []byte) {
	copy(b[0:6], e.Dst[:])
	copy(b[6:12], e.Src[:])
	binary.BigEndian.PutUint16(b[12:14], e.Type)
}

// ---- ARP (RFC 826) for Ethernet and IPv4 ----

// ARP constants.
const (
	ARPLen             = 28
	ARPHRD_ETHER       = 1
	ARPOP_REQUEST      = 1
	ARPOP_REPLY        = 2
	arpProtoIP         = ETHERTYPE_IP
	arpHwLen, arpPrLen = 6, 4
)

// ARP is an Ethernet/IPv4 ARP packet.
type ARP struct {
	Op       uint16
	SHA, THA netif.HWAddr
	SPA, TPA Addr
}

// ParseARP decodes an ARP packet, accepting only Ethernet/IPv4.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < ARPLen {
		return ARP{}, ErrTruncated
	}
	if binary.BigEndian.Uint16(b[0:2]) != ARPHRD_ETHER || binary.BigEndian.Uint16(b[2:4]) != arpProtoIP ||
		b[4] != arpHwLen || b[5] != arpPrLen {
		return ARP{}, ErrARPFormat
	}
	var a ARP
	a.Op = binary.BigEndian.Uint16(b[6:8])
	copy(a.SHA[:], b[8:14])
	copy(a.SPA[:], b[14:18])
	copy(a.THA[:], b[18:24])
	copy(a.TPA[:], b[24:28])
	return a, nil
}

// Put encodes the packet into b[:ARPLen].
func (a *ARP) Put(b []byte) {
	binary.BigEndian.PutUint16(b[0:2], ARPHRD_ETHER)
	binary.BigEndian.PutUint16(b[2:4], arpProtoIP)
	b[4], b[5] = arpHwLen, arpPrLen
	binary.BigEndian.PutUint16(b[6:8], a.Op)
	copy(b[8:14], a.SHA[:])
	copy(b[14:18], a.SPA[:])
	copy(b[18:24], a.THA[:])
	copy(b[24:28], a.TPA[:])
}

// ---- IPv4 (RFC 791 §3.1) ----

// IPv4 constants.
const (
	IPv4HdrLen    = 20
	IPv4MaxHdrLen = 60
	IP_DF         = 0x4000 // don't fragment
	IP_MF         = 0x2000 // more fragments
	IP_OFFMASK    = 0x1fff // fragment offset in 8-byte units
	IPPROTO_ICMP  = 1
	IPPROTO_TCP   = 6
	IPPROTO_UDP   = 17
	IPDefTTL      = 64
)

// IPv4 is a decoded IPv4 header.
type IPv4 struct {
	HdrLen   int // bytes, 20..60
	TOS      uint8
	TotalLen int
	ID       uint16
	Frag     uint16 // flags and offset, as on the wire
	TTL      uint8
	Proto    uint8
	Csum     uint16
	Src, Dst Addr
}

// FragOff returns the fragment offset in bytes.
func (h *IPv4) FragOff() int { return int(h.Frag&IP_OFFMASK) * 8 }

// MoreFrags reports the MF flag.
func (h *IPv4) MoreFrags() bool { return h.Frag&IP_MF != 0 }

// IsFragment reports whether the packet is a fragment.
func (h *IPv4) IsFragment() bool { return h.Frag&(IP_MF|IP_OFFMASK) != 0 }

// ParseIPv4 decodes and validates the IPv4 header at the start of b (which
// must hold the whole header, options included, when it has any); pktLen is
// the number of bytes the link delivered. It checks the version, header and
// total lengths, and the header checksum unless csumOK says a device already
// did. Options are accepted by the parser (HdrLen > 20); the stack decides
// what to do with them.
func ParseIPv4(b []byte, pktLen int, csumOK bool) (IPv4, error) {
	if len(b) < IPv4HdrLen {
		return IPv4{}, ErrTruncated
	}
	if b[0]>>4 != 4 {
		return IPv4{}, ErrVersion
	}
	var h IPv4
	h.HdrLen = int(b[0]&0xf) * 4
	if h.HdrLen < IPv4HdrLen || h.HdrLen > len(b) || h.HdrLen > pktLen {
		return IPv4{}, ErrHeaderLen
	}
	h.TOS = b[1]
	h.TotalLen = int(binary.BigEndian.Uint16(b[2:4]))
	if h.TotalLen < h.HdrLen || h.TotalLen > pktLen {
		return IPv4{}, ErrTotalLen
	}
	h.ID = binary.BigEndian.Uint16(b[4:6])
	h.Frag = binary.BigEndian.Uint16(b[6:8])
	h.TTL = b[8]
	h.Proto = b[9]
	h.Csum = binary.BigEndian.Uint16(b[10:12])
	copy(h.Src[:], b[12:16])
	copy(h.Dst[:], b[16:20])
	if !csumOK && Checksum(b[:h.HdrLen]) != 0 {
		return IPv4{}, ErrChecksum
	}
	return h, nil
}

// Put encodes an option-less header into b[:20], computing the checksum.
func (h *IPv4) Put(b []byte) {
	b[0] = 4<<4 | 5
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[2:4], uint16(h.TotalLen))
	binary.BigEndian.PutUint16(b[4:6], h.ID)
	binary.BigEndian.PutUint16(b[6:8], h.Frag)
	b[8] = h.TTL
	b[9] = h.Proto
	b[10], b[11] = 0, 0
	copy(b[12:16], h.Src[:])
	copy(b[16:20], h.Dst[:])
	binary.BigEndian.PutUint16(b[10:12], Checksum(b[:20]))
}

// ---- ICMP (RFC 792) ----

// ICMP types and codes used by the stack.
const (
	ICMPHdrLen               = 8
	ICMP_ECHOREPLY           = 0
	ICMP_UNREACH             = 3
	ICMP_ECHO                = 8
	ICMP_TIMXCEED            = 11
	ICMP_PARAMPROB           = 12
	ICMP_UNREACH_NET         = 0
	ICMP_UNREACH_HOST        = 1
	ICMP_UNREACH_PROTOCOL    = 2
	ICMP_UNREACH_PORT        = 3
	ICMP_UNREACH_NEEDFRAG    = 4
	ICMP_TIMXCEED_INTRANS    = 0
	ICMP_TIMXCEED_REASS      = 1
	ICMP_PARAMPROB_OPTABSENT = 1
)

// ICMP is an ICMP header; Rest holds bytes 4..7 (identifier and sequence
// for echo, next-hop MTU for "fragmentation needed").
type ICMP struct {
	Type, Code uint8
	Csum       uint16
	Rest       [4]byte
}

// ParseICMP decodes an ICMP message and verifies its checksum over all of b.
func ParseICMP(b []byte) (ICMP, error) {
	if len(b) < ICMPHdrLen {
		return ICMP{}, ErrTruncated
	}
	if Checksum(b) != 0 {
		return ICMP{}, ErrChecksum
	}
	var h ICMP
	h.Type, h.Code = b[0], b[1]
	h.Csum = binary.BigEndian.Uint16(b[2:4])
	copy(h.Rest[:], b[4:8])
	return h, nil
}

// Put encodes the header into b[:8] with a zero checksum; the caller sums
// the whole message and stores it at b[2:4].
func (h *ICMP) Put(b []byte) {
	b[0], b[1] = h.Type, h.Code
	b[2], b[3] = 0, 0
	copy(b[4:8], h.Rest[:])
}

// ---- UDP (RFC 768) ----

// UDPHdrLen is the UDP header size.
const UDPHdrLen = 8

// UDP is a UDP header.
type UDP struct {
	SrcPort, DstPort uint16
	Length           int
	Csum             uint16
}

// ParseUDP decodes a UDP header; ipLen is the IP payload length, which the
// UDP length must not exceed (trailing bytes beyond Length are ignored).
func ParseUDP(b []byte, ipLen int) (UDP, error) {
	if len(b) < UDPHdrLen {
		return UDP{}, ErrTruncated
	}
	u := UDP{
		SrcPort: binary.BigEndian.Uint16(b[0:2]),
		DstPort: binary.BigEndian.Uint16(b[2:4]),
		Length:  int(binary.BigEndian.Uint16(b[4:6])),
		Csum:    binary.BigEndian.Uint16(b[6:8]),
	}
	if u.Length < UDPHdrLen || u.Length > ipLen {
		return UDP{}, ErrUDPLength
	}
	return u, nil
}

// Put encodes the header into b[:8] with the given checksum.
func (u *UDP) Put(b []byte) {
	binary.BigEndian.PutUint16(b[0:2], u.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], u.DstPort)
	binary.BigEndian.PutUint16(b[4:6], uint16(u.Length))
	binary.BigEndian.PutUint16(b[6:8], u.Csum)
}
