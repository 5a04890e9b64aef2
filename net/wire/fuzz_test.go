package wire

import (
	"testing"
)

// Fuzz targets for every parser: they must never panic, and what they
// accept must re-encode consistently. `go test` runs the seed corpus;
// `go test -fuzz FuzzParseTCP ./net/wire` explores further.

func FuzzParseIPv4(f *testing.F) {
	h := IPv4{TotalLen: 40, TTL: 64, Proto: IPPROTO_TCP, Src: MustAddr("10.0.2.15"), Dst: MustAddr("10.0.2.2")}
	b := make([]byte, 40)
	h.Put(b)
	f.Add(b)
	f.Add(b[:20])
	f.Add([]byte{0x4f, 0, 0, 60})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseIPv4(b, len(b), false)
		if err != nil {
			return
		}
		if g.HdrLen < 20 || g.HdrLen > len(b) || g.TotalLen < g.HdrLen || g.TotalLen > len(b) {
			t.Fatalf("accepted bad lengths: %+v for %d bytes", g, len(b))
		}
	})
}

func FuzzParseTCP(f *testing.F) {
	h := TCP{SrcPort: 1, DstPort: 2, Flags: TH_SYN, Opts: TCPOptions{MSS: 1460, WScale: 3, SACKPerm: true, TS: true}}
	b := make([]byte, TCPHdrLen+h.Opts.OptionsLen())
	h.Put(b)
	f.Add(b)
	f.Add([]byte{0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x60, 2, 0, 0, 0, 0, 0, 0, 2, 4, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseTCP(b)
		if err != nil {
			return
		}
		if g.DataOff < 20 || g.DataOff > len(b) {
			t.Fatalf("bad data offset accepted: %d of %d", g.DataOff, len(b))
		}
		// Re-encode what was understood and parse it back.
		out := make([]byte, TCPHdrLen+g.Opts.OptionsLen())
		g.Put(out)
		g2, err := ParseTCP(out)
		if err != nil {
			t.Fatalf("re-encoded header rejected: %v", err)
		}
		if g2.Opts != g.Opts || g2.Seq != g.Seq || g2.Flags != g.Flags {
			t.Fatalf("round trip changed the header: %+v vs %+v", g, g2)
		}
	})
}

func FuzzParseSmall(f *testing.F) {
	f.Add([]byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 2, 15, 0, 0, 0, 0, 0, 0, 10, 0, 2, 2})
	f.Add([]byte{0, 68, 0, 67, 0, 8, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseARP(b)
		_, _ = ParseUDP(b, len(b))
		_, _ = ParseICMP(b)
		_, _ = ParseEther(b)
	})
}
