package vtnet

import (
	"time"

	"github.com/smpgo/smpgo/kern"
	netif "github.com/smpgo/smpgo/net/if"
)

// VirtioNet/TSO checks TCP segmentation offload after the boot's
// traffic. On a tap boot QEMU offers VIRTIO_NET_F_HOST_TSO4 (with CSUM)
// and the test runs after NetNIC/HostPeer, whose flows from the guest
// (echo, chargen) the Linux stack on the host received and the host
// checked byte for byte: frames must have gone out with GSO_TCPV4, each
// of more than one segment, none refused — or, with net.tso=off (or
// net.csum=off), none at all. On slirp (nothing offered) the interface
// must claim no TSO.
func init() {
	kern.RegisterTest(kern.Test{Name: "VirtioNet/TSO", Fn: testTSO, Timeout: time.Minute})
}

func testTSO(t *kern.T) {
	d, c, ok := setup(t)
	if !ok {
		return
	}
	ifp := d.Interface()
	ifp.SetInput(c.prev)
	caps, en := ifp.Caps(), ifp.CapEnable()
	frames, segs, bad := d.TxTSO.Load(), d.TxTSOSegs.Load(), d.TxTSOBad.Load()
	st := ifp.Stats()
	t.Logf("%s: HOST_TSO4 %v, offloads %s enabled %s, %d-entry rings: %d TSO frames sent making %d segments (%.1f each), %d refused; net/if counted %d frames, %d segments",
		ifp.Name(), d.Features().Has(VIRTIO_NET_F_HOST_TSO4), caps, en, d.qsz, frames, segs, float64(segs)/max(float64(frames), 1), bad, st.TSOPackets, st.TSOSegments)
	if d.tsoOK() != (caps&netif.IFCAP_TSO4 != 0) {
		t.Fatalf("capabilities %s do not match the features and ring size", caps)
	}
	if bad != 0 {
		t.Errorf("%d TSO frames refused", bad)
	}
	if en&netif.IFCAP_TSO4 == 0 {
		if frames != 0 || st.TSOPackets != 0 {
			t.Errorf("TSO off (or not offered), yet %d TSO frames sent", frames)
		}
		return
	}
	if d.RxFrames.Load() < 100 {
		t.Fatalf("only %d frames received: run after NetNIC/HostPeer on a tap boot", d.RxFrames.Load())
	}
	if frames == 0 {
		t.Fatalf("TSO on, yet no frame went out with GSO_TCPV4")
	}
	if segs <= frames {
		t.Errorf("%d TSO frames made only %d segments", frames, segs)
	}
}
