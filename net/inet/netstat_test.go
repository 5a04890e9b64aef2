package inet

import (
	"net/netip"
	"testing"

	"github.com/smpgo/smpgo/net/memlink"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSocketsListing(t *testing.T) {
	a, b, _ := pair(t, Config{Seed: 90, TCP: fastTCP()}, memlink.Config{})
	l, err := b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:7"), 0)
	require.NoError(t, err)
	defer l.Close()
	u, err := b.ListenUDP(netip.MustParseAddrPort("0.0.0.0:7"))
	require.NoError(t, err)
	defer u.Close()
	c, err := a.DialTCP(ctx5(t), netip.AddrPortFrom(addrB.Netip(), 7))
	require.NoError(t, err)
	s, err := l.AcceptTCP()
	require.NoError(t, err)
	_, err = c.Write([]byte("hello"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = s.Read(buf[:1]) // one byte read, four left queued
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, si := range b.Sockets() {
			if si.State == "ESTABLISHED" && si.RecvQ == 4 {
				return true
			}
		}
		return false
	}, 5e9, 1e6)

	got := b.Sockets()
	require.Len(t, got, 3)
	assert.Equal(t, SocketInfo{Proto: "tcp", Local: netip.MustParseAddrPort("0.0.0.0:7"), State: "LISTEN"}, got[0])
	assert.Equal(t, "tcp", got[1].Proto)
	assert.Equal(t, netip.AddrPortFrom(addrB.Netip(), 7), got[1].Local)
	assert.Equal(t, c.LocalAddr().String(), got[1].Remote.String())
	assert.Equal(t, SocketInfo{Proto: "udp", Local: netip.MustParseAddrPort("0.0.0.0:7")}, got[2])

	require.NoError(t, c.Close())
	require.NoError(t, s.Close())
	waitNoConns(t, a, b)
}
