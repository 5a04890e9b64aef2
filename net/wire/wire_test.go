package wire

import (
	"math/rand"
	"testing"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	assert.Equal(t, Sum(0x2ddf0), Sum(0).Add(b))
	assert.Equal(t, uint16(^uint16(0xddf2)), Checksum(b))
	// A buffer with its checksum in place sums to zero.
	hdr := []byte{0x45, 0, 0, 0x54, 0xab, 0xcd, 0x40, 0, 0x40, 1, 0, 0, 10, 0, 2, 15, 10, 0, 2, 2}
	c := Checksum(hdr)
	hdr[10], hdr[11] = byte(c>>8), byte(c)
	assert.Equal(t, uint16(0), Checksum(hdr))
}

func TestSumMbufMatchesFlat(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 300; i++ {
		n := rng.Intn(5000)
		b := make([]byte, n)
		rng.Read(b)
		// Build a ragged chain out of random pieces.
		m := mbuf.Get()
		rest := b
		for len(rest) > 0 {
			k := 1 + rng.Intn(len(rest))
			m.Cat(mbuf.FromBytes(rest[:k], 0))
			rest = rest[k:]
		}
		off := 0
		if n > 0 {
			off = rng.Intn(n)
		}
		l := n - off
		assert.Equal(t, Checksum(b[off:]), SumMbuf(0, m, off, l).Fold(), "n=%d off=%d", n, off)
		m.FreeChain()
	}
}

func TestIPv4RoundTripAndErrors(t *testing.T) {
	h := IPv4{TotalLen: 28, ID: 7, Frag: IP_DF, TTL: 64, Proto: IPPROTO_UDP,
		Src: MustAddr("10.0.2.15"), Dst: MustAddr("10.0.2.2")}
	b := make([]byte, 28)
	h.Put(b)
	g, err := ParseIPv4(b, len(b), false)
	require.NoError(t, err)
	assert.Equal(t, 20, g.HdrLen)
	assert.Equal(t, h.Src, g.Src)
	assert.Equal(t, h.Dst, g.Dst)
	assert.Equal(t, uint16(IP_DF), g.Frag)
	assert.False(t, g.IsFragment())

	_, err = ParseIPv4(b[:19], len(b[:19]), false)
	assert.ErrorIs(t, err, ErrTruncated)
	bad := append([]byte(nil), b...)
	bad[0] = 0x65
	_, err = ParseIPv4(bad, len(bad), false)
	assert.ErrorIs(t, err, ErrVersion)
	bad[0] = 0x44
	_, err = ParseIPv4(bad, len(bad), false)
	assert.ErrorIs(t, err, ErrHeaderLen)
	bad = append([]byte(nil), b...)
	bad[3] = 200
	_, err = ParseIPv4(bad, len(bad), false)
	assert.ErrorIs(t, err, ErrTotalLen)
	bad = append([]byte(nil), b...)
	bad[8]--
	_, err = ParseIPv4(bad, len(bad), false)
	assert.ErrorIs(t, err, ErrChecksum)
	_, err = ParseIPv4(bad, len(bad), true)
	assert.NoError(t, err, "offloaded checksum is trusted")
}

func TestARPRoundTrip(t *testing.T) {
	a := ARP{Op: ARPOP_REQUEST, SHA: netif.HWAddr{2, 0, 0, 0, 0, 1}, SPA: MustAddr("10.0.2.15"), TPA: MustAddr("10.0.2.2")}
	b := make([]byte, ARPLen)
	a.Put(b)
	g, err := ParseARP(b)
	require.NoError(t, err)
	assert.Equal(t, a, g)
	b[5] = 16
	_, err = ParseARP(b)
	assert.ErrorIs(t, err, ErrARPFormat)
	_, err = ParseARP(b[:27])
	assert.ErrorIs(t, err, ErrTruncated)
}

func TestTCPRoundTripWithOptions(t *testing.T) {
	h := TCP{SrcPort: 1234, DstPort: 80, Seq: 0xdeadbeef, Ack: 5, Flags: TH_SYN | TH_ACK, Window: 65535,
		Opts: TCPOptions{MSS: 1460, WScale: 7, SACKPerm: true, TS: true, TSVal: 11, TSEcr: 22}}
	b := make([]byte, TCPHdrLen+h.Opts.OptionsLen())
	assert.Equal(t, 44, h.Put(b))
	g, err := ParseTCP(b)
	require.NoError(t, err)
	assert.Equal(t, h, g)

	// No options: WScale absent.
	h2 := TCP{SrcPort: 1, DstPort: 2, Flags: TH_ACK, Opts: TCPOptions{WScale: -1}}
	b2 := make([]byte, 20)
	h2.Put(b2)
	g2, err := ParseTCP(b2)
	require.NoError(t, err)
	assert.Equal(t, int8(-1), g2.Opts.WScale)

	// Option length running past the header.
	b[20], b[21] = TCPOPT_MAXSEG, 30
	_, err = ParseTCP(b)
	assert.ErrorIs(t, err, ErrOptionBad)
	b[21] = 0
	_, err = ParseTCP(b)
	assert.ErrorIs(t, err, ErrOptionBad)
	b[12] = 0x40
	_, err = ParseTCP(b)
	assert.ErrorIs(t, err, ErrTCPDataOff)
	// Oversized window shift is clamped to 14.
	h.Opts.WScale = 14
	h.Put(b)
	b[27] = 200
	g, err = ParseTCP(b)
	require.NoError(t, err)
	assert.Equal(t, int8(14), g.Opts.WScale)
}

func TestUDPAndICMP(t *testing.T) {
	u := UDP{SrcPort: 68, DstPort: 67, Length: 12}
	b := make([]byte, 12)
	u.Put(b)
	g, err := ParseUDP(b, 12)
	require.NoError(t, err)
	assert.Equal(t, u, g)
	_, err = ParseUDP(b, 10)
	assert.ErrorIs(t, err, ErrUDPLength)

	ic := ICMP{Type: ICMP_ECHO, Rest: [4]byte{0, 1, 0, 2}}
	msg := make([]byte, 16)
	ic.Put(msg)
	c := Checksum(msg)
	msg[2], msg[3] = byte(c>>8), byte(c)
	gi, err := ParseICMP(msg)
	require.NoError(t, err)
	assert.Equal(t, uint8(ICMP_ECHO), gi.Type)
	msg[9] ^= 1
	_, err = ParseICMP(msg)
	assert.ErrorIs(t, err, ErrChecksum)
}
