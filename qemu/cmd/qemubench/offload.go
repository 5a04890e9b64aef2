package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smpgo/smpgo/qemu"
)

// offloadBench compares, over a tap at -smp 4 with the Linux kernel's TCP
// as the peer: virtio-net with one queue pair and with four (a 4-queue
// tap), and each NIC with its checksum offloads on and off (net.csum=off:
// the stack computes and verifies every checksum). Every row runs 16
// concurrent echo connections (several flows for the queues to spread)
// besides the big transfers. Rows of one run are comparable with each
// other; the host's load moves all of them.
func offloadBench(kernel, kargs string, size int, out io.Writer) {
	const cpus = 4
	fmt.Printf("Offloads and queues over a tap at -smp %d, %d MiB each, MB/s measured on the host:\n", cpus, size>>20)
	fmt.Printf("%-7s %-7s %-5s %12s %12s %14s %14s\n", "nic", "queues", "csum", "host→guest", "guest→host", "echo each way", "16 conns echo")
	rows := []struct {
		nic    string
		queues int
		csum   bool
	}{
		{qemu.NICVirtio, 1, true}, {qemu.NICVirtio, 4, true}, {qemu.NICVirtio, 1, false}, {qemu.NICVirtio, 4, false},
		{qemu.NICE1000, 1, true}, {qemu.NICE1000, 1, false},
	}
	for _, row := range rows {
		var st qemu.NetPeerStats
		pc := qemu.NetPeerConfig{EchoBytes: size, Conns: 16, ConnBytes: 64 << 10, DiscardBytes: size, ChargenBytes: size, Stats: &st}
		csum := "on"
		if !row.csum {
			csum = "off"
		}
		c := qemu.Config{SMP: cpus, NIC: row.nic, Kernel: kernel, Timeout: 10 * time.Minute, HostAfter: qemu.NetPeerReady,
			Tap: &qemu.TapConfig{Queues: row.queues}, Host: qemu.NetPeer(pc),
			Append: strings.TrimSpace(fmt.Sprintf("%s net.hostpeer=1 net.csum=%s test=NetNIC/HostPeer %s", qemu.TapGuestOptions, csum, kargs))}
		r, err := qemu.Run(context.Background(), c, out)
		switch {
		case err != nil:
			fmt.Printf("%-7s %-7d %-5s %s\n", row.nic, row.queues, csum, err)
		case r.HostErr != nil || r.Outcome != qemu.Pass:
			fmt.Printf("%-7s %-7d %-5s %s (host: %v)\n", row.nic, row.queues, csum, r.Summary(), r.HostErr)
		default:
			fmt.Printf("%-7s %-7d %-5s %12.2f %12.2f %14.2f %14.2f\n", row.nic, row.queues, csum, st.HostToGuest, st.GuestToHost, st.Echo, st.ConnsMBps)
		}
	}
	fmt.Println()
}
