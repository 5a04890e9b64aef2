// Package dnstest is a tiny authoritative DNS server for tests (RFC 1035,
// standard library only): A and AAAA answers for a fixed table of names,
// NXDOMAIN for every other name, over UDP and over TCP's two-byte length
// framing (RFC 1035 §4.2.2, what `options use-vc` makes resolvers use).
// The kernel's self-tests run it inside the guest (on 127.0.0.1), the
// QEMU harness on the host behind slirp's guestfwd (qemu.GuestDNSServer),
// and its host tests put Go's own resolver in front of it.
package dnstest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DNS constants used here.
const (
	TypeA    = 1
	TypeAAAA = 28
	classIN  = 1

	RcodeOK       = 0
	RcodeFormErr  = 1
	RcodeNXDomain = 3
	RcodeNotImpl  = 4

	headerLen = 12
	ttl       = 60
)

// ErrMalformed reports a query the server could not parse.
var ErrMalformed = errors.New("dnstest: malformed query")

// Server answers queries from Names. The zero Server answers NXDOMAIN to
// everything; set Names before serving.
type Server struct {
	// Names maps a lower-case fully qualified name ("web.test.") to its
	// addresses: IPv4 ones answer A queries, IPv6 ones AAAA queries. A
	// listed name with no address of the asked family gets an empty
	// NOERROR answer, as a real server gives.
	Names map[string][]netip.Addr
	// Silent: read queries and never answer (a dead resolver).
	Silent bool

	// Counters.
	Queries  atomic.Int64 // well-formed queries received
	Answered atomic.Int64 // NOERROR answers with at least one record
	NXDomain atomic.Int64
	Bad      atomic.Int64 // malformed queries (dropped or FORMERR)

	mu   sync.Mutex
	seen map[string]int // (mu) queries per "name type"
}

// Seen returns how many queries for name (any case, with or without the
// final dot) of type qtype (TypeA, TypeAAAA) arrived.
func (s *Server) Seen(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[key(fqdn(name), qtype)]
}

func key(name string, qtype uint16) string { return fmt.Sprintf("%s %d", name, qtype) }

func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// question is a parsed query's first question.
type question struct {
	name  string // lower case, with the final dot
	qtype uint16
	class uint16
	end   int // offset just past the question
}

// parseQuery checks a query's header and reads its question.
func parseQuery(q []byte) (question, error) {
	var qu question
	if len(q) < headerLen {
		return qu, ErrMalformed
	}
	flags := binary.BigEndian.Uint16(q[2:4])
	if flags&0x8000 != 0 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return qu, ErrMalformed // a response, or not exactly one question
	}
	var labels []string
	i := headerLen
	for {
		if i >= len(q) {
			return qu, ErrMalformed
		}
		n := int(q[i])
		i++
		if n == 0 {
			break
		}
		if n > 63 || i+n > len(q) {
			return qu, ErrMalformed // compression has no place in a question
		}
		labels = append(labels, strings.ToLower(string(q[i:i+n])))
		i += n
	}
	if i+4 > len(q) {
		return qu, ErrMalformed
	}
	qu.name = strings.Join(labels, ".") + "."
	if len(qu.name) > 254 {
		return qu, ErrMalformed
	}
	qu.qtype = binary.BigEndian.Uint16(q[i:])
	qu.class = binary.BigEndian.Uint16(q[i+2:])
	qu.end = i + 4
	return qu, nil
}

// Answer returns the response to query q, or ok false when q should be
// dropped (unparseable header, or a Silent server).
func (s *Server) Answer(q []byte) (resp []byte, ok bool) {
	qu, err := parseQuery(q)
	if err != nil {
		s.Bad.Add(1)
		if len(q) < headerLen || q[2]&0x80 != 0 {
			return nil, false
		}
		// FORMERR with the header only.
		r := append([]byte(nil), q[:headerLen]...)
		r[2] = 0x80 | q[2]&0x79 // QR, the opcode and RD
		r[3] = RcodeFormErr
		clear(r[4:])
		return r, !s.Silent
	}
	s.Queries.Add(1)
	s.mu.Lock()
	if s.seen == nil {
		s.seen = map[string]int{}
	}
	s.seen[key(qu.name, qu.qtype)]++
	s.mu.Unlock()
	if s.Silent {
		return nil, false
	}
	r := make([]byte, 0, 512)
	r = append(r, q[:headerLen]...)
	r[2] = 0x80 | 0x04 | q[2]&0x79 // QR, AA, the opcode and RD
	r[3] = 0x80                    // RA
	r = append(r, q[headerLen:qu.end]...)
	binary.BigEndian.PutUint16(r[4:], 1) // QDCOUNT
	clear(r[6:headerLen])                // AN, NS, AR counts: none yet
	opcode := q[2] >> 3 & 0xf
	addrs, known := s.Names[qu.name]
	switch {
	case opcode != 0:
		r[3] |= RcodeNotImpl
		return r, true
	case !known || qu.class != classIN:
		r[3] |= RcodeNXDomain
		s.NXDomain.Add(1)
		return r, true
	}
	n := 0
	for _, a := range addrs {
		var rdata []byte
		switch {
		case qu.qtype == TypeA && a.Is4():
			b := a.As4()
			rdata = b[:]
		case qu.qtype == TypeAAAA && a.Is6() && !a.Is4In6():
			b := a.As16()
			rdata = b[:]
		default:
			continue
		}
		// The owner name points at the question's (offset 12).
		r = append(r, 0xc0, headerLen)
		r = binary.BigEndian.AppendUint16(r, qu.qtype)
		r = binary.BigEndian.AppendUint16(r, classIN)
		r = binary.BigEndian.AppendUint32(r, ttl)
		r = binary.BigEndian.AppendUint16(r, uint16(len(rdata)))
		r = append(r, rdata...)
		n++
	}
	binary.BigEndian.PutUint16(r[6:], uint16(n))
	if n > 0 {
		s.Answered.Add(1)
	}
	return r, true
}

// ServeUDP answers datagrams on pc until it is closed (then nil).
func (s *Server) ServeUDP(pc net.PacketConn) error {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if r, ok := s.Answer(buf[:n]); ok {
			if _, err := pc.WriteTo(r, from); err != nil && errors.Is(err, net.ErrClosed) {
				return nil
			}
		}
	}
}

// ServeStream answers length-framed queries on c until EOF (then nil). A
// Silent server reads and never writes.
func (s *Server) ServeStream(c io.ReadWriter) error {
	var hdr [2]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		q := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return fmt.Errorf("dnstest: query of %d bytes: %w", len(q), err)
		}
		r, ok := s.Answer(q)
		if !ok {
			continue
		}
		out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(r)), uint16(len(r)))
		if _, err := c.Write(append(out, r...)); err != nil {
			return err
		}
	}
}

// ServeTCP serves each connection l accepts with ServeStream until l is
// closed (then nil); a connection idle for idle (0: never) is closed.
func (s *Server) ServeTCP(l net.Listener, idle time.Duration) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			var rw io.ReadWriter = c
			if idle > 0 {
				rw = idleConn{c, idle}
			}
			_ = s.ServeStream(rw)
		}()
	}
}

type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c idleConn) Read(p []byte) (int, error) {
	_ = c.SetReadDeadline(time.Now().Add(c.idle))
	return c.Conn.Read(p)
}

// Names of the shared test zone (TestZone): the harness's host server and
// the guest's self-tests agree on them.
const (
	NameDual   = "dual.dns.test." // one A, one AAAA
	NameMulti  = "multi.dns.test."
	NameV6Only = "v6only.dns.test."
	NameWeb    = "web.dns.test." // the harness's guest-forwarded HTTP server
	NameAbsent = "absent.dns.test."
)

// TestZone is the table the self-tests expect; web is the address of the
// guest-forwarded HTTP server (qemu.GuestHTTPAddr's host part).
func TestZone(web netip.Addr) map[string][]netip.Addr {
	return map[string][]netip.Addr{
		NameDual:   {netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")},
		NameMulti:  {netip.MustParseAddr("192.0.2.21"), netip.MustParseAddr("192.0.2.22"), netip.MustParseAddr("192.0.2.23")},
		NameV6Only: {netip.MustParseAddr("2001:db8::6")},
		NameWeb:    {web},
	}
}
