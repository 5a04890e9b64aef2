package inet

import (
	"sort"
	"time"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/nlock"
	"github.com/smpgo/smpgo/net/wire"
)

// IPv4 reassembly (RFC 791 §3.2 "Reassembly", RFC 815), bounded: at most
// ReassMax datagrams and ReassMaxFrags fragments each, none beyond 65535
// bytes, dropped after ReassTimeout. Overlapping fragments (other than exact
// duplicates) poison the whole datagram, which is dropped: overlaps are a
// classic evasion and attack vector (RFC 1858, RFC 3128) and no legitimate
// sender produces them.

type reassKey struct {
	src, dst Addr
	id       uint16
	proto    uint8
}

type fragPiece struct {
	off, end int
	hdrLen   int
	m        *mbuf.Mbuf // the whole fragment, IP header included
}

type reassEntry struct {
	frags []fragPiece   // sorted by off
	total int           // payload length once the last fragment arrived, else -1
	hdr   wire.IPv4     // header of the first fragment
	first bool          // the fragment at offset 0 has arrived
	born  time.Duration // arrival of the first piece
}

type reassTable struct {
	mu nlock.Mutex
	m  map[reassKey]*reassEntry // (mu)
}

func (t *reassTable) init() {
	t.mu.Init("ipreass")
	t.m = map[reassKey]*reassEntry{}
}

func (e *reassEntry) free() {
	for _, f := range e.frags {
		f.m.FreeChain()
	}
	e.frags = nil
}

// add takes one fragment; it returns the whole datagram (and rewrites h to
// describe it) when this fragment completes it, else nil.
func (t *reassTable) add(st *Stack, h *wire.IPv4, m *mbuf.Mbuf) *mbuf.Mbuf {
	n := m.PktLen() - h.HdrLen
	off := h.FragOff()
	end := off + n
	if (h.MoreFrags() && (n == 0 || n%8 != 0)) || n < 0 {
		st.count(IPFragDropBad)
		m.FreeChain()
		return nil
	}
	if h.HdrLen+end > 65535 {
		st.count(IPFragDropTooBig)
		m.FreeChain()
		return nil
	}
	key := reassKey{h.Src, h.Dst, h.ID, h.Proto}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[key]
	if e == nil {
		if len(t.m) >= st.cfg.ReassMax {
			st.count(IPFragDropLimit)
			m.FreeChain()
			return nil
		}
		e = &reassEntry{total: -1, born: st.clock.Now()}
		t.m[key] = e
	}
	drop := func(s Stat) *mbuf.Mbuf {
		st.count(s)
		m.FreeChain()
		e.free()
		delete(t.m, key)
		return nil
	}
	if len(e.frags) >= st.cfg.ReassMaxFrags {
		return drop(IPFragDropLimit)
	}
	for _, f := range e.frags {
		if off < f.end && end > f.off {
			if off == f.off && end == f.end {
				// A duplicate (retransmitted or duplicated on the
				// link): keep the first copy.
				st.count(IPFragDropOverlap)
				m.FreeChain()
				return nil
			}
			return drop(IPFragDropOverlap)
		}
	}
	if !h.MoreFrags() {
		if e.total >= 0 && e.total != end {
			return drop(IPFragDropBad)
		}
		e.total = end
	}
	if e.total >= 0 {
		for _, f := range e.frags {
			if f.end > e.total {
				return drop(IPFragDropBad)
			}
		}
		if end > e.total {
			return drop(IPFragDropBad)
		}
	}
	if off == 0 {
		e.first = true
		e.hdr = *h
	}
	i := sort.Search(len(e.frags), func(i int) bool { return e.frags[i].off > off })
	e.frags = append(e.frags, fragPiece{})
	copy(e.frags[i+1:], e.frags[i:])
	e.frags[i] = fragPiece{off: off, end: end, hdrLen: h.HdrLen, m: m}
	// Complete when the pieces cover [0, total) without holes.
	if e.total < 0 || !e.first {
		return nil
	}
	at := 0
	for _, f := range e.frags {
		if f.off != at {
			return nil
		}
		at = f.end
	}
	if at != e.total {
		return nil
	}
	head := e.frags[0].m
	for _, f := range e.frags[1:] {
		f.m.Adj(f.hdrLen)
		head.Cat(f.m)
	}
	*h = e.hdr
	h.TotalLen = h.HdrLen + e.total
	h.Frag = 0
	e.frags = nil
	delete(t.m, key)
	return head
}

// sweep drops datagrams older than the timeout, sending "time exceeded in
// reassembly" when the first fragment had arrived (RFC 792).
func (t *reassTable) sweep(st *Stack, now time.Duration) {
	var expired []*reassEntry
	t.mu.Lock()
	for k, e := range t.m {
		if now-e.born >= st.cfg.ReassTimeout {
			expired = append(expired, e)
			delete(t.m, k)
		}
	}
	t.mu.Unlock()
	for _, e := range expired {
		st.count(IPFragDropTimeout)
		if e.first && len(e.frags) > 0 && e.frags[0].off == 0 {
			h := e.hdr
			f := e.frags[0].m
			e.frags = e.frags[1:]
			st.icmpError(f, &h, wire.ICMP_TIMXCEED, wire.ICMP_TIMXCEED_REASS, 0)
		}
		e.free()
	}
}

func (t *reassTable) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.m {
		e.free()
		delete(t.m, k)
	}
}

// ReassemblyPending returns the datagrams waiting for fragments.
func (st *Stack) ReassemblyPending() int {
	st.reass.mu.Lock()
	defer st.reass.mu.Unlock()
	return len(st.reass.m)
}
