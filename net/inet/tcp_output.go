package inet

import (
	"encoding/binary"
	"time"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/wire"
)

// output sends what the windows allow, then a pure ACK if one is owed
// (tcp_output). c.mu held.
func (c *tcpConn) output() {
	if c.state == CLOSED || c.state == TIME_WAIT && !c.ackNow {
		return
	}
	for i := 0; i < 1024 && c.sendSegment(0, false); i++ {
	}
	// Zero window with data waiting and nothing in flight: probe later.
	if c.sndWnd == 0 && c.sndLen > 0 && c.sndUna == c.sndMax && c.timers[tRexmt] == 0 && c.timers[tPersist] == 0 {
		c.setTimer(tPersist, c.curRTO())
	}
}

// dataOff is the offset in the send buffer of sequence number seq.
func (c *tcpConn) dataOff(seq uint32) int {
	off := int(seq - c.sndUna)
	if c.sndUna == c.iss && c.state != CLOSED {
		off-- // the SYN is not in the buffer
	}
	return max(off, 0)
}

// sendSegment sends one segment at sndNxt: up to maxLen bytes (0: the
// MSS) within the send and congestion windows, or regardless of them when
// force is set (retransmissions, window probes). It reports whether it
// sent something that consumed sequence space.
func (c *tcpConn) sendSegment(maxLen uint32, force bool) bool {
	st := c.st
	var flags uint8 = wire.TH_ACK
	syn := (c.state == SYN_SENT || c.state == SYN_RECEIVED) && c.sndNxt == c.iss
	if syn {
		flags = wire.TH_SYN
		if c.state == SYN_RECEIVED {
			flags |= wire.TH_ACK
		}
	}
	// TSO (tcp_output's tso): new data the windows let go in more than
	// one MSS leaves as one segment the device cuts. Not for
	// retransmissions, window probes or in fast recovery: those are
	// plain MSS segments.
	tsoOK := maxLen == 0 && !force && !c.inRecovery
	tso := false
	if maxLen == 0 || maxLen > uint32(c.mss) {
		maxLen = uint32(c.mss)
	}
	off := c.dataOff(c.sndNxt)
	avail := max(c.sndLen-off, 0)
	n := 0
	if !syn && c.state.synchronized() {
		win := min(c.sndWnd, c.cwnd)
		usable := int64(int32(c.sndUna + win - c.sndNxt))
		if force {
			usable = int64(maxLen)
		}
		n = int(min(int64(avail), max(usable, 0), int64(maxLen)))
		if tsoOK && n == c.mss && avail > c.mss && usable > int64(c.mss) {
			if lim := c.tsoMax(); lim > c.mss {
				n = int(min(int64(avail), usable, int64(lim)))
				if off+n < c.sndLen {
					// Whole segments only, unless this empties the
					// buffer: the rest waits to be a full one.
					n -= n % c.mss
				}
				tso = n > c.mss
			}
		}
		// Sender silly-window avoidance (RFC 9293 §3.8.6.2.1): do not
		// send a small segment that the window cut short while data is
		// in flight; the ACK will open room for a full one.
		if !force && n > 0 && n < c.mss && n < avail && c.sndMax != c.sndUna {
			n = 0
		}
	}
	fin := false
	if c.finQueued && !syn && off+n == c.sndLen &&
		(c.state == FIN_WAIT_1 || c.state == CLOSING || c.state == LAST_ACK) {
		// The FIN goes with the last data, or alone; a retransmitted FIN
		// is the one at sndMax-1.
		fin = !c.finSent || c.sndNxt+uint32(n) == c.sndMax-1
	}
	if n == 0 && !syn && !fin && !c.ackNow {
		return false
	}
	if fin {
		flags |= wire.TH_FIN
	}

	var m *mbuf.Mbuf
	if n > 0 {
		m = c.snd.Copy(off, n)
		if off+n == c.sndLen {
			flags |= wire.TH_PUSH
		}
	} else {
		m = mbuf.Get()
		m.Reserve(mbuf.MaxHdr)
	}
	th := wire.TCP{SrcPort: c.key.lport, DstPort: c.key.rport, Seq: c.sndNxt, Flags: flags,
		Opts: wire.TCPOptions{WScale: -1}}
	if flags&wire.TH_ACK != 0 {
		th.Ack = c.rcvNxt
	}
	win := c.rcvWindow()
	if syn {
		th.Opts.MSS = uint16(st.ourMSS(c.key.raddr))
		if c.state == SYN_SENT || c.wsOffered {
			th.Opts.WScale = int8(c.rcvScale)
		}
		th.Window = uint16(min(win, 65535))
	} else {
		th.Window = uint16(min(win>>c.rcvScale, 65535))
	}
	hl := wire.TCPHdrLen + th.Opts.OptionsLen()
	m = m.Prepend(hl)
	th.Put(m.Bytes())
	delayCsum(m, c.key.laddr, c.key.raddr, wire.IPPROTO_TCP, m.PktLen()) // finished by the device or ipOutputRoute
	if tso {
		m.Pkt.Csum |= mbuf.CSUM_TSO
		m.Pkt.TSOSegSz = uint16(c.mss)
		st.count(TCPTSOOut)
	}

	// Bookkeeping before the packet leaves (ipOutput may loop it back).
	if adv := c.rcvNxt + uint32(th.Window)<<c.rcvScale; seqGT(adv, c.rcvAdv) || syn {
		c.rcvAdv = adv
	}
	c.ackNow = false
	c.delackSegs = 0
	c.setTimer(tDelack, 0)
	seqLen := uint32(n)
	if syn {
		seqLen++
	}
	if fin {
		seqLen++
		c.finSent = true
	}
	startSeq := c.sndNxt
	if seqLen > 0 {
		if !c.rtting && startSeq == c.sndMax {
			c.rtting = true
			c.rttSeq = startSeq
			c.rttStart = st.clock.Now()
		}
		c.sndNxt += seqLen
		if seqGT(c.sndNxt, c.sndMax) {
			c.sndMax = c.sndNxt
		}
		if c.timers[tRexmt] == 0 {
			c.setTimer(tRexmt, c.curRTO())
			c.setTimer(tPersist, 0)
		}
	}
	st.count(TCPOut)
	_ = st.ipOutput(m, c.key.laddr, c.key.raddr, wire.IPPROTO_TCP, outOpts{})
	return seqLen > 0 && !syn && !fin
}

// tsoMax is the most payload one TSO segment may carry to the peer
// (FreeBSD's t_tsomax less the headers), 0 when the route's interface
// has no TSO enabled. c.mu held.
func (c *tcpConn) tsoMax() int {
	rt, err := c.st.routeTo(c.key.raddr, nil)
	if err != nil || !offloadTSO(rt.ifs.ifp) {
		return 0
	}
	return netif.TSOMax - wire.IPv4HdrLen - wire.TCPHdrLen
}

// sendRST resets the connection's peer (<SEQ=SND.NXT><CTL=RST,ACK>).
func (c *tcpConn) sendRST() {
	th := wire.TCP{SrcPort: c.key.lport, DstPort: c.key.rport, Seq: c.sndNxt, Ack: c.rcvNxt,
		Flags: wire.TH_RST | wire.TH_ACK, Opts: wire.TCPOptions{WScale: -1}}
	c.st.count(TCPRSTsSent)
	c.st.tcpSendBare(c.key.laddr, c.key.raddr, &th)
}

// tcpSendBare sends a header-only segment from src to dst.
func (st *Stack) tcpSendBare(src, dst Addr, th *wire.TCP) {
	m := mbuf.Get()
	m.Reserve(mbuf.MaxHdr)
	b := make([]byte, wire.TCPHdrLen+th.Opts.OptionsLen())
	th.Put(b)
	sum := wire.Pseudo(src, dst, wire.IPPROTO_TCP, len(b)).Add(b).Fold()
	binary.BigEndian.PutUint16(b[16:18], sum)
	_ = m.Append(b)
	st.count(TCPOut)
	_ = st.ipOutput(m, src, dst, wire.IPPROTO_TCP, outOpts{})
}

// setTimer arms (d > 0) or stops (d == 0) one of the connection's timers.
func (c *tcpConn) setTimer(kind int, d time.Duration) {
	if d == 0 {
		if c.timers[kind] == 0 {
			return
		}
		c.timers[kind] = 0
	} else {
		c.timers[kind] = c.st.clock.Now() + d
	}
	c.rearm()
}

// rearm points the connection's clock timer at the earliest deadline.
func (c *tcpConn) rearm() {
	var next time.Duration
	for _, t := range c.timers {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	if next == 0 {
		if c.timer != nil && c.timerAt != 0 {
			c.timer.Stop()
		}
		c.timerAt = 0
		return
	}
	if next == c.timerAt {
		return
	}
	c.timerAt = next
	d := max(next-c.st.clock.Now(), time.Microsecond)
	if c.timer == nil {
		c.timer = c.st.clock.AfterFunc(d, c.fire)
	} else {
		c.timer.Stop()
		c.timer.Reset(d)
	}
}

// fire runs the timers that are due (tcp_timer_*).
func (c *tcpConn) fire() {
	st := c.st
	st.enter()
	defer st.exit()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timerAt = 0
	now := st.clock.Now()
	for kind := range c.timers {
		if c.state == CLOSED {
			break
		}
		if t := c.timers[kind]; t == 0 || t > now {
			continue
		}
		c.timers[kind] = 0
		switch kind {
		case tRexmt:
			c.timeoutRexmt()
		case tPersist:
			c.timeoutPersist()
		case tKeep:
			c.timeoutKeep()
		case tDelack:
			c.ackNow = true
			c.output()
		case t2MSL:
			c.closeLocked()
		}
	}
	if c.state != CLOSED {
		c.rearm()
	}
}

// timeoutRexmt is the retransmission timeout (RFC 6298 §5, RFC 5681
// §3.1): back off, collapse the window to one segment, go back to the
// first unacknowledged byte.
func (c *tcpConn) timeoutRexmt() {
	st := c.st
	if c.sndUna == c.sndMax {
		return
	}
	c.rexmtShift++
	limit := st.cfg.TCP.MaxRexmits
	if !c.state.synchronized() {
		limit = st.cfg.TCP.SynRexmits
	}
	if c.rexmtShift > limit {
		st.count(TCPDropRexmtLimit)
		c.dropLocked(ErrConnAborted, true)
		return
	}
	st.count(TCPTimeouts)
	flight := c.sndMax - c.sndUna
	if c.state.synchronized() {
		c.ssthresh = max(flight/2, 2*uint32(c.mss))
		c.cwnd = uint32(c.mss)
	}
	c.inRecovery = false
	c.dupacks = 0
	c.rtting = false
	c.sndNxt = c.sndUna
	if c.sndWnd == 0 && c.state.synchronized() {
		// The window is closed: probe it rather than push data the
		// peer must drop (tcp_setpersist).
		c.setTimer(tPersist, c.curRTO())
		return
	}
	st.count(TCPRexmits)
	c.timers[tRexmt] = 0
	c.sendSegment(0, true)
	c.setTimer(tRexmt, c.curRTO())
	c.output()
}

// timeoutPersist probes a zero window with one byte (RFC 9293 §3.8.6.1).
func (c *tcpConn) timeoutPersist() {
	st := c.st
	if c.sndWnd != 0 || c.sndLen == 0 {
		return
	}
	st.count(TCPZeroWindowProbes)
	c.probes++
	c.sndNxt = c.sndUna
	c.sendSegment(1, true)
	c.setTimer(tRexmt, 0) // the persist timer owns the probe
	c.setTimer(tPersist, min(c.rto<<min(c.probes, 16), st.cfg.TCP.MaxRTO))
}

// timeoutKeep sends a keepalive probe after the idle time (RFC 1122
// §4.2.3.6): a segment with SEG.SEQ = SND.NXT-1, which the peer must ACK.
func (c *tcpConn) timeoutKeep() {
	st := c.st
	if !c.keep || !c.state.synchronized() {
		return
	}
	if c.probes >= st.cfg.TCP.KeepCnt {
		st.count(TCPKeepaliveDrops)
		c.dropLocked(ErrConnAborted, true)
		return
	}
	c.probes++
	th := wire.TCP{SrcPort: c.key.lport, DstPort: c.key.rport, Seq: c.sndUna - 1, Ack: c.rcvNxt,
		Flags: wire.TH_ACK, Window: uint16(min(c.rcvWindow()>>c.rcvScale, 65535)), Opts: wire.TCPOptions{WScale: -1}}
	st.tcpSendBare(c.key.laddr, c.key.raddr, &th)
	c.setTimer(tKeep, st.cfg.TCP.KeepIntvl)
}

// enterTimeWait starts TIME_WAIT (2*MSL, RFC 9293 §3.6.1).
func (c *tcpConn) enterTimeWait() {
	c.state = TIME_WAIT
	for k := range c.timers {
		c.timers[k] = 0
	}
	c.setTimer(t2MSL, 2*c.st.cfg.TCP.MSL)
	c.freeSnd()
	c.rwait.wake()
	c.wwait.wake()
}

func (c *tcpConn) freeSnd() {
	c.snd.FreeChain()
	c.snd, c.sndLen = nil, 0
}

func (c *tcpConn) freeRcv() {
	c.rcv.FreeChain()
	c.rcv, c.rcvLen = nil, 0
	for _, o := range c.ooo {
		o.m.FreeChain()
	}
	c.ooo, c.oooLen = nil, 0
}

// dropLocked aborts the connection with err for the user, resetting the
// peer if rst.
func (c *tcpConn) dropLocked(err error, rst bool) {
	if c.state == CLOSED {
		return
	}
	if rst && c.state != SYN_SENT && c.state != TIME_WAIT {
		c.sendRST()
	}
	if c.err == nil {
		c.err = err
	}
	c.closeLocked()
}

// closeLocked ends the connection: timers off, out of the table, buffers
// freed (received data stays for the user after an orderly close), all
// waiters woken.
func (c *tcpConn) closeLocked() {
	if c.state == CLOSED {
		return
	}
	c.state = CLOSED
	for k := range c.timers {
		c.timers[k] = 0
	}
	c.rearm()
	c.freeSnd()
	if c.err != nil || c.userClosed {
		c.freeRcv()
	}
	if c.embryonic {
		c.embryonic = false
		c.lis.embryonicGone()
	}
	c.st.tcp.remove(c)
	c.rwait.wake()
	c.wwait.wake()
	c.cwait.wake()
}
