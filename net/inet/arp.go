package inet

import (
	"time"

	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/net/nlock"
	"github.com/smpgo/smpgo/net/wire"
)

// ARP (RFC 826) cache per interface, after sys/netinet/if_ether.c: entries
// are incomplete (a request is out; packets wait on a bounded hold queue,
// oldest dropped first) or reachable until they expire; a host that does
// not answer ARPRetries requests is marked down for a while and sends
// fail fast with ErrHostDown.

type arpState uint8

const (
	arpIncomplete arpState = iota
	arpReachable
	arpDown
)

// arpDownHold is how long a host that did not answer stays "down".
const arpDownHold = 20 * time.Second

// arpRetryInterval spaces requests for one address (arp_reqtimo).
const arpRetryInterval = time.Second

type arpEntry struct {
	mac     netif.HWAddr
	state   arpState
	expire  time.Duration // reachable: lifetime end; down: when to retry
	asked   int           // requests sent while incomplete
	lastAsk time.Duration
	hold    mbuf.Queue
}

type arpTable struct {
	ifs *ifState // (c)
	mu  nlock.Mutex
	m   map[Addr]*arpEntry // (mu)
}

// ARPEntry is a snapshot of one cache entry.
type ARPEntry struct {
	Addr     Addr
	MAC      netif.HWAddr
	Complete bool
	Held     int
}

func (t *arpTable) init(ifs *ifState) {
	t.mu.Init("lle")
	t.ifs = ifs
	t.m = map[Addr]*arpEntry{}
}

// resolve returns the MAC for ip (ok), or holds m until the reply comes
// (ok false, nil error), or fails for a host that is down (m freed).
func (t *arpTable) resolve(ip Addr, m *mbuf.Mbuf) (netif.HWAddr, bool, error) {
	st := t.ifs.st
	now := st.clock.Now()
	t.mu.Lock()
	e := t.m[ip]
	if e != nil && e.state == arpReachable && now < e.expire {
		mac := e.mac
		t.mu.Unlock()
		return mac, true, nil
	}
	if e != nil && e.state == arpDown {
		if now < e.expire {
			t.mu.Unlock()
			st.count(ARPResolveFail)
			m.FreeChain()
			return netif.HWAddr{}, false, ErrHostDown
		}
		e.state, e.asked = arpIncomplete, 0
	}
	if e == nil || e.state == arpReachable {
		if e != nil {
			st.count(ARPExpired)
		}
		e = &arpEntry{state: arpIncomplete, lastAsk: -arpRetryInterval}
		e.hold.Limit = st.cfg.ARPHold
		t.m[ip] = e
	}
	if e.hold.Full() {
		old := e.hold.Dequeue()
		old.FreeChain()
		st.count(ARPHeldDrop)
	}
	e.hold.Enqueue(m)
	ask := now-e.lastAsk >= arpRetryInterval
	if ask {
		e.lastAsk = now
		e.asked++
	}
	t.mu.Unlock()
	if ask {
		st.arpRequest(t.ifs, ip)
	}
	return netif.HWAddr{}, false, nil
}

// update records ip at mac (creating the entry only when create is set,
// RFC 826's merge rule) and returns the packets that were waiting for it.
func (t *arpTable) update(ip Addr, mac netif.HWAddr, create bool) []*mbuf.Mbuf {
	st := t.ifs.st
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[ip]
	if e == nil {
		if !create {
			return nil
		}
		e = &arpEntry{}
		e.hold.Limit = st.cfg.ARPHold
		t.m[ip] = e
	}
	e.mac = mac
	e.state = arpReachable
	e.expire = st.clock.Now() + st.cfg.ARPTimeout
	e.asked = 0
	var out []*mbuf.Mbuf
	for p := e.hold.Dequeue(); p != nil; p = e.hold.Dequeue() {
		out = append(out, p)
	}
	return out
}

// sweep expires entries and gives up on unanswered requests (arptimer).
func (t *arpTable) sweep(now time.Duration) {
	st := t.ifs.st
	var ask []Addr
	t.mu.Lock()
	for ip, e := range t.m {
		switch e.state {
		case arpReachable:
			if now >= e.expire {
				delete(t.m, ip)
				st.count(ARPExpired)
			}
		case arpIncomplete:
			if now-e.lastAsk < arpRetryInterval {
				continue
			}
			if e.asked >= st.cfg.ARPRetries {
				n := e.hold.Drain()
				for i := 0; i < n; i++ {
					st.count(ARPResolveFail)
				}
				e.state = arpDown
				e.expire = now + arpDownHold
				continue
			}
			e.asked++
			e.lastAsk = now
			ask = append(ask, ip)
		case arpDown:
			if now >= e.expire {
				delete(t.m, ip)
			}
		}
	}
	t.mu.Unlock()
	for _, ip := range ask {
		st.arpRequest(t.ifs, ip)
	}
}

func (t *arpTable) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ip, e := range t.m {
		e.hold.Drain()
		delete(t.m, ip)
	}
}

func (t *arpTable) entries() []ARPEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []ARPEntry
	for ip, e := range t.m {
		out = append(out, ARPEntry{Addr: ip, MAC: e.mac, Complete: e.state == arpReachable, Held: e.hold.Len()})
	}
	return out
}

// ARPEntries returns ifp's ARP cache.
func (st *Stack) ARPEntries(ifp *netif.Interface) []ARPEntry {
	ifs := st.ifState(ifp.Index())
	if ifs == nil {
		return nil
	}
	return ifs.arp.entries()
}

// arpSend builds and transmits one ARP packet.
func (st *Stack) arpSend(ifs *ifState, op uint16, dstMAC, tha netif.HWAddr, spa, tpa Addr) {
	m := mbuf.Get()
	m.Reserve(mbuf.MaxHdr)
	a := wire.ARP{Op: op, SHA: ifs.ifp.MAC(), SPA: spa, THA: tha, TPA: tpa}
	var b [wire.ARPLen]byte
	a.Put(b[:])
	_ = m.Append(b[:])
	// Pad to the Ethernet minimum (60 bytes without FCS).
	_ = m.Append(make([]byte, wire.EtherMinLen-wire.EtherHdrLen-wire.ARPLen))
	_ = st.etherSend(ifs.ifp, dstMAC, wire.ETHERTYPE_ARP, m)
}

// arpRequest asks who has ip.
func (st *Stack) arpRequest(ifs *ifState, ip Addr) {
	src := st.arpSource(ifs, ip)
	st.count(ARPRequestsSent)
	st.arpSend(ifs, wire.ARPOP_REQUEST, netif.Broadcast, netif.HWAddr{}, src, ip)
}

// arpSource picks our address on ifs for talking to ip.
func (st *Stack) arpSource(ifs *ifState, ip Addr) Addr {
	st.rtMu.RLock()
	defer st.rtMu.RUnlock()
	for _, a := range ifs.addrs {
		if ip.Mask(a.prefix) == a.addr.Mask(a.prefix) {
			return a.addr
		}
	}
	if len(ifs.addrs) > 0 {
		return ifs.addrs[0].addr
	}
	return Addr{}
}

// announce sends a gratuitous ARP for each of ifs's addresses (RFC 5227
// §3), so that neighbours update stale entries after an address change or
// a link coming up.
func (st *Stack) announce(ifs *ifState) {
	if ifs.ifp.Type() != netif.IFT_ETHER || !ifs.ifp.Up() {
		return
	}
	st.rtMu.RLock()
	addrs := append([]ifAddr(nil), ifs.addrs...)
	st.rtMu.RUnlock()
	for _, a := range addrs {
		st.count(ARPGratuitousSent)
		st.arpSend(ifs, wire.ARPOP_REQUEST, netif.Broadcast, netif.HWAddr{}, a.addr, a.addr)
	}
}

// arpInput handles a received ARP packet (in_arpinput).
func (st *Stack) arpInput(ifs *ifState, m *mbuf.Mbuf) {
	defer func() { m.FreeChain() }()
	st.count(ARPIn)
	m, err := m.Pullup(wire.ARPLen)
	if err != nil {
		st.count(ARPDropBad)
		return
	}
	a, err := wire.ParseARP(m.Bytes())
	if err != nil || (a.Op != wire.ARPOP_REQUEST && a.Op != wire.ARPOP_REPLY) ||
		a.SHA.IsMulticast() || a.SPA.IsBroadcast() || a.SPA.IsMulticast() {
		st.count(ARPDropBad)
		return
	}
	if a.SHA == ifs.ifp.MAC() {
		return // our own broadcast
	}
	st.rtMu.RLock()
	var mine, target bool
	for _, x := range ifs.addrs {
		if x.addr == a.SPA {
			mine = true
		}
		if x.addr == a.TPA {
			target = true
		}
	}
	st.rtMu.RUnlock()
	if mine {
		// Someone else claims our address.
		st.count(ARPConflict)
		return
	}
	if a.SPA.IsUnspecified() {
		// An address probe (RFC 5227): answer if it is ours, learn nothing.
		if target && a.Op == wire.ARPOP_REQUEST {
			st.count(ARPRepliesSent)
			st.arpSend(ifs, wire.ARPOP_REPLY, a.SHA, a.SHA, a.TPA, a.SPA)
		}
		return
	}
	held := ifs.arp.update(a.SPA, a.SHA, target)
	if target && a.Op == wire.ARPOP_REQUEST {
		st.count(ARPRepliesSent)
		st.arpSend(ifs, wire.ARPOP_REPLY, a.SHA, a.SHA, a.TPA, a.SPA)
	} else if !target && len(held) == 0 {
		st.count(ARPDropNotOurs)
	}
	for _, p := range held {
		_ = st.etherSend(ifs.ifp, a.SHA, wire.ETHERTYPE_IP, p)
	}
}
