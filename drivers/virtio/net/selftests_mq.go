package vtnet

import (
	"time"

	"github.com/smpgo/smpgo/kern"
)

// VirtioNet/Multiqueue checks the queue pairs after the boot's traffic.
// On a multiqueue tap boot (tap-virtio-mq-smp4: -tap-queues 4 at -smp 4)
// it runs after NetNIC/HostPeer (names sort), whose host flows (a big
// echo, concurrent and sequential connections, UDP datagrams, every byte
// checked by the host and the guest's mbuf counts checked after) must
// have been received on more than one queue and transmitted on more
// than one; then a device reset must bring every pair back (the
// multiqueue command sent again). Without VIRTIO_NET_F_MQ (slirp) the
// device must run exactly one pair.
func init() {
	kern.RegisterTest(kern.Test{Name: "VirtioNet/Multiqueue", Fn: testMultiqueue, Timeout: 2 * time.Minute})
}

func testMultiqueue(t *kern.T) {
	d, c, ok := setup(t)
	if !ok {
		return
	}
	ifp0 := d.Interface()
	ifp0.SetInput(c.prev)
	ifp := d.Interface()
	st := ifp.Stats()
	if len(st.Rx) != d.Pairs() || len(st.Tx) != d.Pairs() {
		t.Fatalf("interface has %d rx and %d tx queues, device %d pairs", len(st.Rx), len(st.Tx), d.Pairs())
	}
	if !d.Features().Has(VIRTIO_NET_F_MQ) {
		if d.Pairs() != 1 || d.ActivePairs() != 1 {
			t.Errorf("no MQ offered, yet %d pairs (%d active)", d.Pairs(), d.ActivePairs())
		}
		t.Logf("%s: MQ not offered (features %s): one queue pair", ifp.Name(), d.Features().Format(FeatureNames))
		return
	}
	want := min(d.plan.MaxPairs, kern.NumCPU())
	if d.Mode() != ModeMSIX {
		want = 1
	}
	if d.Pairs() != want && d.plan.Why == "" {
		t.Errorf("%d pairs set up, want min(max_virtqueue_pairs %d, %d CPUs) = %d", d.Pairs(), d.plan.MaxPairs, kern.NumCPU(), want)
	}
	if d.ActivePairs() != d.Pairs() {
		p := d.mqErr.Load()
		why := ""
		if p != nil {
			why = *p
		}
		t.Fatalf("%d of %d pairs active: %s", d.ActivePairs(), d.Pairs(), why)
	}
	rxQueues, txQueues := 0, 0
	var rxSum uint64
	for i := 0; i < d.Pairs(); i++ {
		ps := d.PairStats(i)
		t.Logf("pair %d: rx %d frames (%d interrupts) tx %d frames (%d interrupts); interface rx %d pkts %d bytes tx %d pkts %d bytes",
			i, ps.RxFrames, ps.RxIntr, ps.TxFrames, ps.TxIntr, st.Rx[i].Packets, st.Rx[i].Bytes, st.Tx[i].Packets, st.Tx[i].Bytes)
		if ps.RxFrames > 0 {
			rxQueues++
		}
		if ps.TxFrames > 0 {
			txQueues++
		}
		rxSum += st.Rx[i].Packets
		if st.Rx[i].Errors != 0 {
			t.Errorf("pair %d: %d receive errors", i, st.Rx[i].Errors)
		}
	}
	if d.Pairs() > 1 && rxQueues < 2 {
		t.Errorf("frames received on %d of %d queues: the host's flows were not spread", rxQueues, d.Pairs())
	}
	if d.Pairs() > 1 && txQueues < 2 {
		t.Errorf("frames transmitted on %d of %d queues: the flow hash did not spread", txQueues, d.Pairs())
	}
	if rxSum == 0 {
		t.Errorf("nothing received: run after NetNIC/HostPeer on a tap boot")
	}
	if d.RxBad.Load() != 0 || d.BadUsed.Load() != 0 {
		t.Errorf("%d bad frames, %d bad used entries", d.RxBad.Load(), d.BadUsed.Load())
	}

	// A device reset: every pair back, multiqueue asked for again.
	if d.ctrl == nil {
		t.Fatalf("multiqueue without a control queue")
	}
	d.ctrlMu.Lock()
	cmds := d.ctrl.Commands
	d.ctrlMu.Unlock()
	resets := d.Resets.Load()
	d.InjectReset()
	deadline := time.Now().Add(60 * time.Second)
	for d.Resets.Load() == resets && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d.Resets.Load() == resets {
		t.Fatalf("the watchdog did not reset the device")
	}
	// Resets counts a reset as it starts: wait for its multiqueue command.
	var after, failed uint64
	for {
		d.ctrlMu.Lock()
		after, failed = d.ctrl.Commands, d.ctrl.Failures
		d.ctrlMu.Unlock()
		if after > cmds || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// start sends the multiqueue command and, with CTRL_RX, the three
	// receive-filter ones, all under ctrlMu.
	wantCmds := cmds + 1
	if d.Features().Has(VIRTIO_NET_F_CTRL_RX) {
		wantCmds += 3
	}
	if after != wantCmds || failed != 0 || d.ActivePairs() != d.Pairs() {
		t.Errorf("after the reset: %d control commands (was %d, want %d), %d failed, %d of %d pairs active", after, cmds, wantCmds, failed, d.ActivePairs(), d.Pairs())
	}
	t.Logf("%s: %d pairs (max %d), rx on %d, tx on %d; reset recovered with %d pairs", ifp.Name(), d.Pairs(), d.plan.MaxPairs, rxQueues, txQueues, d.ActivePairs())
}
