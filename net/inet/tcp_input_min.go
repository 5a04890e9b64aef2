package inet

import (
	"encoding/binary"
	"time"

	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/wire"
)

// TCPConfig tunes TCP. Zero values select the defaults.
type TCPConfig struct {
	MSS          int           // our MSS on links with MTU 1500 is derived; this caps it (1460)
	SndBuf       int           // send buffer bytes (256 KiB)
	RcvBuf       int           // receive buffer bytes (256 KiB)
	MinRTO       time.Duration // RFC 6298 (2.4) lower bound (200 ms, as Linux and FreeBSD)
	MaxRTO       time.Duration // upper bound (60 s)
	InitialRTO   time.Duration // before any RTT sample (1 s, RFC 6298 (2.1))
	MaxRexmits   int           // retransmissions before giving up (12)
	SynRexmits   int           // SYN retransmissions before giving up (6)
	DelAck       time.Duration // delayed ACK timeout (40 ms)
	MSL          time.Duration // TIME_WAIT lasts 2*MSL (30 s)
	KeepIdle     time.Duration // keepalive idle time (2 h)
	KeepIntvl    time.Duration // between probes (75 s)
	KeepCnt      int           // unanswered probes before dropping (8)
	SynBacklog   int           // embryonic connections per listener (128)
	AcceptQueue  int           // default backlog of completed connections (128)
	NoDelayedAck bool          // ACK every segment
}

func (c *TCPConfig) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MSS, 1460)
	def(&c.SndBuf, 256<<10)
	def(&c.RcvBuf, 256<<10)
	defd(&c.MinRTO, 200*time.Millisecond)
	defd(&c.MaxRTO, 60*time.Second)
	defd(&c.InitialRTO, time.Second)
	def(&c.MaxRexmits, 12)
	def(&c.SynRexmits, 6)
	defd(&c.DelAck, 40*time.Millisecond)
	defd(&c.MSL, 30*time.Second)
	defd(&c.KeepIdle, 2*time.Hour)
	defd(&c.KeepIntvl, 75*time.Second)
	def(&c.KeepCnt, 8)
	def(&c.SynBacklog, 128)
	def(&c.AcceptQueue, 128)
}

// tcpTable holds the TCP connection and listener tables (tcbinfo).
type tcpTable struct {
	st *Stack
}

func (t *tcpTable) init(st *Stack) { t.st = st }

func (t *tcpTable) closeAll() {}

// tcpInput validates a segment and, as no connection or listener matches
// it, answers with a reset (RFC 9293 §3.10.7.1, state CLOSED).
func (st *Stack) tcpInput(_ *ifState, h *wire.IPv4, m *mbuf.Mbuf) {
	defer func() { m.FreeChain() }()
	st.count(TCPIn)
	n := m.PktLen() - h.HdrLen
	var err error
	if m, err = m.Pullup(min(h.HdrLen+wire.TCPMaxHdrLen, m.PktLen())); err != nil || n < wire.TCPHdrLen {
		st.count(TCPDropShort)
		return
	}
	th, err := wire.ParseTCP(m.Bytes()[h.HdrLen : h.HdrLen+min(n, wire.TCPMaxHdrLen)])
	if err != nil {
		if err == wire.ErrOptionBad {
			st.count(TCPDropOptions)
		} else {
			st.count(TCPDropShort)
		}
		return
	}
	if m.Pkt.Csum&mbuf.CSUM_L4_VALID == 0 && m.Pkt.Flags&mbuf.M_LOOP == 0 &&
		wire.SumMbuf(wire.Pseudo(h.Src, h.Dst, wire.IPPROTO_TCP, n), m, h.HdrLen, n).Fold() != 0 {
		st.count(TCPDropChecksum)
		return
	}
	if m.Pkt.Flags&(mbuf.M_BCAST|mbuf.M_MCAST) != 0 {
		st.count(TCPDropNoPort)
		return
	}
	st.count(TCPDropNoPort)
	st.tcpRespondRST(h, &th, n-th.DataOff)
}

// tcpRespondRST answers a segment that has no connection with a reset
// (RFC 9293 §3.10.7.1): if it had ACK, <SEQ=SEG.ACK><CTL=RST>, else
// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Never in reply to a reset.
func (st *Stack) tcpRespondRST(h *wire.IPv4, th *wire.TCP, dlen int) {
	if th.Flags&wire.TH_RST != 0 {
		return
	}
	r := wire.TCP{SrcPort: th.DstPort, DstPort: th.SrcPort, Opts: wire.TCPOptions{WScale: -1}}
	if th.Flags&wire.TH_ACK != 0 {
		r.Seq = th.Ack
		r.Flags = wire.TH_RST
	} else {
		seglen := uint32(dlen)
		if th.Flags&wire.TH_SYN != 0 {
			seglen++
		}
		if th.Flags&wire.TH_FIN != 0 {
			seglen++
		}
		r.Ack = th.Seq + seglen
		r.Flags = wire.TH_RST | wire.TH_ACK
	}
	st.count(TCPRSTsSent)
	st.tcpSendBare(h.Dst, h.Src, &r)
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

// tcpCtlInput takes an ICMP error about a segment we sent. This stack has
// no TCP connections yet (only closed-port resets), so it only counts it.
func (st *Stack) tcpCtlInput(_ Addr, _ uint16, _ Addr, _ uint16, _ uint32, _ bool) {
	st.count(TCPDropNoPort)
}
