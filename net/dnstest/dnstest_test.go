package dnstest

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var web = netip.MustParseAddr("10.0.2.100")

// resolverTo is Go's own resolver with every exchange sent to addr over
// network ("udp" or "tcp").
func resolverTo(network, addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

func sorted(a []string) []string { slices.Sort(a); return a }

func checkZone(t *testing.T, s *Server, r *net.Resolver) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := r.LookupHost(ctx, NameDual)
	require.NoError(t, err)
	require.Equal(t, []string{"192.0.2.10", "2001:db8::10"}, sorted(got))
	got, err = r.LookupHost(ctx, "MULTI.dns.test") // case-insensitive, no final dot
	require.NoError(t, err)
	require.Equal(t, []string{"192.0.2.21", "192.0.2.22", "192.0.2.23"}, sorted(got))
	ips, err := r.LookupIP(ctx, "ip4", NameV6Only)
	require.Error(t, err, "no A record: %v", ips)
	ips, err = r.LookupIP(ctx, "ip6", NameV6Only)
	require.NoError(t, err)
	require.Equal(t, "2001:db8::6", ips[0].String())
	ips, err = r.LookupIP(ctx, "ip4", NameWeb)
	require.NoError(t, err)
	require.Equal(t, []net.IP{net.IP(web.AsSlice())}, ips)

	_, err = r.LookupHost(ctx, NameAbsent)
	var de *net.DNSError
	require.True(t, errors.As(err, &de), "%v", err)
	require.True(t, de.IsNotFound, "%+v", de)
	require.Positive(t, s.NXDomain.Load())
	require.Positive(t, s.Seen(NameDual, TypeA))
	require.Positive(t, s.Seen("dual.dns.test", TypeAAAA))
	require.Zero(t, s.Bad.Load())
}

func TestGoResolverUDP(t *testing.T) {
	s := &Server{Names: TestZone(web)}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.ServeUDP(pc) }()
	checkZone(t, s, resolverTo("udp", pc.LocalAddr().String()))
	require.NoError(t, pc.Close())
	require.NoError(t, <-done)
}

func TestGoResolverTCP(t *testing.T) {
	s := &Server{Names: TestZone(web)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.ServeTCP(l, time.Minute) }()
	checkZone(t, s, resolverTo("tcp", l.Addr().String()))
	require.NoError(t, l.Close())
	require.NoError(t, <-done)
}

func TestSilentTimesOut(t *testing.T) {
	s := &Server{Names: TestZone(web), Silent: true}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	go func() { _ = s.ServeUDP(pc) }()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = resolverTo("udp", pc.LocalAddr().String()).LookupHost(ctx, NameDual)
	var de *net.DNSError
	require.True(t, errors.As(err, &de), "%v", err)
	require.True(t, de.IsTimeout, "%+v", de)
	require.Positive(t, s.Queries.Load())
}

// query builds a query for name and qtype.
func query(id uint16, name string, qtype uint16) []byte {
	q := binary.BigEndian.AppendUint16(nil, id)
	q = append(q, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0) // RD, one question
	for _, l := range splitLabels(name) {
		q = append(q, byte(len(l)))
		q = append(q, l...)
	}
	q = append(q, 0)
	q = binary.BigEndian.AppendUint16(q, qtype)
	return binary.BigEndian.AppendUint16(q, classIN)
}

func splitLabels(name string) []string {
	var out []string
	start := 0
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			if i > start {
				out = append(out, name[start:i])
			}
			start = i + 1
		}
	}
	if start < len(name) {
		out = append(out, name[start:])
	}
	return out
}

func TestAnswerWire(t *testing.T) {
	s := &Server{Names: TestZone(web)}
	r, ok := s.Answer(query(0x1234, NameMulti, TypeA))
	require.True(t, ok)
	require.Equal(t, []byte{0x12, 0x34}, r[:2])
	require.Equal(t, byte(0x85), r[2], "QR, AA, RD")
	require.Equal(t, byte(0x80), r[3], "RA, NOERROR")
	require.Equal(t, uint16(3), binary.BigEndian.Uint16(r[6:]))

	r, ok = s.Answer(query(7, NameAbsent, TypeA))
	require.True(t, ok)
	require.Equal(t, byte(RcodeNXDomain), r[3]&0xf)

	// Malformed: short, a response, a label running off the end, two
	// questions. A header that parses gets FORMERR, else nothing.
	_, ok = s.Answer([]byte{1, 2, 3})
	require.False(t, ok)
	resp := query(8, NameDual, TypeA)
	resp[2] |= 0x80
	_, ok = s.Answer(resp)
	require.False(t, ok)
	cut := query(9, NameDual, TypeA)
	r, ok = s.Answer(cut[:16])
	require.True(t, ok)
	require.Equal(t, byte(RcodeFormErr), r[3]&0xf)
	two := query(10, NameDual, TypeA)
	two[5] = 2
	r, ok = s.Answer(two)
	require.True(t, ok)
	require.Equal(t, byte(RcodeFormErr), r[3]&0xf)
	require.Equal(t, int64(4), s.Bad.Load())
}

func FuzzAnswer(f *testing.F) {
	f.Add(query(1, NameDual, TypeA))
	f.Add(query(2, "x.", TypeAAAA))
	f.Fuzz(func(t *testing.T, q []byte) {
		s := &Server{Names: TestZone(web)}
		r, ok := s.Answer(q)
		if ok && len(r) < headerLen {
			t.Fatalf("short answer %x", r)
		}
	})
}
