package inet

import (
	"time"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/wire"
)

// seg is a received segment, decoded.
type seg struct {
	h    *wire.IPv4
	th   wire.TCP
	m    *mbuf.Mbuf // data only (headers trimmed)
	dlen int
}

func (s *seg) len() uint32 {
	n := uint32(s.dlen)
	if s.th.Flags&wire.TH_SYN != 0 {
		n++
	}
	if s.th.Flags&wire.TH_FIN != 0 {
		n++
	}
	return n
}

// tcpInput validates a segment and hands it to its connection or listener
// (RFC 9293 §3.10.7). m starts at the IP header.
func (st *Stack) tcpInput(_ *ifState, h *wire.IPv4, m *mbuf.Mbuf) {
	st.count(TCPIn)
	n := m.PktLen() - h.HdrLen
	var err error
	if n < wire.TCPHdrLen {
		st.count(TCPDropShort)
		m.FreeChain()
		return
	}
	if m, err = m.Pullup(min(h.HdrLen+wire.TCPMaxHdrLen, m.PktLen())); err != nil {
		st.count(TCPDropShort)
		m.FreeChain()
		return
	}
	th, err := wire.ParseTCP(m.Bytes()[h.HdrLen : h.HdrLen+min(n, wire.TCPMaxHdrLen)])
	if err != nil {
		if err == wire.ErrOptionBad {
			st.count(TCPDropOptions)
		} else {
			st.count(TCPDropShort)
		}
		m.FreeChain()
		return
	}
	if m.Pkt.Csum&mbuf.CSUM_L4_VALID == 0 && m.Pkt.Flags&mbuf.M_LOOP == 0 &&
		wire.SumMbuf(wire.Pseudo(h.Src, h.Dst, wire.IPPROTO_TCP, n), m, h.HdrLen, n).Fold() != 0 {
		st.count(TCPDropChecksum)
		m.FreeChain()
		return
	}
	if m.Pkt.Flags&(mbuf.M_BCAST|mbuf.M_MCAST) != 0 {
		st.count(TCPDropNoPort)
		m.FreeChain()
		return
	}
	m.Adj(h.HdrLen + th.DataOff)
	s := &seg{h: h, th: th, m: m, dlen: n - th.DataOff}
	defer func() { s.m.FreeChain() }()

	k := tcpKey{laddr: h.Dst, lport: th.DstPort, raddr: h.Src, rport: th.SrcPort}
	if c := st.tcp.lookup(k); c != nil {
		c.mu.Lock()
		if c.state != CLOSED {
			c.input(s)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
	if l := st.tcp.lookupListener(h.Dst, th.DstPort); l != nil {
		l.input(s)
		return
	}
	st.count(TCPDropNoPort)
	st.tcpRespondRST(s)
}

// tcpRespondRST answers a segment that has no connection with a reset
// (RFC 9293 §3.10.7.1): if it had ACK, <SEQ=SEG.ACK><CTL=RST>, else
// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Never in reply to a reset.
func (st *Stack) tcpRespondRST(s *seg) {
	th := &s.th
	if th.Flags&wire.TH_RST != 0 {
		return
	}
	r := wire.TCP{SrcPort: th.DstPort, DstPort: th.SrcPort, Opts: wire.TCPOptions{WScale: -1}}
	if th.Flags&wire.TH_ACK != 0 {
		r.Seq = th.Ack
		r.Flags = wire.TH_RST
	} else {
		r.Ack = th.Seq + s.len()
		r.Flags = wire.TH_RST | wire.TH_ACK
	}
	st.count(TCPRSTsSent)
	st.tcpSendBare(s.h.Dst, s.h.Src, &r)
}

// input processes a segment for a connection (tcp_do_segment). c.mu held.
func (c *tcpConn) input(s *seg) {
	st := c.st
	th := &s.th
	c.idleAt = st.clock.Now()
	c.probes = 0
	if c.keep && c.state.synchronized() {
		c.setTimer(tKeep, st.cfg.TCP.KeepIdle)
	}

	if c.state == SYN_SENT {
		c.inputSynSent(s)
		return
	}

	// 1. Trim the segment to the receive window (RFC 9293 §3.10.7.4 first
	// check, done as tcp_do_segment does it: an old duplicate loses its
	// data but its ACK is still processed, otherwise two sides that both
	// went back to retransmitting old data would ignore each other's
	// ACKs forever).
	origSeq := th.Seq
	if th.Flags&wire.TH_RST == 0 {
		if !c.trimToWindow(s) {
			c.ackNow = true
			c.output()
			st.count(TCPDropBadSeq)
			return
		}
	} else {
		wnd := c.rcvWindow()
		if !(seqLEQ(c.rcvNxt, origSeq) && seqLT(origSeq, c.rcvNxt+max(wnd, 1))) {
			st.count(TCPDropBadRST)
			return
		}
	}

	// 2. RST (RFC 5961 §3.2: exact match resets, else challenge ACK).
	if th.Flags&wire.TH_RST != 0 {
		if origSeq != c.rcvNxt {
			st.count(TCPDropBadRST)
			c.ackNow = true
			c.output()
			return
		}
		st.count(TCPRSTsReceived)
		switch c.state {
		case SYN_RECEIVED:
			if c.lis == nil {
				c.dropLocked(ErrConnRefused, false)
			} else {
				c.dropLocked(ErrConnReset, false)
			}
		case CLOSING, LAST_ACK, TIME_WAIT:
			c.closeLocked()
		default:
			c.dropLocked(ErrConnReset, false)
		}
		return
	}

	// 3. SYN in a synchronized state: challenge ACK (RFC 5961 §4).
	if th.Flags&wire.TH_SYN != 0 {
		if c.state == SYN_RECEIVED && th.Seq == c.irs {
			// Our SYN-ACK was lost: the peer retransmitted its SYN.
			c.sndNxt = c.iss
			c.output()
			return
		}
		st.count(TCPDropBadSeq)
		c.ackNow = true
		c.output()
		return
	}

	// 4. ACK.
	if th.Flags&wire.TH_ACK == 0 {
		st.count(TCPDropBadAck)
		return
	}
	if c.state == SYN_RECEIVED {
		if seqLEQ(th.Ack, c.sndUna) || seqGT(th.Ack, c.sndMax) {
			st.count(TCPDropBadAck)
			st.tcpRespondRST(s)
			return
		}
		c.sndWnd = uint32(th.Window) << c.sndScale
		c.sndWl1, c.sndWl2 = th.Seq, th.Ack
		if !c.established() {
			return
		}
	}
	if seqGT(th.Ack, c.sndMax) {
		// Acknowledges something not yet sent (RFC 5961 §5 bounds the
		// other side too; old ACKs are merely ignored below).
		st.count(TCPDropBadAck)
		c.ackNow = true
		c.output()
		return
	}
	c.processAck(s)
	if c.state == CLOSED {
		return
	}

	// 5. Data and FIN.
	if s.dlen > 0 || th.Flags&wire.TH_FIN != 0 {
		switch c.state {
		case ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2:
			if c.userClosed && s.dlen > 0 {
				// Data for a socket nobody will read: reset (RFC 9293
				// §3.10.7.4 leaves it to us; FreeBSD does this).
				st.count(TCPDropAfterClose)
				c.sendRST()
				c.dropLocked(ErrConnReset, false)
				return
			}
			c.receive(s)
		default:
			// CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT: the peer already
			// sent its FIN; anything new is a retransmission. ACK it.
			if c.state == TIME_WAIT && th.Flags&wire.TH_FIN != 0 {
				c.setTimer(t2MSL, 2*st.cfg.TCP.MSL)
			}
			c.ackNow = true
		}
	}
	c.output()
}

// trimToWindow cuts what lies before RCV.NXT or beyond the window from
// s. It reports false when nothing of the segment is acceptable and it
// must be dropped after an ACK.
func (c *tcpConn) trimToWindow(s *seg) bool {
	th := &s.th
	if seqLT(th.Seq, c.rcvNxt) {
		todrop := int(c.rcvNxt - th.Seq)
		if th.Flags&wire.TH_SYN != 0 {
			// An old SYN (a retransmitted SYN-ACK, say).
			th.Flags &^= wire.TH_SYN
			th.Seq++
			todrop--
		}
		if todrop > s.dlen || todrop == s.dlen && th.Flags&wire.TH_FIN == 0 {
			// Entirely old: keep only the ACK.
			th.Flags &^= wire.TH_FIN
			todrop = s.dlen
			c.ackNow = true
			c.st.count(TCPDupSegs)
		}
		s.m.Adj(todrop)
		s.dlen -= todrop
		th.Seq += uint32(todrop)
	}
	wnd := c.rcvWindow()
	if end := th.Seq + uint32(s.dlen); seqGT(end, c.rcvNxt+wnd) {
		todrop := int(end - (c.rcvNxt + wnd))
		th.Flags &^= wire.TH_FIN
		if todrop >= s.dlen {
			if wnd == 0 && th.Seq == c.rcvNxt {
				// A window probe: ACK it, take nothing.
				c.ackNow = true
				c.st.count(TCPDupSegs)
			} else if s.dlen > 0 || th.Flags&wire.TH_SYN != 0 {
				return false
			}
			todrop = s.dlen
		}
		s.m.Adj(-todrop)
		s.dlen -= todrop
	}
	return true
}

// inputSynSent handles a segment in SYN_SENT (RFC 9293 §3.10.7.3).
func (c *tcpConn) inputSynSent(s *seg) {
	st := c.st
	th := &s.th
	ackOK := false
	if th.Flags&wire.TH_ACK != 0 {
		if seqLEQ(th.Ack, c.iss) || seqGT(th.Ack, c.sndMax) {
			st.count(TCPDropBadAck)
			if th.Flags&wire.TH_RST == 0 {
				st.tcpRespondRST(s)
			}
			return
		}
		ackOK = true
	}
	if th.Flags&wire.TH_RST != 0 {
		if ackOK {
			st.count(TCPRSTsReceived)
			c.dropLocked(ErrConnRefused, false)
		} else {
			st.count(TCPDropBadRST)
		}
		return
	}
	if th.Flags&wire.TH_SYN == 0 {
		return
	}
	c.irs = th.Seq
	c.rcvNxt = th.Seq + 1
	c.rcvAdv = c.rcvNxt
	c.applySynOptions(&th.Opts)
	if ackOK {
		c.sndUna = th.Ack
		c.sndWnd = uint32(th.Window) << c.sndScale
		c.sndWl1, c.sndWl2 = th.Seq, th.Ack
		c.sampleRTT(th.Ack)
		c.setTimer(tRexmt, 0)
		c.rexmtShift = 0
		c.initCwnd()
		c.established()
		c.ackNow = true
		c.receive(s) // data on the SYN-ACK, rare but allowed
		c.output()
		return
	}
	// Simultaneous open.
	c.state = SYN_RECEIVED
	c.sndNxt = c.iss
	c.output()
}

// applySynOptions records the peer's MSS and window scale from its SYN.
func (c *tcpConn) applySynOptions(o *wire.TCPOptions) {
	if o.MSS != 0 {
		c.mss = min(int(o.MSS), c.st.ourMSS(c.key.raddr))
	} else {
		c.mss = 536
	}
	c.mss = max(c.mss, 64)
	c.wsOffered = o.WScale >= 0
	if c.wsOffered {
		c.sndScale = uint8(o.WScale)
	} else {
		// Scaling is used only when both sides offer it (RFC 7323 §2.2).
		c.sndScale, c.rcvScale = 0, 0
	}
}

// established moves to ESTABLISHED and tells whoever waits: the
// connecting caller, or the listener's accept queue. It reports false if
// the listener went away (the connection has been reset).
func (c *tcpConn) established() bool {
	c.state = ESTABLISHED
	c.setTimer(tRexmt, 0)
	c.rexmtShift = 0
	if c.cwnd == 0 {
		c.initCwnd()
	}
	if c.keep {
		c.setTimer(tKeep, c.st.cfg.TCP.KeepIdle)
	}
	if c.lis != nil {
		c.embryonic = false
		if !c.lis.completed(c) {
			c.dropLocked(ErrConnReset, true)
			return false
		}
		c.st.count(TCPAccepts)
	} else {
		c.st.count(TCPConnects)
	}
	c.cwait.wake()
	c.wwait.wake()
	return true
}

// processAck handles SEG.ACK in a synchronized state (RFC 9293 §3.10.7.4
// fifth check; RFC 5681 §3.2 and RFC 6582 for duplicate ACKs).
func (c *tcpConn) processAck(s *seg) {
	st := c.st
	th := &s.th
	ack := th.Ack
	wnd := uint32(th.Window) << c.sndScale
	if seqLT(ack, c.sndUna) {
		return // old duplicate
	}
	if ack == c.sndUna {
		// RFC 5681 §2 duplicate ACK: no data, no window change,
		// outstanding data, not a window update.
		if s.dlen == 0 && th.Flags&(wire.TH_SYN|wire.TH_FIN) == 0 && wnd == c.sndWnd && c.sndMax != c.sndUna &&
			c.timers[tRexmt] != 0 {
			st.count(TCPDupAcks)
			c.dupacks++
			switch {
			case c.inRecovery:
				c.cwnd += uint32(c.mss) // inflate (RFC 6582 §3.2 step 3)
			case c.dupacks == 3:
				c.fastRetransmit()
			}
		} else if s.dlen == 0 {
			c.dupacks = 0
		}
		c.updateWindow(th, wnd)
		return
	}
	// New data acknowledged.
	acked := ack - c.sndUna
	c.sampleRTT(ack)
	if c.inRecovery {
		if seqGEQ(ack, c.recover) {
			// Full ACK: leave recovery (RFC 6582 §3.2 step 4).
			flight := c.sndMax - ack
			c.cwnd = min(c.ssthresh, max(flight, uint32(c.mss))+uint32(c.mss))
			c.inRecovery = false
			c.dupacks = 0
		} else {
			// Partial ACK: retransmit the next hole, deflate.
			c.retransmitAt(ack)
			if acked >= uint32(c.mss) {
				c.cwnd -= min(c.cwnd, acked) - uint32(c.mss)
			} else {
				c.cwnd -= min(c.cwnd, acked)
			}
			c.cwnd = max(c.cwnd, uint32(c.mss))
		}
	} else {
		c.dupacks = 0
		// Slow start, else congestion avoidance (RFC 5681 §3.1).
		if c.cwnd < c.ssthresh {
			c.cwnd += min(acked, uint32(c.mss))
		} else {
			c.cwnd += max(uint32(c.mss)*uint32(c.mss)/max(c.cwnd, 1), 1)
		}
	}
	// Drop acknowledged data from the send buffer.
	data := acked
	if c.finSent && ack == c.sndMax {
		data-- // the FIN's sequence number
	}
	if c.sndUna == c.iss {
		data-- // the SYN's sequence number
	}
	if d := min(int(data), c.sndLen); d > 0 {
		if c.snd != nil {
			c.snd = c.snd.TrimHead(d)
		}
		c.sndLen -= d
		c.wwait.wake()
	}
	c.sndUna = ack
	if seqLT(c.sndNxt, c.sndUna) {
		c.sndNxt = c.sndUna
	}
	c.rexmtShift = 0
	if c.sndUna == c.sndMax {
		c.setTimer(tRexmt, 0)
	} else {
		c.setTimer(tRexmt, c.curRTO())
	}
	c.updateWindow(th, wnd)

	ourFinAcked := c.finSent && c.sndUna == c.sndMax
	switch c.state {
	case FIN_WAIT_1:
		if ourFinAcked {
			c.state = FIN_WAIT_2
			if c.userClosed {
				// Nobody will read: do not wait forever for the
				// peer's FIN (tcp_fin_wait_2_timeout).
				c.setTimer(t2MSL, 2*st.cfg.TCP.MSL)
			}
		}
	case CLOSING:
		if ourFinAcked {
			c.enterTimeWait()
		}
	case LAST_ACK:
		if ourFinAcked {
			c.closeLocked()
		}
	}
}

// updateWindow takes the peer's window if the segment is newer (RFC 9293
// §3.10.7.4, SND.WL1/SND.WL2).
func (c *tcpConn) updateWindow(th *wire.TCP, wnd uint32) {
	if seqLT(c.sndWl1, th.Seq) || c.sndWl1 == th.Seq && seqLEQ(c.sndWl2, th.Ack) {
		if c.sndWnd == 0 && wnd > 0 && c.timers[tPersist] != 0 {
			// Out of persist: resend from the first unacked byte (the
			// probe may have been dropped).
			c.setTimer(tPersist, 0)
			c.probes = 0
			c.sndNxt = c.sndUna
		}
		c.sndWnd = wnd
		c.sndWl1, c.sndWl2 = th.Seq, th.Ack
	}
}

// fastRetransmit enters NewReno fast recovery (RFC 6582 §3.2 step 2).
func (c *tcpConn) fastRetransmit() {
	c.st.count(TCPFastRexmits)
	flight := c.sndMax - c.sndUna
	c.ssthresh = max(flight/2, 2*uint32(c.mss))
	c.recover = c.sndMax
	c.inRecovery = true
	c.rtting = false
	c.retransmitAt(c.sndUna)
	c.cwnd = c.ssthresh + 3*uint32(c.mss)
}

// retransmitAt sends one segment starting at seq, now.
func (c *tcpConn) retransmitAt(seq uint32) {
	c.st.count(TCPRexmits)
	saved := c.sndNxt
	c.sndNxt = seq
	c.sendSegment(uint32(c.mss), true)
	if seqGT(saved, c.sndNxt) {
		c.sndNxt = saved
	}
}

// sampleRTT updates srtt/rttvar/rto when the timed segment is acked
// (RFC 6298 §2).
func (c *tcpConn) sampleRTT(ack uint32) {
	if !c.rtting || seqLEQ(ack, c.rttSeq) {
		return
	}
	c.rtting = false
	r := c.st.clock.Now() - c.rttStart
	if c.srtt == 0 {
		c.srtt = r
		c.rttvar = r / 2
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.rto = c.srtt + max(4*c.rttvar, c.st.cfg.TCP.MinRTO/4)
	c.rto = min(max(c.rto, c.st.cfg.TCP.MinRTO), c.st.cfg.TCP.MaxRTO)
}

// curRTO is the RTO with the current backoff.
func (c *tcpConn) curRTO() time.Duration {
	return min(c.rto<<c.rexmtShift, c.st.cfg.TCP.MaxRTO)
}

// receive queues in-order data, keeps out-of-order data for later, and
// processes a FIN once everything before it arrived.
func (c *tcpConn) receive(s *seg) {
	st := c.st
	th := &s.th
	seq := th.Seq
	if th.Flags&wire.TH_SYN != 0 {
		seq++
	}
	fin := th.Flags&wire.TH_FIN != 0
	m := s.m
	s.m = nil
	// Trim what we already have and what lies beyond the window.
	if seqLT(seq, c.rcvNxt) {
		d := int(c.rcvNxt - seq)
		if d > m.PktLen() {
			fin = false // the FIN is old too
			d = m.PktLen()
		}
		m.Adj(d)
		seq += uint32(d)
	}
	right := c.rcvNxt + c.rcvWindow()
	if end := seq + uint32(m.PktLen()); seqGT(end, right) {
		keep := 0
		if seqGT(right, seq) {
			keep = int(right - seq)
		}
		m.Adj(keep - m.PktLen())
		fin = false
	}
	if seq != c.rcvNxt {
		// Out of order: keep it (bounded by the buffer) and ACK at once
		// so the sender sees duplicate ACKs.
		st.count(TCPOutOfOrder)
		c.ackNow = true
		if m.PktLen() == 0 && !fin || c.rcvLen+c.oooLen+m.PktLen() > st.cfg.TCP.RcvBuf {
			m.FreeChain()
			return
		}
		c.insertOOO(oooSeg{seq: seq, m: m, fin: fin})
		return
	}
	c.appendRcv(m)
	if len(c.ooo) > 0 {
		c.ackNow = true // filling a hole: ACK at once (RFC 5681 §4.2)
		fin = c.drainOOO() || fin
	}
	if fin {
		c.rcvNxt++
		c.finRcvd = true
		c.ackNow = true
		c.rwait.wake()
		switch c.state {
		case ESTABLISHED:
			c.state = CLOSE_WAIT
		case FIN_WAIT_1:
			if c.finSent && c.sndUna == c.sndMax {
				c.enterTimeWait()
			} else {
				c.state = CLOSING
			}
		case FIN_WAIT_2:
			c.enterTimeWait()
		}
		return
	}
	// Delayed ACK: every second full segment at once, else after DelAck
	// (RFC 1122 §4.2.3.2, RFC 5681 §4.2).
	if s.dlen > 0 {
		c.delackSegs++
		if st.cfg.TCP.NoDelayedAck || c.delackSegs >= 2 || th.Flags&wire.TH_PUSH != 0 && c.delackSegs >= 2 {
			c.ackNow = true
		} else if c.timers[tDelack] == 0 {
			st.count(TCPDelayedAcks)
			c.setTimer(tDelack, st.cfg.TCP.DelAck)
		}
	}
}

func (c *tcpConn) appendRcv(m *mbuf.Mbuf) {
	n := m.PktLen()
	if n == 0 {
		m.FreeChain()
		return
	}
	if c.rcv == nil {
		c.rcv = m
	} else {
		c.rcv.Cat(m)
	}
	c.rcvLen += n
	c.rcvNxt += uint32(n)
	c.rwait.wake()
}

func (c *tcpConn) insertOOO(o oooSeg) {
	i := 0
	for i < len(c.ooo) && seqLT(c.ooo[i].seq, o.seq) {
		i++
	}
	if i < len(c.ooo) && c.ooo[i].seq == o.seq && c.ooo[i].m.PktLen() >= o.m.PktLen() {
		o.m.FreeChain() // a duplicate
		return
	}
	c.ooo = append(c.ooo, oooSeg{})
	copy(c.ooo[i+1:], c.ooo[i:])
	c.ooo[i] = o
	c.oooLen += o.m.PktLen()
}

// drainOOO moves queued segments that now fit after rcvNxt into the
// receive buffer; it reports whether a queued FIN became in order.
func (c *tcpConn) drainOOO() bool {
	fin := false
	for len(c.ooo) > 0 && seqLEQ(c.ooo[0].seq, c.rcvNxt) {
		o := c.ooo[0]
		c.ooo = c.ooo[1:]
		c.oooLen -= o.m.PktLen()
		d := int(c.rcvNxt - o.seq)
		if d > o.m.PktLen() {
			o.m.FreeChain()
			continue
		}
		o.m.Adj(d)
		c.appendRcv(o.m)
		if o.fin {
			fin = true
			for _, r := range c.ooo {
				r.m.FreeChain()
			}
			c.ooo, c.oooLen = nil, 0
		}
	}
	return fin
}

// rcvWindow is the receive window we can offer now: the free buffer
// space, never less than what we already advertised (windows do not
// shrink, RFC 9293 §3.8.6.2.2).
func (c *tcpConn) rcvWindow() uint32 {
	space := max(c.st.cfg.TCP.RcvBuf-c.rcvLen-c.oooLen, 0)
	w := uint32(space)
	if adv := c.rcvAdv - c.rcvNxt; seqGT(c.rcvAdv, c.rcvNxt) && adv > w {
		w = adv
	}
	return min(w, 65535<<c.rcvScale)
}

// tcpCtlInput takes an ICMP error about a segment we sent: a hard error
// aborts a connection still in SYN_SENT (RFC 1122 §4.2.3.9 allows it);
// otherwise it is only a soft error, ignored.
func (st *Stack) tcpCtlInput(src Addr, sport uint16, dst Addr, dport uint16, seq uint32, hard bool) {
	c := st.tcp.lookup(tcpKey{laddr: src, lport: sport, raddr: dst, rport: dport})
	if c == nil || !hard {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == SYN_SENT && seqGEQ(seq, c.sndUna) && seqLT(seq, c.sndMax) {
		c.dropLocked(ErrConnRefused, false)
	}
}
