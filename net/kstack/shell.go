package kstack

import (
	"fmt"
	"io"
	"sort"

	"github.com/smpgo/smpgo/kern"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/inet"
)

// Shell views of the system's stack: ifconfig (interfaces, addresses,
// flags, link, counters) and netstat (sockets; -r routes, -s protocol
// counters, -S the services, -a ARP caches).
func init() {
	kern.RegisterCommand("ifconfig", "network interfaces: MAC, MTU, flags, link, addresses, counters", cmdIfconfig)
	kern.RegisterCommand("netstat", "sockets; -r routes, -s protocol counters, -S services, -a ARP caches, -i netisr", cmdNetstat)
}

func cmdIfconfig(w io.Writer, _ []string) {
	s := Sys()
	if s == nil {
		fmt.Fprintln(w, "network stack off (net=off, or not started)")
	} else {
		fmt.Fprintf(w, "stack: %s locking, %s dispatch\n", s.Mode(), dispatchName(s))
	}
	for _, ifp := range netif.List() {
		if ifp.Pseudo() {
			continue
		}
		writeInterface(w, s, ifp)
	}
}

func dispatchName(s *System) string {
	if s.ISR != nil {
		return "netisr queued"
	}
	return "direct"
}

func writeInterface(w io.Writer, s *System, ifp *netif.Interface) {
	fmt.Fprintf(w, "%s: flags=%s mtu %d index %d\n", ifp.Name(), ifp.Flags(), ifp.MTU(), ifp.Index())
	if ifp.Type() == netif.IFT_ETHER {
		fmt.Fprintf(w, "\tether %s link %s\n", ifp.MAC(), ifp.LinkState())
	}
	if s != nil {
		for _, p := range s.Stack.Addrs(ifp) {
			fmt.Fprintf(w, "\tinet %s/%d\n", p.Addr, p.Bits)
		}
		for _, ic := range s.Interfaces() {
			if ic.Ifp == ifp {
				state := ic.Method
				select {
				case <-ic.Done:
				default:
					state = "configuring"
				}
				if ic.Err != nil {
					state += " (" + ic.Err.Error() + ")"
				}
				fmt.Fprintf(w, "\tconfigured by %s\n", state)
			}
		}
	}
	st := ifp.Stats()
	fmt.Fprintf(w, "\tRX packets %d bytes %d drops %d errors %d (no input %d)\n", st.RxSum.Packets, st.RxSum.Bytes, st.RxSum.Drops, st.RxSum.Errors, st.NoInput)
	fmt.Fprintf(w, "\tTX packets %d bytes %d drops %d errors %d\n", st.TxSum.Packets, st.TxSum.Bytes, st.TxSum.Drops, st.TxSum.Errors)
	if ifp.Caps()&netif.IFCAP_TSO4 != 0 {
		fmt.Fprintf(w, "\tTSO packets %d segments %d\n", st.TSOPackets, st.TSOSegments)
	}
	if ifp.Flags()&netif.IFF_NEEDSGIANT != 0 {
		fmt.Fprintf(w, "\tGiant transmit queue %d, sent %d\n", st.GiantQueueLen, st.GiantTxPackets)
	}
}

func cmdNetstat(w io.Writer, args []string) {
	s := Sys()
	if s == nil {
		fmt.Fprintln(w, "network stack off (net=off, or not started)")
		return
	}
	st := s.Stack
	what := ""
	if len(args) > 0 {
		what = args[0]
	}
	switch what {
	case "-r":
		fmt.Fprintf(w, "%-18s %-15s %-15s %s\n", "destination", "gateway", "source", "interface")
		for _, r := range st.Routes() {
			gw := "link"
			if !r.Gateway.IsUnspecified() {
				gw = r.Gateway.String()
			}
			name := "-"
			if r.Ifp != nil {
				name = r.Ifp.Name()
			}
			fmt.Fprintf(w, "%-18s %-15s %-15s %s\n", fmt.Sprintf("%s/%d", r.Dst, r.Prefix), gw, r.Src, name)
		}
	case "-s":
		st.WriteStats(w)
	case "-S":
		if s.Services == nil {
			fmt.Fprintln(w, "services off (net.services=off, or an application's default)")
			break
		}
		s.Services.Write(w)
	case "-a":
		for _, ifp := range st.Interfaces() {
			es := st.ARPEntries(ifp)
			sort.Slice(es, func(i, j int) bool { return es[i].Addr.Uint32() < es[j].Addr.Uint32() })
			for _, e := range es {
				state := "incomplete"
				if e.Complete {
					state = e.MAC.String()
				}
				fmt.Fprintf(w, "%-15s %-17s %s held %d\n", e.Addr, state, ifp.Name(), e.Held)
			}
		}
	case "-i":
		if s.ISR == nil {
			fmt.Fprintln(w, "direct dispatch: no netisr workers")
			return
		}
		// The system's netisr carries one protocol, the stack's
		// "ether" (id 0).
		ns := s.ISR.Stats(0)
		fmt.Fprintf(w, "ether: direct %d queued %d handled %d drops %d; queue lengths %v\n",
			ns.Direct, ns.Queued, ns.Handled, ns.Drops, s.ISR.QueueLens(0))
	case "":
		writeSockets(w, st)
	default:
		fmt.Fprintln(w, "usage: netstat [-r | -s | -S | -a | -i]")
	}
}

func writeSockets(w io.Writer, st *inet.Stack) {
	fmt.Fprintf(w, "%-5s %7s %7s  %-22s %-22s %s\n", "proto", "recv-q", "send-q", "local", "remote", "state")
	for _, si := range st.Sockets() {
		remote := "*"
		if si.Remote.IsValid() {
			remote = si.Remote.String()
		}
		fmt.Fprintf(w, "%-5s %7d %7d  %-22s %-22s %s\n", si.Proto, si.RecvQ, si.SendQ, si.Local, remote, si.State)
	}
}
