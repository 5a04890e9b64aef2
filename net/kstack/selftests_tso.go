package kstack

import (
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/inet"
)

// hostPeerDone is set once NetNIC/HostPeer's host side reported its flows
// verified: the guest sent the host megabytes (echo, chargen) that the
// host checked byte for byte.
var hostPeerDone atomic.Bool

// NetNIC/TSO checks TCP segmentation offload on the first NIC after
// NetNIC/HostPeer (it runs after it: tests go in name order). With
// IFCAP_TSO4 enabled (the e1000 always; virtio-net on a tap, where QEMU
// offers HOST_TSO4), the guest's bulk flows to the host must have handed
// the driver TSO frames of more than one segment, none cut in software
// and none refused; with TSO off (net.tso=off, net.csum=off, or a device
// without it) TCP must have handed the driver none. The host side's
// byte-for-byte checks already passed: what the device cut was right.
func init() {
	kern.RegisterTest(kern.Test{Name: "NetNIC/TSO", Fn: checkedSys(testTSO), Timeout: time.Minute})
}

func testTSO(t *kern.T) {
	s, ic := nicOrSkip(t)
	if ic == nil {
		return
	}
	ifp := ic.Ifp
	en := ifp.CapEnable()
	st := ifp.Stats()
	out, soft, bad := s.Stack.Stat(inet.TCPTSOOut), s.Stack.Stat(inet.TCPTSOSoftware), s.Stack.Stat(inet.TCPTSODropBad)
	t.Logf("%s: offloads %s enabled %s; %d TSO frames handed to the driver making %d segments (%.1f each); tcp.tso.out %d, cut in software %d, bad %d",
		ifp.Name(), ifp.Caps(), en, st.TSOPackets, st.TSOSegments, float64(st.TSOSegments)/max(float64(st.TSOPackets), 1), out, soft, bad)
	if bad != 0 {
		t.Errorf("%d malformed TSO packets dropped", bad)
	}
	if soft != 0 {
		t.Errorf("%d TSO packets cut in software: TCP chose TSO for a route whose interface has none", soft)
	}
	if (s.Config.TSOOff || s.Config.CsumOff) && en&netif.IFCAP_TSO4 != 0 {
		t.Errorf("net.tso=off or net.csum=off, yet TSO enabled")
	}
	if en&netif.IFCAP_TSO4 == 0 {
		if st.TSOPackets != 0 || out != 0 {
			t.Errorf("TSO off, yet %d TSO frames reached the driver (tcp.tso.out %d)", st.TSOPackets, out)
		}
		return
	}
	if !hostPeerDone.Load() {
		t.Logf("no verified host-peer traffic in this boot (NetNIC/HostPeer with net.hostpeer=1): nothing more to check")
		return
	}
	if st.TSOPackets == 0 {
		t.Fatalf("TSO on and the host peer's flows done, yet no TSO frame reached the driver")
	}
	if st.TSOSegments <= st.TSOPackets {
		t.Errorf("%d TSO frames made only %d segments: each should be more than one MSS", st.TSOPackets, st.TSOSegments)
	}
	if out < st.TSOPackets {
		t.Errorf("the driver took %d TSO frames, TCP sent only %d", st.TSOPackets, out)
	}
}
