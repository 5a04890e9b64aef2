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
// services through QEMU's hostfwd (nic on restricted user networking),
// fine-grained and Giant, at each CPU count: host→guest into discard,
// guest→host from chargen (content verified), and echo both ways at once.
// Measured by the host side (qemu.NetPeer), not inside the kernel: the
// peer is a real host program.
func netBench(kernel, nic string, cpus []int, kargs string, size int, out io.Writer) {
	fmt.Printf("TCP through hostfwd (%s, slirp), %d MiB each, MB/s measured on the host:\n", nic, size>>20)
	fmt.Printf("%-8s %-13s %12s %12s %14s\n", "cpus", "locking", "host→guest", "guest→host", "echo each way")
	for _, n := range cpus {
		for _, giant := range []bool{false, true} {
			var st qemu.NetPeerStats
			c := qemu.Config{SMP: n, NIC: nic, Kernel: kernel, Timeout: 10 * time.Minute,
				HostFwd: qemu.NetPeerForwards(), HostAfter: qemu.NetPeerReady,
				Host:   qemu.NetPeer(qemu.NetPeerConfig{EchoBytes: size, Conns: 4, DiscardBytes: size, ChargenBytes: size, Stats: &st}),
				Append: strings.TrimSpace(fmt.Sprintf("net.hostpeer=1 net.giant=%d test=NetNIC/HostPeer %s", b2i(giant), kargs))}
			mode := "fine-grained"
			if giant {
				mode = "Giant"
			}
			r, err := qemu.Run(context.Background(), c, out)
			switch {
			case err != nil:
				fmt.Printf("%-8d %-13s %s\n", n, mode, err)
			case r.HostErr != nil || r.Outcome != qemu.Pass:
				fmt.Printf("%-8d %-13s %s (host: %v)\n", n, mode, r.Summary(), r.HostErr)
			default:
				fmt.Printf("%-8d %-13s %12.2f %12.2f %14.2f\n", n, mode, st.HostToGuest, st.GuestToHost, st.Echo)
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
