package inet

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/memlink"
	"github.com/smpgo/smpgo/net/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A delayed checksum finished in software equals the checksum computed
// whole, for TCP and UDP, any length (odd ones too), and segments spread
// over several mbufs split at odd offsets.
func TestDelayedChecksumMatchesFullSum(t *testing.T) {
	checkLeaks(t)
	src, dst := wire.MustAddr("10.0.0.1"), wire.MustAddr("10.0.0.2")
	for _, proto := range []uint8{wire.IPPROTO_TCP, wire.IPPROTO_UDP} {
		for _, n := range []int{20, 21, 64, 513, 1460, 1480} {
			seg := randBytes(int64(n)+int64(proto), n)
			off := int(csumField[proto])
			seg[off], seg[off+1] = 0, 0
			want := wire.Pseudo(src, dst, proto, n).Add(seg).Fold()
			if want == 0 && proto == wire.IPPROTO_UDP {
				want = 0xffff
			}
			// Header in the first mbuf, the rest split at odd offsets.
			m := mbuf.FromBytes(seg[:off+3], 0)
			for p := off + 3; p < n; p += 333 {
				require.NoError(t, m.Append(seg[p:min(p+333, n)]))
			}
			delayCsum(m, src, dst, proto, n)
			assert.NotZero(t, m.Pkt.Csum&(mbuf.CSUM_TCP|mbuf.CSUM_UDP))
			assert.Equal(t, uint16(off), m.Pkt.CsumData)
			finishCsum(m)
			got := m.Linearize()
			assert.Equal(t, want, uint16(got[off])<<8|uint16(got[off+1]), "proto %d length %d", proto, n)
			assert.Zero(t, m.Pkt.Csum&(mbuf.CSUM_TCP|mbuf.CSUM_UDP), "finished: no longer asked of the device")
			assert.Zero(t, wire.Pseudo(src, dst, proto, n).Add(got).Fold(), "verifies")
			m.FreeChain()
		}
	}
}

// TCP and UDP between two stacks over a link that offloads checksums:
// the link completes every transport checksum on transmit and the
// receiver skips what the link verified; with offload turned off on
// both interfaces the stacks compute and verify again, and the same data
// goes through.
func TestChecksumOffloadOverLink(t *testing.T) {
	a, b, l := pair(t, Config{Seed: 61, TCP: fastTCP()}, memlink.Config{Offload: true})
	echoServer(t, b, 7)
	udpEcho(t, b, 7)
	run := func(seed int64) {
		c, err := a.DialTCP(ctx5(t), netip.AddrPortFrom(addrB.Netip(), 7))
		require.NoError(t, err)
		transfer(t, c, randBytes(seed, 512<<10))
		require.NoError(t, c.Close())
		u, err := a.DialUDP(netip.AddrPortFrom(addrB.Netip(), 7))
		require.NoError(t, err)
		defer u.Close()
		buf := make([]byte, 9000)
		for _, n := range []int{1, 2, 1471, 1472, 1473, 8000} { // 1473 and 8000 are fragmented
			msg := randBytes(seed+int64(n), n)
			_, err := u.Write(msg)
			require.NoError(t, err)
			require.NoError(t, u.SetReadDeadline(time.Now().Add(5*time.Second)))
			got, err := u.Read(buf)
			require.NoError(t, err, "size %d", n)
			assert.True(t, bytes.Equal(msg, buf[:got]), "size %d", n)
		}
	}
	run(1)
	ab, ba := l.Counters()
	t.Logf("offload on: A→B %+v B→A %+v", ab, ba)
	assert.Greater(t, ab.CsumInserted, uint64(100))
	assert.Greater(t, ba.CsumInserted, uint64(100))
	assert.Greater(t, ab.CsumGood, uint64(100))
	assert.Zero(t, ab.CsumBad+ba.CsumBad)
	assert.Zero(t, a.Stat(TCPDropChecksum)+b.Stat(TCPDropChecksum)+a.Stat(UDPDropChecksum)+b.Stat(UDPDropChecksum))

	for _, ifp := range []*netif.Interface{l.A, l.B} {
		assert.Equal(t, netif.IFCAP_RXCSUM|netif.IFCAP_TXCSUM, ifp.CapEnable())
		assert.Equal(t, netif.Caps(0), ifp.SetCapEnable(0))
	}
	run(2)
	ab2, ba2 := l.Counters()
	assert.Equal(t, ab.CsumInserted, ab2.CsumInserted, "offload off: nothing left to the link")
	assert.Equal(t, ba.CsumInserted, ba2.CsumInserted)
	assert.Equal(t, ab.CsumGood, ab2.CsumGood, "offload off: the link verifies nothing")
}

// Corrupted frames are still dropped and counted with offload on: the
// link's verification fails, so the stack checks and finds them bad.
func TestChecksumOffloadCorruptionCounted(t *testing.T) {
	f := memlink.Faults{Seed: 5, Corrupt: 0.02}
	a, b, l := pair(t, Config{Seed: 62, TCP: fastTCP()}, memlink.Config{Offload: true, Faults: f})
	echoServer(t, b, 7)
	var c *TCPConn
	var err error
	for i := 0; i < 5 && c == nil; i++ {
		c, err = a.DialTCP(ctx5(t), netip.AddrPortFrom(addrB.Netip(), 7))
	}
	require.NoError(t, err)
	transfer(t, c, randBytes(3, 1<<20))
	require.NoError(t, c.Close())
	ab, ba := l.Counters()
	drops := a.Stat(TCPDropChecksum) + b.Stat(TCPDropChecksum) + a.Stat(IPDropChecksum) + b.Stat(IPDropChecksum)
	t.Logf("A→B %+v B→A %+v; checksum drops %d", ab, ba, drops)
	assert.Greater(t, ab.CsumBad+ba.CsumBad, uint64(0))
	assert.Greater(t, drops, uint64(0))
	waitNoConns(t, a, b)
}
