package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smpgo/smpgo/qemu"
)

// netBench measures TCP throughput between this machine and the guest's
// services, fine-grained and Giant, at each CPU count, over both of the
// harness's networks: QEMU's hostfwd (restricted user networking, slirp's
// TCP is the guest's peer) and a tap in a network namespace of the boot's
// own (the Linux kernel's TCP is the peer; needs root): host→guest into
// discard, guest→host from chargen (content verified), echo both ways at
// once, and on the tap the mean round trip of UDP echo datagrams.
// Measured by the host side (qemu.NetPeer), not inside the kernel: the
// peer is a real host program.
func netBench(kernel, nic string, cpus []int, kargs string, size int, out io.Writer) {
	fmt.Printf("TCP through hostfwd (%s, slirp) and over a tap (namespace), %d MiB each, MB/s measured on the host:\n", nic, size>>20)
	fmt.Printf("%-6s %-8s %-13s %12s %12s %14s %12s\n", "cpus", "network", "locking", "host→guest", "guest→host", "echo each way", "UDP rtt")
	for _, n := range cpus {
		for _, tap := range []bool{false, true} {
			for _, giant := range []bool{false, true} {
				var st qemu.NetPeerStats
				pc := qemu.NetPeerConfig{EchoBytes: size, Conns: 4, DiscardBytes: size, ChargenBytes: size, Stats: &st}
				c := qemu.Config{SMP: n, NIC: nic, Kernel: kernel, Timeout: 10 * time.Minute, HostAfter: qemu.NetPeerReady,
					Append: strings.TrimSpace(fmt.Sprintf("net.hostpeer=1 net.giant=%d test=NetNIC/HostPeer %s", b2i(giant), kargs))}
				network := "hostfwd"
				if tap {
					network = "tap"
					pc.UDPDatagrams = 200
					c.Tap = &qemu.TapConfig{}
					c.Append = qemu.TapGuestOptions + " " + c.Append
				} else {
					c.HostFwd = qemu.NetPeerForwards()
				}
				c.Host = qemu.NetPeer(pc)
				mode := "fine-grained"
				if giant {
					mode = "Giant"
				}
				r, err := qemu.Run(context.Background(), c, out)
				switch {
				case err != nil:
					fmt.Printf("%-6d %-8s %-13s %s\n", n, network, mode, err)
				case r.HostErr != nil || r.Outcome != qemu.Pass:
					fmt.Printf("%-6d %-8s %-13s %s (host: %v)\n", n, network, mode, r.Summary(), r.HostErr)
				default:
					rtt := "-"
					if tap {
						rtt = st.UDPRoundTrip.Round(time.Microsecond).String()
					}
					fmt.Printf("%-6d %-8s %-13s %12.2f %12.2f %14.2f %12s\n", n, network, mode, st.HostToGuest, st.GuestToHost, st.Echo, rtt)
				}
			}
		}
	}
	fmt.Println()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
