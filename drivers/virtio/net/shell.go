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
		fmt.Fprintf(w, "  offloads %s enabled %s: tx-csum %d rx-csum-valid %d rx-csum-finished %d\n", d.ifp.Caps(), d.ifp.CapEnable(),
			d.TxCsum.Load(), d.RxCsumValid.Load(), d.RxCsumFinished.Load())
		fmt.Fprintf(w, "  tso: %d frames, %d segments, %d refused\n", d.TxTSO.Load(), d.TxTSOSegs.Load(), d.TxTSOBad.Load())
		pairs := fmt.Sprintf("%d queue pair(s) of %d, %d active", len(d.pairs), d.plan.MaxPairs, d.ActivePairs())
		if d.plan.Why != "" {
			pairs += " (limited by " + d.plan.Why + ")"
		}
		d.ctrlMu.Lock()
		if d.ctrl != nil {
			pairs += fmt.Sprintf("; control queue %d: %d commands, %d failed", d.plan.CtrlIndex, d.ctrl.Commands, d.ctrl.Failures)
		}
		filter := "receive filter: none (no CTRL_RX: every frame taken)"
		if d.feat.Has(VIRTIO_NET_F_CTRL_RX) {
			filter = fmt.Sprintf("receive filter: promisc %v allmulti %v (overflow %v) groups %v; %d programmed, %d failed",
				d.filter.Promisc, d.filter.AllMulti, d.filter.Overflow, d.filter.Groups, d.FilterSets.Load(), d.FilterErrors.Load())
		}
		d.ctrlMu.Unlock()
		fmt.Fprintf(w, "  %s\n  %s\n", pairs, filter)
		if p := d.mqErr.Load(); p != nil {
			fmt.Fprintf(w, "  multiqueue: %s\n", *p)
		}
		for i, ev := range d.evs {
			cpu, vec := ev.CPU()
			name := "intx"
			var n uint64
			switch {
			case d.mode != ModeMSIX:
				n = d.Interrupts[0].Load()
			case i == 0:
				name, n = "config", d.Interrupts[0].Load()
			case i%2 == 1:
				name, n = fmt.Sprintf("rx%d", (i-1)/2), d.pairs[(i-1)/2].RxIntr.Load()
			default:
				name, n = fmt.Sprintf("tx%d", (i-2)/2), d.pairs[(i-2)/2].TxIntr.Load()
			}
			fmt.Fprintf(w, "  %s: cpu %d vec %#x interrupts %d\n", name, cpu, vec, n)
		}
		st := d.ifp.Stats()
		for _, pp := range d.pairs {
			pp.rxMu.Lock()
			ra, ru, rd := pp.rx.Indices()
			rf := pp.rx.InFlight()
			pp.rxMu.Unlock()
			pp.txMu.Lock()
			ta, tu, td := pp.tx.Indices()
			tf := pp.tx.InFlight()
			pp.txMu.Unlock()
			fmt.Fprintf(w, "  pair %d: rx %d frames (if %d pkts %d bytes %d drops %d errors) tx %d frames (if %d pkts %d bytes %d drops %d errors)\n",
				pp.idx, pp.RxFrames.Load(), st.Rx[pp.idx].Packets, st.Rx[pp.idx].Bytes, st.Rx[pp.idx].Drops, st.Rx[pp.idx].Errors,
				pp.TxFrames.Load(), st.Tx[pp.idx].Packets, st.Tx[pp.idx].Bytes, st.Tx[pp.idx].Drops, st.Tx[pp.idx].Errors)
			fmt.Fprintf(w, "    rx avail %d used %d/%d in flight %d; tx avail %d used %d/%d in flight %d\n", ra, ru, rd, rf, ta, tu, td, tf)
		}
		fmt.Fprintf(w, "  rx %d tx %d tx-done %d kicks %d rx-bad %d bad-used %d tx-full %d stray %d config-changes %d watchdog-polls %d resets %d\n",
			d.RxFrames.Load(), d.TxFrames.Load(), d.TxComplete.Load(), d.TxKicks.Load(), d.RxBad.Load(), d.BadUsed.Load(),
			d.TxFull.Load(), d.Stray.Load(), d.ConfigChanges.Load(), d.WatchdogPolls.Load(), d.Resets.Load())
		if p := d.lastReset.Load(); p != nil {
			fmt.Fprintf(w, "  last reset: %s\n", *p)
		}
		fmt.Fprintf(w, "  interface rx %+v tx %+v no-input %d\n", st.RxSum, st.TxSum, st.NoInput)
	}
}
