package mbuf

// Chain operations (uipc_mbuf.c: m_prepend, m_adj, m_pullup, m_copym,
// m_copydata, m_copyback, m_split, m_cat). Unless it says otherwise, an
// operation that returns an error leaves the chain intact and owned by the
// caller.

// FromBytes returns a new packet holding a copy of b, with headroom bytes
// free in front of it, or nil when clusters run out.
func FromBytes(b []byte, headroom int) *Mbuf {
	var m *Mbuf
	if headroom+len(b) > MSIZE && len(b) > MSIZE/2 {
		if m = GetCluster(); m == nil {
			return nil
		}
	} else {
		m = Get()
	}
	if headroom > len(m.buf) {
		headroom = len(m.buf)
	}
	m.Reserve(headroom)
	if err := m.Append(b); err != nil {
		m.FreeChain()
		return nil
	}
	return m
}

// ChainLen returns the bytes in the chain by walking it.
func (m *Mbuf) ChainLen() int {
	n := 0
	for ; m != nil; m = m.next {
		n += m.n
	}
	return n
}

// last returns the last mbuf of the chain.
func (m *Mbuf) last() *Mbuf {
	for m.next != nil {
		m = m.next
	}
	return m
}

// Append copies b to the end of the packet, filling the last buffer and
// then adding mbufs (clusters for large amounts). On ErrNoSpace part of b
// may have been appended; the caller frees the chain.
func (m *Mbuf) Append(b []byte) error {
	t := m.last()
	for len(b) > 0 {
		if t.Trailing() > 0 {
			c := copy(t.buf[t.off+t.n:], b)
			t.n += c
			m.Pkt.Len += c
			b = b[c:]
			continue
		}
		n := get(false)
		if len(b) > MSIZE && !n.attachCluster() {
			n.Free()
			return ErrNoSpace
		}
		t.next = n
		t = n
	}
	return nil
}

// Prepend extends the packet's data n bytes at the front (M_PREPEND),
// using the first mbuf's headroom when it has enough and a new first mbuf
// otherwise, and returns the (possibly new) head. The new bytes are not
// initialised. n must be at most MSIZE.
func (m *Mbuf) Prepend(n int) *Mbuf {
	if n > MSIZE || n < 0 {
		panic("mbuf.Prepend: length above MSIZE")
	}
	if m.Leading() >= n {
		m.off -= n
		m.n += n
		m.Pkt.Len += n
		return m
	}
	h := get(true)
	h.Pkt, h.hdr = m.Pkt, m.hdr
	m.Pkt, m.hdr = PktHdr{}, false
	h.off, h.n = MSIZE-n, n
	h.next = m
	h.Pkt.Len += n
	return h
}

// Adj trims n bytes from the head of the packet (n > 0) or -n bytes from
// its tail (n < 0), as m_adj. Buffers emptied at the tail are freed; the
// first mbuf stays even when empty.
func (m *Mbuf) Adj(n int) {
	if n >= 0 {
		rem := n
		for t := m; t != nil && rem > 0; t = t.next {
			c := min(rem, t.n)
			t.off += c
			t.n -= c
			rem -= c
		}
		m.Pkt.Len -= n - rem
		return
	}
	total := m.ChainLen()
	keep := max(total+n, 0)
	acc := 0
	for t := m; t != nil; t = t.next {
		if acc+t.n >= keep {
			t.n = keep - acc
			if t.next != nil {
				t.next.FreeChain()
				t.next = nil
			}
			break
		}
		acc += t.n
	}
	m.Pkt.Len = keep
}

// Pullup makes the first n bytes of the packet contiguous in its first
// mbuf (m_pullup) and returns the possibly new head. It fails with
// ErrShort when the packet holds fewer than n bytes and ErrTooBig when n
// exceeds a cluster. It does not make the bytes writable (MakeWritable).
func (m *Mbuf) Pullup(n int) (*Mbuf, error) {
	if m.n >= n {
		return m, nil
	}
	return m.gather(n, false)
}

// MakeWritable makes the first n bytes of the packet contiguous and not
// shared, so headers can be rewritten in place, and returns the head.
func (m *Mbuf) MakeWritable(n int) (*Mbuf, error) {
	if m.n >= n && m.Writable() {
		return m, nil
	}
	return m.gather(n, true)
}

func (m *Mbuf) gather(n int, fresh bool) (*Mbuf, error) {
	if n > storage.Size() {
		return m, ErrTooBig
	}
	if m.ChainLen() < n {
		return m, ErrShort
	}
	h := m
	if fresh || !m.Writable() || len(m.buf)-m.off < n {
		h = get(true)
		if n > MSIZE && !h.attachCluster() {
			h.Free()
			return m, ErrNoSpace
		}
		h.Pkt, h.hdr = m.Pkt, m.hdr
		m.Pkt, m.hdr = PktHdr{}, false
		h.off = min(len(h.buf)-n, MaxHdr)
		h.next = m
	}
	for h.n < n {
		s := h.next
		c := min(n-h.n, s.n)
		copy(h.buf[h.off+h.n:], s.buf[s.off:s.off+c])
		h.n += c
		s.off += c
		s.n -= c
		if s.n == 0 {
			h.next = s.Free()
		}
	}
	return h, nil
}

// CopyOut copies packet bytes starting at off into dst (m_copydata) and
// returns how many it copied.
func (m *Mbuf) CopyOut(off int, dst []byte) int {
	done := 0
	for t := m; t != nil && done < len(dst); t = t.next {
		if off >= t.n {
			off -= t.n
			continue
		}
		c := copy(dst[done:], t.buf[t.off+off:t.off+t.n])
		done += c
		off = 0
	}
	return done
}

// CopyIn overwrites packet bytes starting at off with src (m_copyback
// without extension). The bytes must exist and be writable.
func (m *Mbuf) CopyIn(off int, src []byte) error {
	for t := m; t != nil && len(src) > 0; t = t.next {
		if off >= t.n {
			off -= t.n
			continue
		}
		if !t.Writable() {
			panic("mbuf.CopyIn: shared storage")
		}
		c := copy(t.buf[t.off+off:t.off+t.n], src)
		src = src[c:]
		off = 0
	}
	if len(src) > 0 {
		return ErrShort
	}
	return nil
}

// Range calls fn on each contiguous piece of the n bytes starting at off
// (n < 0: to the end) and returns the bytes visited.
func (m *Mbuf) Range(off, n int, fn func([]byte)) int {
	done := 0
	for t := m; t != nil && (n < 0 || done < n); t = t.next {
		if off >= t.n {
			off -= t.n
			continue
		}
		seg := t.buf[t.off+off : t.off+t.n]
		if n >= 0 && len(seg) > n-done {
			seg = seg[:n-done]
		}
		fn(seg)
		done += len(seg)
		off = 0
	}
	return done
}

// Linearize returns a copy of the whole packet in one slice.
func (m *Mbuf) Linearize() []byte {
	b := make([]byte, m.ChainLen())
	m.CopyOut(0, b)
	return b
}

// Copy returns a new packet referring to n bytes of this one starting at
// off (n < 0: to the end), as m_copym: external storage is shared (its
// reference count raised, data read-only in both), inline data copied.
// The packet header is copied with Len set to the copy's length.
func (m *Mbuf) Copy(off, n int) *Mbuf {
	if n < 0 {
		n = m.ChainLen() - off
	}
	h := get(true)
	h.Pkt = m.Pkt
	h.Pkt.Len = 0
	t := h
	first := true
	for s := m; s != nil && n > 0; s = s.next {
		if off >= s.n {
			off -= s.n
			continue
		}
		c := min(s.n-off, n)
		var d *Mbuf
		if first {
			d = h
			first = false
		} else {
			d = get(false)
			t.next = d
		}
		if s.ext != nil {
			s.ext.refs.Add(1)
			d.ext, d.buf, d.off, d.n = s.ext, s.buf, s.off+off, c
		} else {
			d.off = 0
			if d == h && c <= MSIZE-MaxHdr/2 {
				d.off = MaxHdr / 2
			}
			d.n = copy(d.buf[d.off:], s.buf[s.off+off:s.off+off+c])
			if d.n < c {
				// Inline data never exceeds MSIZE, so this cannot happen
				// unless d.off left too little room: fall back to 0.
				d.off = 0
				d.n = copy(d.buf, s.buf[s.off+off:s.off+off+c])
			}
		}
		t = d
		h.Pkt.Len += c
		n -= c
		off = 0
	}
	return h
}

// Dup returns a deep, writable copy of the packet, or nil when clusters
// run out.
func (m *Mbuf) Dup() *Mbuf {
	d := FromBytes(m.Linearize(), MaxHdr)
	if d == nil {
		return nil
	}
	l := d.Pkt.Len
	d.Pkt = m.Pkt
	d.Pkt.Len = l
	return d
}

// Split cuts the packet at byte off (m_split): m keeps the first off
// bytes, the returned packet (with a copy of the header) holds the rest.
// It returns nil when off is at or beyond the end.
func (m *Mbuf) Split(off int) *Mbuf {
	total := m.ChainLen()
	if off >= total || off < 0 {
		return nil
	}
	acc := 0
	for t := m; t != nil; t = t.next {
		if acc+t.n <= off {
			acc += t.n
			if acc == off {
				// Cut exactly between t and t.next.
				rest := t.next
				t.next = nil
				return m.newHead(rest, total-off)
			}
			continue
		}
		// The cut falls inside t.
		in := off - acc
		var r *Mbuf
		if t.ext != nil {
			t.ext.refs.Add(1)
			r = get(false)
			r.ext, r.buf, r.off, r.n = t.ext, t.buf, t.off+in, t.n-in
		} else {
			r = get(false)
			r.n = copy(r.buf, t.buf[t.off+in:t.off+t.n])
		}
		r.next = t.next
		t.next = nil
		t.n = in
		return m.newHead(r, total-off)
	}
	return nil
}

// newHead makes chain r (length n) a packet with a copy of m's header.
func (m *Mbuf) newHead(r *Mbuf, n int) *Mbuf {
	m.Pkt.Len -= n
	if r.hdr {
		r.Pkt.Len = n
		return r
	}
	r.hdr = true
	r.Pkt = m.Pkt
	r.Pkt.Len = n
	return r
}

// Cat appends packet n to packet m (m_cat) and adds its length; n's
// header is discarded.
func (m *Mbuf) Cat(n *Mbuf) {
	if n == nil {
		return
	}
	m.Pkt.Len += n.ChainLen()
	n.hdr = false
	n.Pkt = PktHdr{}
	m.last().next = n
}

// TrimHead drops n bytes from the front of the packet, freeing the mbufs
// it empties (sbdrop), and returns the new head: nil when nothing is
// left. Unlike Adj it never leaves empty mbufs behind, so a long-lived
// buffer (a socket's) does not accumulate them.
func (m *Mbuf) TrimHead(n int) *Mbuf {
	total := m.Pkt.Len
	for m != nil && n > 0 {
		if m.n > n {
			m.off += n
			m.n -= n
			m.Pkt.Len = total - n
			return m
		}
		n -= m.n
		total -= m.n
		next := m.next
		if next != nil {
			next.hdr, next.Pkt = true, m.Pkt
			next.Pkt.Len = total
			m.next = nil
		}
		m.Free()
		m = next
	}
	for m != nil && m.n == 0 {
		next := m.next
		if next != nil {
			next.hdr, next.Pkt = true, m.Pkt
			m.next = nil
		}
		m.Free()
		m = next
	}
	return m
}
