package inet

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"time"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/wire"
)

// DHCP client (RFC 2131 §3.1, options RFC 2132): DISCOVER, OFFER,
// REQUEST, ACK from the unconfigured interface with broadcasts, then the
// address, its connected route and the default gateway are installed.

// DHCP message constants.
const (
	dhcpServerPort = 67
	dhcpClientPort = 68
	dhcpFixedLen   = 236
	dhcpMagic      = 0x63825363
	bootRequest    = 1
	bootReply      = 2

	DHCPDISCOVER = 1
	DHCPOFFER    = 2
	DHCPREQUEST  = 3
	DHCPDECLINE  = 4
	DHCPACK      = 5
	DHCPNAK      = 6

	optPad        = 0
	optSubnetMask = 1
	optRouter     = 3
	optDNS        = 6
	optRequested  = 50
	optLeaseTime  = 51
	optMsgType    = 53
	optServerID   = 54
	optParamList  = 55
	optEnd        = 255
)

// ErrDHCP reports a malformed or unusable DHCP exchange.
var ErrDHCP = errors.New("inet: DHCP failed")

// DHCPMsg is a decoded DHCP message (the fields the client uses).
type DHCPMsg struct {
	Op       uint8
	XID      uint32
	Flags    uint16
	CIAddr   Addr
	YIAddr   Addr
	CHAddr   netif.HWAddr
	Type     uint8
	Mask     Addr
	HasMask  bool
	Router   Addr
	DNS      []Addr
	ServerID Addr
	Lease    time.Duration
	Request  Addr
}

// ParseDHCP decodes a DHCP message from untrusted bytes.
func ParseDHCP(b []byte) (DHCPMsg, error) {
	var d DHCPMsg
	if len(b) < dhcpFixedLen+4 || b[1] != 1 || b[2] != 6 {
		return d, ErrDHCP
	}
	d.Op = b[0]
	d.XID = binary.BigEndian.Uint32(b[4:8])
	d.Flags = binary.BigEndian.Uint16(b[10:12])
	copy(d.CIAddr[:], b[12:16])
	copy(d.YIAddr[:], b[16:20])
	copy(d.CHAddr[:], b[28:34])
	if binary.BigEndian.Uint32(b[dhcpFixedLen:]) != dhcpMagic {
		return d, ErrDHCP
	}
	o := b[dhcpFixedLen+4:]
	for len(o) > 0 {
		code := o[0]
		if code == optEnd {
			break
		}
		if code == optPad {
			o = o[1:]
			continue
		}
		if len(o) < 2 || len(o) < 2+int(o[1]) {
			return d, ErrDHCP
		}
		v := o[2 : 2+int(o[1])]
		o = o[2+int(o[1]):]
		switch code {
		case optMsgType:
			if len(v) == 1 {
				d.Type = v[0]
			}
		case optSubnetMask:
			if len(v) == 4 {
				copy(d.Mask[:], v)
				d.HasMask = true
			}
		case optRouter:
			if len(v) >= 4 {
				copy(d.Router[:], v)
			}
		case optDNS:
			for ; len(v) >= 4; v = v[4:] {
				d.DNS = append(d.DNS, Addr(v[:4]))
			}
		case optServerID:
			if len(v) == 4 {
				copy(d.ServerID[:], v)
			}
		case optLeaseTime:
			if len(v) == 4 {
				d.Lease = time.Duration(binary.BigEndian.Uint32(v)) * time.Second
			}
		case optRequested:
			if len(v) == 4 {
				copy(d.Request[:], v)
			}
		}
	}
	if d.Type == 0 {
		return d, ErrDHCP
	}
	return d, nil
}

// Marshal encodes the message with the options the client and the test
// server use.
func (d *DHCPMsg) Marshal() []byte {
	b := make([]byte, dhcpFixedLen+4, 300)
	b[0], b[1], b[2] = d.Op, 1, 6
	binary.BigEndian.PutUint32(b[4:8], d.XID)
	binary.BigEndian.PutUint16(b[10:12], d.Flags)
	copy(b[12:16], d.CIAddr[:])
	copy(b[16:20], d.YIAddr[:])
	copy(b[28:34], d.CHAddr[:])
	binary.BigEndian.PutUint32(b[dhcpFixedLen:], dhcpMagic)
	b = append(b, optMsgType, 1, d.Type)
	addr := func(code uint8, a Addr) {
		if !a.IsUnspecified() {
			b = append(b, code, 4, a[0], a[1], a[2], a[3])
		}
	}
	if d.HasMask {
		addr(optSubnetMask, d.Mask)
	}
	addr(optRouter, d.Router)
	addr(optServerID, d.ServerID)
	addr(optRequested, d.Request)
	if len(d.DNS) > 0 {
		b = append(b, optDNS, byte(4*len(d.DNS)))
		for _, a := range d.DNS {
			b = append(b, a[:]...)
		}
	}
	if d.Lease > 0 {
		b = append(b, optLeaseTime, 4)
		b = binary.BigEndian.AppendUint32(b, uint32(d.Lease/time.Second))
	}
	if d.Op == bootRequest {
		b = append(b, optParamList, 3, optSubnetMask, optRouter, optDNS)
	}
	b = append(b, optEnd)
	for len(b) < 300 {
		b = append(b, 0) // BOOTP minimum size (RFC 1542 §2.1)
	}
	return b
}

// Lease is an address obtained by DHCP.
type Lease struct {
	Addr     Addr
	Prefix   int
	Router   Addr
	DNS      []Addr
	Server   Addr
	Duration time.Duration
}

// DHCP obtains a lease for ifp and configures it: address, connected
// route, default gateway. It retries with exponential backoff (RFC 2131
// §4.1) until ctx ends.
func (st *Stack) DHCP(ctx context.Context, ifp *netif.Interface) (Lease, error) {
	c, err := st.ListenUDPOn(ifp, dhcpClientPort)
	if err != nil {
		return Lease{}, err
	}
	defer c.Close()
	bcast := netip.AddrPortFrom(wire.AddrBroadcast.Netip(), dhcpServerPort)
	wait := time.Second
	for {
		xid := st.rand32()
		disc := DHCPMsg{Op: bootRequest, XID: xid, Flags: 0x8000, CHAddr: ifp.MAC(), Type: DHCPDISCOVER}
		offer, err := st.dhcpExchange(ctx, c, bcast, &disc, wait, DHCPOFFER)
		if err == nil {
			req := DHCPMsg{Op: bootRequest, XID: xid, Flags: 0x8000, CHAddr: ifp.MAC(), Type: DHCPREQUEST,
				Request: offer.YIAddr, ServerID: offer.ServerID}
			var ack DHCPMsg
			ack, err = st.dhcpExchange(ctx, c, bcast, &req, wait, DHCPACK)
			if err == nil {
				return st.dhcpApply(ifp, &ack)
			}
		}
		if ctx.Err() != nil {
			return Lease{}, ctx.Err()
		}
		wait = min(wait*2, 16*time.Second)
	}
}

// dhcpExchange sends msg and waits up to wait for a reply of type want
// with the same transaction id.
func (st *Stack) dhcpExchange(ctx context.Context, c *UDPConn, to netip.AddrPort, msg *DHCPMsg, wait time.Duration, want uint8) (DHCPMsg, error) {
	if _, err := c.WriteToAddrPort(msg.Marshal(), to); err != nil {
		return DHCPMsg{}, err
	}
	end := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(end) {
		end = d
	}
	_ = c.SetReadDeadline(end)
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFromAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return DHCPMsg{}, ErrDHCP
			}
			return DHCPMsg{}, err
		}
		r, err := ParseDHCP(buf[:n])
		if err != nil || r.Op != bootReply || r.XID != msg.XID || r.CHAddr != msg.CHAddr {
			continue
		}
		if r.Type == DHCPNAK {
			return DHCPMsg{}, ErrDHCP
		}
		if r.Type == want && !r.YIAddr.IsUnspecified() {
			return r, nil
		}
	}
}

func (st *Stack) dhcpApply(ifp *netif.Interface, ack *DHCPMsg) (Lease, error) {
	l := Lease{Addr: ack.YIAddr, Prefix: 24, Router: ack.Router, DNS: ack.DNS, Server: ack.ServerID, Duration: ack.Lease}
	if ack.HasMask {
		m := ack.Mask.Uint32()
		l.Prefix = 0
		for m&0x80000000 != 0 {
			l.Prefix++
			m <<= 1
		}
	}
	if err := st.SetAddr(ifp, l.Addr, l.Prefix); err != nil {
		return l, err
	}
	if !l.Router.IsUnspecified() {
		if err := st.SetDefaultGateway(l.Router); err != nil {
			return l, err
		}
	}
	return l, nil
}
