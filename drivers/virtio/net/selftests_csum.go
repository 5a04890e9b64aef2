package vtnet

import (
	"time"

	"github.com/smpgo/smpgo/kern"
	netif "github.com/smpgo/smpgo/net/if"
)

// VirtioNet/Offload checks checksum offload after the boot's traffic.
// On a tap boot (QEMU offers VIRTIO_NET_F_CSUM and GUEST_CSUM only with a
// vnet-header peer) it runs after NetNIC/HostPeer, whose flows the Linux
// stack on the host checked (segments with a wrong checksum would have
// been dropped and the host's byte-for-byte checks failed): frames must
// have gone out with NEEDS_CSUM and come in marked valid — or, with
// net.csum=off, none of either. On slirp (no offloads offered) it checks
// the interface claims none.
func init() {
	kern.RegisterTest(kern.Test{Name: "VirtioNet/Offload", Fn: testOffload, Timeout: time.Minute})
}

func testOffload(t *kern.T) {
	d, c, ok := setup(t)
	if !ok {
		return
	}
	ifp := d.Interface()
	ifp.SetInput(c.prev)
	caps, en := ifp.Caps(), ifp.CapEnable()
	tx, rxValid, rxFin := d.TxCsum.Load(), d.RxCsumValid.Load(), d.RxCsumFinished.Load()
	t.Logf("%s: features %s, offloads %s enabled %s: %d frames sent with NEEDS_CSUM, %d received marked valid, %d partial ones finished by the driver",
		ifp.Name(), d.Features().Format(FeatureNames), caps, en, tx, rxValid, rxFin)
	if d.Features().Has(VIRTIO_NET_F_CSUM) != (caps&netif.IFCAP_TXCSUM != 0) || d.Features().Has(VIRTIO_NET_F_GUEST_CSUM) != (caps&netif.IFCAP_RXCSUM != 0) {
		t.Fatalf("capabilities %s do not match the features", caps)
	}
	if caps == 0 {
		if tx+rxValid != 0 {
			t.Errorf("no offloads, yet %d NEEDS_CSUM frames and %d marked valid", tx, rxValid)
		}
		return
	}
	if d.RxFrames.Load() < 100 {
		t.Fatalf("only %d frames received: run after NetNIC/HostPeer on a tap boot", d.RxFrames.Load())
	}
	if en&netif.IFCAP_TXCSUM != 0 && tx == 0 {
		t.Errorf("transmit checksum offload enabled but no frame asked the device")
	}
	if en&netif.IFCAP_TXCSUM == 0 && tx != 0 {
		t.Errorf("transmit checksum offload off (net.csum=off) but %d frames asked the device", tx)
	}
	if en&netif.IFCAP_RXCSUM != 0 && rxValid == 0 {
		t.Errorf("receive checksum offload enabled but no frame came marked valid")
	}
	if en&netif.IFCAP_RXCSUM == 0 && rxValid != 0 {
		t.Errorf("receive checksum offload off but %d frames passed as valid", rxValid)
	}
	if d.RxBad.Load() != 0 {
		t.Errorf("%d bad frames", d.RxBad.Load())
	}
}
