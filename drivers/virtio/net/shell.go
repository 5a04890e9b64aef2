package vtnet

import (
	"fmt"
	"io"

	"github.com/smpgo/smpgo/drivers/pci"
)

func showVtnet(w io.Writer, _ []string) {
	pci.Probe()
	devs := Devices()
	if len(devs) == 0 {
		fmt.Fprintln(w, "no virtio-net attached")
		return
	}
	for _, d := range devs {
		link := "down"
		if d.LinkUp() {
			link = "up"
		}
		fmt.Fprintf(w, "%s at %s: mac %s link %s, %s interrupts, %d-entry queues\n", d.ifp.Name(), d.pci.Addr, d.mac, link, d.mode, d.qsz)
		fmt.Fprintf(w, "  features %s\n", d.feat.Format(FeatureNames))
		for i, ev := range d.evs {
			cpu, vec := ev.CPU()
			name := "intx"
			if d.mode == ModeMSIX {
				name = []string{"config", "rx", "tx"}[i]
			}
			fmt.Fprintf(w, "  %s: cpu %d vec %#x interrupts %d\n", name, cpu, vec, d.Interrupts[i].Load())
		}
		d.rxMu.Lock()
		ra, ru, rd := d.rx.Indices()
		rf := d.rx.InFlight()
		d.rxMu.Unlock()
		d.txMu.Lock()
		ta, tu, td := d.tx.Indices()
		tf := d.tx.InFlight()
		d.txMu.Unlock()
		fmt.Fprintf(w, "  rx avail %d used %d/%d in flight %d; tx avail %d used %d/%d in flight %d\n", ra, ru, rd, rf, ta, tu, td, tf)
		fmt.Fprintf(w, "  rx %d tx %d tx-done %d kicks %d rx-bad %d bad-used %d tx-full %d stray %d config-changes %d watchdog-polls %d resets %d\n",
			d.RxFrames.Load(), d.TxFrames.Load(), d.TxComplete.Load(), d.TxKicks.Load(), d.RxBad.Load(), d.BadUsed.Load(),
			d.TxFull.Load(), d.Stray.Load(), d.ConfigChanges.Load(), d.WatchdogPolls.Load(), d.Resets.Load())
		if p := d.lastReset.Load(); p != nil {
			fmt.Fprintf(w, "  last reset: %s\n", *p)
		}
		st := d.ifp.Stats()
		fmt.Fprintf(w, "  interface rx %+v tx %+v no-input %d\n", st.RxSum, st.TxSum, st.NoInput)
	}
}
