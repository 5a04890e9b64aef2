package inet

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/nlock"
	"github.com/smpgo/smpgo/net/wire"
)

// ICMP (RFC 792; host requirements RFC 1122 §3.2.2): echo, and the errors
// the stack originates (port and protocol unreachable, time exceeded in
// reassembly), which are rate-limited by a token bucket refilled by the
// slow timer (as FreeBSD's badport_bandlim) and never sent about ICMP
// errors, broadcasts, multicasts or non-initial fragments.

type icmpState struct {
	tokens atomic.Int64 // error budget left in this tick
	last   time.Duration

	mu      nlock.Mutex
	nextID  uint16
	waiters map[uint32]chan time.Duration // (mu) key: id<<16 | seq
}

func (s *icmpState) refill(st *Stack, now time.Duration) {
	// The bucket holds at most one second's worth.
	per := int64(st.cfg.ICMPErrorRate) * int64(st.cfg.SlowTick) / int64(time.Second)
	s.tokens.Store(min(max(per, 1), int64(st.cfg.ICMPErrorRate)))
	s.last = now
}

func (st *Stack) icmpInput(_ *ifState, h *wire.IPv4, m *mbuf.Mbuf) {
	defer func() { m.FreeChain() }()
	st.count(ICMPIn)
	n := m.PktLen() - h.HdrLen
	if n < wire.ICMPHdrLen {
		st.count(ICMPDropBad)
		return
	}
	if wire.SumMbuf(0, m, h.HdrLen, n).Fold() != 0 {
		st.count(ICMPDropChecksum)
		return
	}
	var hdr [wire.ICMPHdrLen]byte
	m.CopyOut(h.HdrLen, hdr[:])
	typ, code := hdr[0], hdr[1]
	switch typ {
	case wire.ICMP_ECHO:
		if m.Pkt.Flags&(mbuf.M_BCAST|mbuf.M_MCAST) != 0 {
			st.count(ICMPErrorsSuppressed) // no smurf amplification
			return
		}
		body := make([]byte, n)
		m.CopyOut(h.HdrLen, body)
		body[0], body[2], body[3] = wire.ICMP_ECHOREPLY, 0, 0
		c := wire.Checksum(body)
		binary.BigEndian.PutUint16(body[2:4], c)
		r := mbuf.FromBytes(body, mbuf.MaxHdr)
		if r == nil {
			return
		}
		st.count(ICMPOut)
		st.count(ICMPEchoReplies)
		_ = st.ipOutput(r, h.Dst, h.Src, wire.IPPROTO_ICMP, outOpts{})
	case wire.ICMP_ECHOREPLY:
		id := binary.BigEndian.Uint16(hdr[4:6])
		seq := binary.BigEndian.Uint16(hdr[6:8])
		st.icmp.mu.Lock()
		ch := st.icmp.waiters[uint32(id)<<16|uint32(seq)]
		st.icmp.mu.Unlock()
		if ch != nil {
			select {
			case ch <- st.clock.Now():
			default:
			}
		}
	case wire.ICMP_UNREACH, wire.ICMP_TIMXCEED:
		// The quoted header says which of our connections it concerns.
		if n < wire.ICMPHdrLen+wire.IPv4HdrLen+8 {
			st.count(ICMPDropBad)
			return
		}
		q := make([]byte, n-wire.ICMPHdrLen)
		m.CopyOut(h.HdrLen+wire.ICMPHdrLen, q)
		ih, err := wire.ParseIPv4(q, 0xffff, true) // the quote is truncated
		if err != nil || len(q) < ih.HdrLen+8 || ih.Src != h.Dst && !st.IsLocal(ih.Src) {
			st.count(ICMPDropBad)
			return
		}
		sport := binary.BigEndian.Uint16(q[ih.HdrLen:])
		dport := binary.BigEndian.Uint16(q[ih.HdrLen+2:])
		hard := typ == wire.ICMP_UNREACH && (code == wire.ICMP_UNREACH_PORT || code == wire.ICMP_UNREACH_PROTOCOL)
		switch ih.Proto {
		case wire.IPPROTO_UDP:
			st.udpCtlInput(ih.Src, sport, ih.Dst, dport, hard)
		case wire.IPPROTO_TCP:
			seq := binary.BigEndian.Uint32(q[ih.HdrLen+4:])
			st.tcpCtlInput(ih.Src, sport, ih.Dst, dport, seq, hard)
		}
	}
}

// icmpError sends an ICMP error about packet m (header h, m starting at
// it) to its source, subject to RFC 1122 §3.2.2's suppression rules and the
// rate limit. It consumes m.
func (st *Stack) icmpError(m *mbuf.Mbuf, h *wire.IPv4, typ, code uint8, mtu uint16) {
	defer func() { m.FreeChain() }()
	if m.Pkt.Flags&(mbuf.M_BCAST|mbuf.M_MCAST) != 0 || h.FragOff() != 0 ||
		h.Src.IsUnspecified() || h.Src.IsBroadcast() || h.Src.IsMulticast() || h.Dst.IsBroadcast() || h.Dst.IsMulticast() {
		st.count(ICMPErrorsSuppressed)
		return
	}
	if h.Proto == wire.IPPROTO_ICMP {
		var t [1]byte
		if m.CopyOut(h.HdrLen, t[:]) == 1 && t[0] != wire.ICMP_ECHO && t[0] != wire.ICMP_ECHOREPLY {
			st.count(ICMPErrorsSuppressed) // never an error about an error
			return
		}
	}
	if st.icmp.tokens.Add(-1) < 0 {
		st.count(ICMPErrorsRateLimited)
		return
	}
	quote := min(m.PktLen(), h.HdrLen+8)
	body := make([]byte, wire.ICMPHdrLen+quote)
	ic := wire.ICMP{Type: typ, Code: code}
	binary.BigEndian.PutUint16(ic.Rest[2:4], mtu)
	ic.Put(body)
	m.CopyOut(0, body[wire.ICMPHdrLen:])
	binary.BigEndian.PutUint16(body[2:4], wire.Checksum(body))
	r := mbuf.FromBytes(body, mbuf.MaxHdr)
	if r == nil {
		return
	}
	src := h.Dst
	if !st.IsLocal(src) {
		src = Addr{}
	}
	st.count(ICMPOut)
	_ = st.ipOutput(r, src, h.Src, wire.IPPROTO_ICMP, outOpts{})
}

// Ping sends one ICMP echo request with size bytes of data to dst and
// waits for the reply, returning the round-trip time.
func (st *Stack) Ping(ctx context.Context, dst Addr, seq uint16, size int) (time.Duration, error) {
	st.icmp.mu.Lock()
	if st.icmp.waiters == nil {
		st.icmp.waiters = map[uint32]chan time.Duration{}
		st.icmp.nextID = uint16(st.rand32())
	}
	st.icmp.nextID++
	id := st.icmp.nextID
	key := uint32(id)<<16 | uint32(seq)
	ch := make(chan time.Duration, 1)
	st.icmp.waiters[key] = ch
	st.icmp.mu.Unlock()
	defer func() {
		st.icmp.mu.Lock()
		delete(st.icmp.waiters, key)
		st.icmp.mu.Unlock()
	}()
	body := make([]byte, wire.ICMPHdrLen+size)
	ic := wire.ICMP{Type: wire.ICMP_ECHO}
	binary.BigEndian.PutUint16(ic.Rest[0:2], id)
	binary.BigEndian.PutUint16(ic.Rest[2:4], seq)
	ic.Put(body)
	for i := wire.ICMPHdrLen; i < len(body); i++ {
		body[i] = byte(i)
	}
	binary.BigEndian.PutUint16(body[2:4], wire.Checksum(body))
	m := mbuf.FromBytes(body, mbuf.MaxHdr)
	if m == nil {
		return 0, ErrNoBufs
	}
	start := st.clock.Now()
	st.enter()
	st.count(ICMPOut)
	err := st.ipOutput(m, Addr{}, dst, wire.IPPROTO_ICMP, outOpts{})
	st.exit()
	if err != nil {
		return 0, err
	}
	select {
	case at := <-ch:
		return at - start, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
