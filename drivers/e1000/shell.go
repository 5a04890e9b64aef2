package e1000

import (
	"fmt"
	"io"
	"sort"

	"github.com/smpgo/smpgo/drivers/pci"
)

func showEM(w io.Writer, _ []string) {
	pci.Probe()
	devs := Devices()
	if len(devs) == 0 {
		fmt.Fprintln(w, "no e1000 attached")
		return
	}
	for _, d := range devs {
		link := "down"
		if d.LinkUp() {
			link = "up"
		}
		cpu, vec := d.ev.CPU()
		fmt.Fprintf(w, "%s at %s: mac %s link %s irq %d -> cpu %d vec %#x\n", d.ifp.Name(), d.pci.Addr, d.mac, link, d.pci.InterruptLine, cpu, vec)
		d.mu.Lock()
		fmt.Fprintf(w, "  rx ring next %d tail %d in flight %d; tx ring next %d tail %d in flight %d\n",
			d.rx.Next, d.rx.Tail, d.rx.InFlight(), d.tx.Next, d.tx.Tail, d.tx.InFlight())
		d.mu.Unlock()
		fmt.Fprintf(w, "  interrupts %d stray %d rx %d tx %d rx-bad %d tx-full %d resets %d\n",
			d.Interrupts.Load(), d.Stray.Load(), d.RxFrames.Load(), d.TxFrames.Load(), d.RxBad.Load(), d.TxFull.Load(), d.Resets.Load())
		fmt.Fprintf(w, "  offloads %s enabled %s: tx-csum %d contexts %d rx-csum-valid %d\n", d.ifp.Caps(), d.ifp.CapEnable(),
			d.TxCsum.Load(), d.TxContexts.Load(), d.RxCsumValid.Load())
		fmt.Fprintf(w, "  tso: %d requests, %d segments, %d refused\n", d.TxTSO.Load(), d.TxTSOSegs.Load(), d.TxTSOBad.Load())
		d.mu.Lock()
		fmt.Fprintf(w, "  receive filter: rctl %#x flags %s groups %v; multicast dropped past the hash %d\n", d.read(RCTL), d.rxFlags, d.mcast, d.McastFiltered.Load())
		d.mu.Unlock()
		if p := d.lastReset.Load(); p != nil {
			fmt.Fprintf(w, "  last reset: %s\n", *p)
		}
		st := d.Stats()
		names := make([]string, 0, len(st))
		for n := range st {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprint(w, " ")
		for _, n := range names {
			fmt.Fprintf(w, " %s=%d", n, st[n])
		}
		fmt.Fprintln(w)
	}
}
