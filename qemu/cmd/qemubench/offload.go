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
// tap), and each NIC with TCP segmentation offload on (the default where
// offered), off (net.tso=off: checksums still offloaded) and every
// offload off (net.csum=off: the stack computes and verifies every
// checksum and cuts every segment). Every row runs 16
// concurrent echo connections (several flows for the queues to spread)
// besides the big transfers. Rows of one run are comparable with each
// other; the host's load moves all of them.
func offloadBench(kernel, kargs string, size int, out io.Writer) {
	const cpus = 4
	fmt.Printf("Offloads and queues over a tap at -smp %d, %d MiB each, MB/s measured on the host:\n", cpus, size>>20)
	fmt.Printf("%-7s %-7s %-9s %12s %12s %14s %14s\n", "nic", "queues", "offloads", "host→guest", "guest→host", "echo each way", "16 conns echo")
	rows := []struct {
		nic      string
		queues   int
		offloads string // "tso": all on; "csum": net.tso=off; "none": net.csum=off
	}{
		{qemu.NICVirtio, 1, "tso"}, {qemu.NICVirtio, 1, "csum"}, {qemu.NICVirtio, 1, "none"},
		{qemu.NICVirtio, 4, "tso"}, {qemu.NICVirtio, 4, "csum"}, {qemu.NICVirtio, 4, "none"},
		{qemu.NICE1000, 1, "tso"}, {qemu.NICE1000, 1, "csum"}, {qemu.NICE1000, 1, "none"},
	}
	opts := map[string]string{"tso": "", "csum": "net.tso=off", "none": "net.csum=off"}
	for _, row := range rows {
		var st qemu.NetPeerStats
		pc := qemu.NetPeerConfig{EchoBytes: size, Conns: 16, ConnBytes: 64 << 10, DiscardBytes: size, ChargenBytes: size, Stats: &st}
		c := qemu.Config{SMP: cpus, NIC: row.nic, Kernel: kernel, Timeout: 10 * time.Minute, HostAfter: qemu.NetPeerReady,
			Tap: &qemu.TapConfig{Queues: row.queues}, Host: qemu.NetPeer(pc),
			Append: strings.Join(strings.Fields(fmt.Sprintf("%s net.hostpeer=1 %s test=NetNIC/HostPeer %s", qemu.TapGuestOptions, opts[row.offloads], kargs)), " ")}
		r, err := qemu.Run(context.Background(), c, out)
		switch {
		case err != nil:
			fmt.Printf("%-7s %-7d %-9s %s\n", row.nic, row.queues, row.offloads, err)
		case r.HostErr != nil || r.Outcome != qemu.Pass:
			fmt.Printf("%-7s %-7d %-9s %s (host: %v)\n", row.nic, row.queues, row.offloads, r.Summary(), r.HostErr)
		default:
			fmt.Printf("%-7s %-7d %-9s %12.2f %12.2f %14.2f %14.2f\n", row.nic, row.queues, row.offloads, st.HostToGuest, st.GuestToHost, st.Echo, st.ConnsMBps)
		}
	}
	fmt.Println()
}
