package inet

import (
	"net/netip"
	"sort"
)

// SocketInfo describes one socket for netstat-style listings.
type SocketInfo struct {
	Proto  string // "tcp" or "udp"
	Local  netip.AddrPort
	Remote netip.AddrPort // zero for listeners and unconnected UDP
	State  string         // TCP state, "LISTEN", or "" for UDP
	SendQ  int            // bytes not yet acknowledged (TCP)
	RecvQ  int            // bytes received, not yet read
}

// Sockets lists the stack's TCP listeners and connections and its UDP
// sockets, sorted by protocol, local and remote address. Each entry is
// read under its own inp lock; the tables are only held while copied.
func (st *Stack) Sockets() []SocketInfo {
	var out []SocketInfo
	st.tcp.mu.RLock()
	cs := make([]*tcpConn, 0, len(st.tcp.conns))
	for _, c := range st.tcp.conns {
		cs = append(cs, c)
	}
	var ls []*TCPListener
	for _, l := range st.tcp.listeners {
		ls = append(ls, l...)
	}
	st.tcp.mu.RUnlock()
	for _, l := range ls {
		l.mu.Lock()
		n := len(l.queue)
		l.mu.Unlock()
		out = append(out, SocketInfo{Proto: "tcp", Local: toAddrPort(l.laddr, l.lport), State: "LISTEN", RecvQ: n})
	}
	for _, c := range cs {
		c.mu.Lock()
		out = append(out, SocketInfo{Proto: "tcp", Local: toAddrPort(c.key.laddr, c.key.lport),
			Remote: toAddrPort(c.key.raddr, c.key.rport), State: c.state.String(), SendQ: c.sndLen, RecvQ: c.rcvLen})
		c.mu.Unlock()
	}
	st.udp.mu.RLock()
	var us []*UDPConn
	for _, l := range st.udp.ports {
		us = append(us, l...)
	}
	st.udp.mu.RUnlock()
	for _, c := range us {
		c.mu.Lock()
		si := SocketInfo{Proto: "udp", Local: toAddrPort(c.laddr, c.lport), RecvQ: c.rcvBytes}
		if c.rport != 0 {
			si.Remote = toAddrPort(c.raddr, c.rport)
		}
		c.mu.Unlock()
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		if c := a.Local.Compare(b.Local); c != 0 {
			return c < 0
		}
		return a.Remote.Compare(b.Remote) < 0
	})
	return out
}
