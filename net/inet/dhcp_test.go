package inet

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/smpgo/smpgo/net/memlink"
	"github.com/smpgo/smpgo/net/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDHCPServer answers DISCOVER with an OFFER and REQUEST with an ACK
// for 10.0.0.15/24, router and server 10.0.0.2, like QEMU's slirp. It
// ignores the first ignore requests (to exercise retransmission).
func fakeDHCPServer(t *testing.T, st *Stack, ignore int) {
	c, err := st.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), dhcpServerPort))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := c.ReadFromAddrPort(buf)
			if err != nil {
				return
			}
			req, err := ParseDHCP(buf[:n])
			if err != nil || req.Op != bootRequest {
				continue
			}
			if ignore > 0 {
				ignore--
				continue
			}
			rep := DHCPMsg{Op: bootReply, XID: req.XID, Flags: req.Flags, CHAddr: req.CHAddr,
				YIAddr: wire.MustAddr("10.0.0.15"), Mask: wire.MustAddr("255.255.255.0"), HasMask: true,
				Router: addrB, ServerID: addrB, DNS: []Addr{wire.MustAddr("10.0.0.3")}, Lease: 24 * time.Hour}
			switch req.Type {
			case DHCPDISCOVER:
				rep.Type = DHCPOFFER
			case DHCPREQUEST:
				if req.Request != rep.YIAddr || req.ServerID != addrB {
					rep.Type = DHCPNAK
				} else {
					rep.Type = DHCPACK
				}
			default:
				continue
			}
			_, _ = c.WriteToAddrPort(rep.Marshal(), netip.AddrPortFrom(wire.AddrBroadcast.Netip(), dhcpClientPort))
		}
	}()
}

func TestDHCPAgainstFakeServer(t *testing.T) {
	checkLeaks(t)
	l, err := memlink.New(memlink.Config{})
	require.NoError(t, err)
	cl, err := New(Config{Seed: 20})
	require.NoError(t, err)
	sv, err := New(Config{Seed: 21})
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close(); sv.Close(); l.Close() })
	require.NoError(t, cl.AddInterface(l.A))
	require.NoError(t, sv.AddInterface(l.B))
	require.NoError(t, sv.SetAddr(l.B, addrB, 24))
	fakeDHCPServer(t, sv, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lease, err := cl.DHCP(ctx, l.A)
	require.NoError(t, err)
	assert.Equal(t, wire.MustAddr("10.0.0.15"), lease.Addr)
	assert.Equal(t, 24, lease.Prefix)
	assert.Equal(t, addrB, lease.Router)
	assert.Equal(t, 24*time.Hour, lease.Duration)
	assert.Equal(t, []Prefix{{wire.MustAddr("10.0.0.15"), 24}}, cl.Addrs(l.A))
	// The gateway works: ping something beyond it is routed to B (which
	// does not forward), and B itself answers.
	_, err = cl.Ping(ctx, addrB, 1, 8)
	require.NoError(t, err)
	src, err := cl.SourceFor(wire.MustAddr("1.2.3.4"))
	require.NoError(t, err)
	assert.Equal(t, lease.Addr, src)
}

func TestParseDHCPRejectsGarbage(t *testing.T) {
	m := DHCPMsg{Op: bootRequest, XID: 5, Type: DHCPDISCOVER}
	b := m.Marshal()
	g, err := ParseDHCP(b)
	require.NoError(t, err)
	assert.Equal(t, uint32(5), g.XID)
	_, err = ParseDHCP(b[:100])
	assert.ErrorIs(t, err, ErrDHCP)
	bad := append([]byte(nil), b...)
	bad[240+1] = 200 // option length past the end
	_, err = ParseDHCP(bad[:260])
	assert.ErrorIs(t, err, ErrDHCP)
}
