package inet

import (
	"fmt"
	"io"
	"sync/atomic"
)

// Stat names one counter. Every dropped packet is counted under the reason
// it was dropped for.
type Stat int

// The counters (netstat -s).
const (
	// Link layer.
	EtherIn Stat = iota
	EtherOut
	EtherDropShort
	EtherDropNotOurs
	EtherDropType
	EtherDropNoBuf
	// ARP.
	ARPIn
	ARPRequestsSent
	ARPRepliesSent
	ARPGratuitousSent
	ARPDropBad
	ARPDropNotOurs
	ARPHeldDrop
	ARPResolveFail
	ARPConflict
	ARPExpired
	// IPv4.
	IPIn
	IPDelivered
	IPOut
	IPFragmentsOut
	IPDropShort
	IPDropVersion
	IPDropHeaderLen
	IPDropTotalLen
	IPDropChecksum
	IPDropOptions
	IPDropBadSrc
	IPDropNotOurs
	IPDropNoProto
	IPDropTTL
	IPDropNoRoute
	IPDropNeedFrag
	IPDropOutput
	IPFragmentsIn
	IPReassembled
	IPFragDropBad
	IPFragDropOverlap
	IPFragDropTooBig
	IPFragDropLimit
	IPFragDropTimeout
	// ICMP.
	ICMPIn
	ICMPOut
	ICMPEchoReplies
	ICMPDropBad
	ICMPDropChecksum
	ICMPErrorsRateLimited
	ICMPErrorsSuppressed
	// UDP.
	UDPIn
	UDPOut
	UDPDropShort
	UDPDropChecksum
	UDPDropNoPort
	UDPDropFull
	// TCP.
	TCPIn
	TCPOut
	TCPRexmits
	TCPFastRexmits
	TCPTimeouts
	TCPAccepts
	TCPConnects
	TCPDropShort
	TCPDropChecksum
	TCPDropOptions
	TCPDropNoPort
	TCPDropBadSeq
	TCPDropBadAck
	TCPDropBadRST
	TCPDropSynFlood
	TCPDropListenFull
	TCPDropAfterClose
	TCPRSTsSent
	TCPRSTsReceived
	TCPDupAcks
	TCPOutOfOrder
	TCPDupSegs
	TCPZeroWindowProbes
	TCPKeepaliveDrops
	TCPDelayedAcks
	TCPDropRexmtLimit
	TCPTSOOut      // segments larger than the MSS sent with CSUM_TSO
	TCPTSOSoftware // CSUM_TSO packets cut in software (the interface has no TSO on)
	TCPTSOSoftSegs // the segments they made
	TCPTSODropBad  // CSUM_TSO packets too malformed to cut (dropped)
	// Dispatch.
	NetisrQueued
	NetisrDirect
	NetisrDropFull
	numStats
)

var statNames = [numStats]string{
	EtherIn: "ether.in", EtherOut: "ether.out", EtherDropShort: "ether.drop.short",
	EtherDropNotOurs: "ether.drop.notours", EtherDropType: "ether.drop.type", EtherDropNoBuf: "ether.drop.nobuf",
	ARPIn: "arp.in", ARPRequestsSent: "arp.requests", ARPRepliesSent: "arp.replies",
	ARPGratuitousSent: "arp.gratuitous", ARPDropBad: "arp.drop.bad", ARPDropNotOurs: "arp.drop.notours",
	ARPHeldDrop: "arp.drop.held", ARPResolveFail: "arp.resolve.fail", ARPConflict: "arp.conflict",
	ARPExpired: "arp.expired",
	IPIn:       "ip.in", IPDelivered: "ip.delivered", IPOut: "ip.out", IPFragmentsOut: "ip.fragments.out",
	IPDropShort: "ip.drop.short", IPDropVersion: "ip.drop.version", IPDropHeaderLen: "ip.drop.hdrlen",
	IPDropTotalLen: "ip.drop.totlen", IPDropChecksum: "ip.drop.checksum", IPDropOptions: "ip.drop.options",
	IPDropBadSrc: "ip.drop.badsrc", IPDropNotOurs: "ip.drop.notours", IPDropNoProto: "ip.drop.noproto",
	IPDropTTL: "ip.drop.ttl", IPDropNoRoute: "ip.drop.noroute", IPDropNeedFrag: "ip.drop.needfrag",
	IPDropOutput: "ip.drop.output", IPFragmentsIn: "ip.fragments.in", IPReassembled: "ip.reassembled",
	IPFragDropBad: "ip.frag.drop.bad", IPFragDropOverlap: "ip.frag.drop.overlap",
	IPFragDropTooBig: "ip.frag.drop.toobig", IPFragDropLimit: "ip.frag.drop.limit",
	IPFragDropTimeout: "ip.frag.drop.timeout",
	ICMPIn:            "icmp.in", ICMPOut: "icmp.out", ICMPEchoReplies: "icmp.echoreplies", ICMPDropBad: "icmp.drop.bad",
	ICMPDropChecksum: "icmp.drop.checksum", ICMPErrorsRateLimited: "icmp.errors.ratelimited",
	ICMPErrorsSuppressed: "icmp.errors.suppressed",
	UDPIn:                "udp.in", UDPOut: "udp.out", UDPDropShort: "udp.drop.short", UDPDropChecksum: "udp.drop.checksum",
	UDPDropNoPort: "udp.drop.noport", UDPDropFull: "udp.drop.full",
	TCPIn: "tcp.in", TCPOut: "tcp.out", TCPRexmits: "tcp.rexmits", TCPFastRexmits: "tcp.fastrexmits",
	TCPTimeouts: "tcp.timeouts", TCPAccepts: "tcp.accepts", TCPConnects: "tcp.connects",
	TCPDropShort: "tcp.drop.short", TCPDropChecksum: "tcp.drop.checksum", TCPDropOptions: "tcp.drop.options",
	TCPDropNoPort: "tcp.drop.noport", TCPDropBadSeq: "tcp.drop.badseq", TCPDropBadAck: "tcp.drop.badack",
	TCPDropBadRST: "tcp.drop.badrst", TCPDropSynFlood: "tcp.drop.synflood", TCPDropListenFull: "tcp.drop.listenfull",
	TCPDropAfterClose: "tcp.drop.afterclose", TCPRSTsSent: "tcp.rsts.sent", TCPRSTsReceived: "tcp.rsts.received",
	TCPDupAcks: "tcp.dupacks", TCPOutOfOrder: "tcp.outoforder", TCPDupSegs: "tcp.dupsegs", TCPZeroWindowProbes: "tcp.zerowindowprobes",
	TCPKeepaliveDrops: "tcp.keepalive.drops", TCPDelayedAcks: "tcp.delayedacks", TCPDropRexmtLimit: "tcp.drop.rexmtlimit",
	TCPTSOOut: "tcp.tso.out", TCPTSOSoftware: "tcp.tso.software", TCPTSOSoftSegs: "tcp.tso.software.segs",
	TCPTSODropBad: "tcp.tso.drop.bad",
	NetisrQueued:  "netisr.queued", NetisrDirect: "netisr.direct", NetisrDropFull: "netisr.drop.full",
}

func (s Stat) String() string { return statNames[s] }

// statShards spreads counters over CPUs; each shard is written mostly by
// one CPU and all are summed on read (FreeBSD's counter(9)).
const statShards = 16

type statShard struct {
	c [numStats]atomic.Uint64
	_ [64]byte
}

type statTable struct {
	cpu    func() int // (c) current CPU, for picking a shard
	shards [statShards]statShard
}

func (t *statTable) add(s Stat, n uint64) {
	i := 0
	if t.cpu != nil {
		i = t.cpu() % statShards
	}
	t.shards[i].c[s].Add(n)
}

func (t *statTable) get(s Stat) uint64 {
	var sum uint64
	for i := range t.shards {
		sum += t.shards[i].c[s].Load()
	}
	return sum
}

// Stat returns one counter, summed over CPUs.
func (st *Stack) Stat(s Stat) uint64 { return st.stats.get(s) }

// Stats returns every non-zero counter by name.
func (st *Stack) Stats() map[string]uint64 {
	out := map[string]uint64{}
	for s := Stat(0); s < numStats; s++ {
		if v := st.stats.get(s); v != 0 {
			out[s.String()] = v
		}
	}
	return out
}

// WriteStats prints the non-zero counters, one per line.
func (st *Stack) WriteStats(w io.Writer) {
	for s := Stat(0); s < numStats; s++ {
		if v := st.stats.get(s); v != 0 {
			fmt.Fprintf(w, "%-28s %d\n", s.String(), v)
		}
	}
}

func (st *Stack) count(s Stat) { st.stats.add(s, 1) }
