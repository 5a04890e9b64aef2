package e1000

import (
	"bytes"
	"encoding/binary"
	"strings"
	"time"

	"github.com/smpgo/smpgo/drivers/pci"
	"github.com/smpgo/smpgo/kern"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
)

// Self-tests on QEMU's e1000 with restricted user networking (-nic e1000
// in the harness): the only peer is QEMU's built-in gateway 10.0.2.2,
// which answers ARP for itself. Without an e1000 they log that and pass.
func init() {
	kern.RegisterTest(kern.Test{Name: "E1000/ARPGateway", Fn: testARP, Timeout: 2 * time.Minute})
}

var (
	guestIP   = [4]byte{10, 0, 2, 15}
	gatewayIP = [4]byte{10, 0, 2, 2}
)

// arpRequest builds a broadcast ARP request (RFC 826) from mac/guestIP for
// gatewayIP, padded to the 60-byte minimum.
func arpRequest(mac netif.HWAddr) []byte {
	f := make([]byte, 60)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)      // HTYPE Ethernet
	binary.BigEndian.PutUint16(a[2:], 0x0800) // PTYPE IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	copy(a[8:14], mac[:])
	copy(a[14:18], guestIP[:])
	copy(a[24:28], gatewayIP[:])
	return f
}

// isARPReply reports whether f is the gateway's ARP reply to mac.
func isARPReply(f []byte, mac netif.HWAddr) bool {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != 0x0806 {
		return false
	}
	a := f[14:]
	return binary.BigEndian.Uint16(a[6:]) == 2 && bytes.Equal(a[14:18], gatewayIP[:]) &&
		bytes.Equal(a[18:24], mac[:]) && bytes.Equal(a[24:28], guestIP[:]) && bytes.Equal(f[0:6], mac[:])
}

func testARP(t *kern.T) {
	pci.Probe()
	devs := Devices()
	if len(devs) == 0 {
		if _, err := pci.Lookup(VendorIntel, Dev82540EM); err == nil {
			t.Fatalf("an 82540EM is present but did not attach")
		}
		t.Logf("no e1000 (harness -nic e1000): nothing to test")
		return
	}
	d := devs[0]
	ifp := d.Interface()
	mac := d.MAC()
	if mac == (netif.HWAddr{}) || mac.IsMulticast() {
		t.Fatalf("MAC %s", mac)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !d.LinkUp() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !d.LinkUp() || ifp.LinkState() != netif.LINK_STATE_UP {
		t.Fatalf("link %v (STATUS.LU %v)", ifp.LinkState(), d.LinkUp())
	}
	// Tap the interface: the system's network stack (net/kstack) may
	// own it already, so frames go on to whatever input was installed
	// and it is put back afterwards.
	replies := make(chan struct{}, 1024)
	prev := ifp.InputFunc()
	ifp.SetInput(func(ifp *netif.Interface, m *mbuf.Mbuf) {
		if isARPReply(m.Linearize(), mac) {
			select {
			case replies <- struct{}{}:
			default:
			}
		}
		if prev != nil {
			prev(ifp, m)
			return
		}
		m.FreeChain()
	})
	defer ifp.SetInput(prev)
	if err := ifp.SetUp(true); err != nil {
		t.Fatalf("SetUp: %v", err)
	}
	req := arpRequest(mac)
	before := d.Stats()
	rx0, irq0 := d.RxFrames.Load(), d.Interrupts.Load()
	// 600 request/reply round trips: both rings (256 descriptors) wrap
	// more than twice.
	const rounds = 600
	got := 0
	for i := 0; i < rounds; i++ {
		answered := false
		for try := 0; try < 5 && !answered; try++ {
			for {
				err := ifp.Transmit(mbuf.FromBytes(req, 0))
				if err == nil {
					break
				}
				if err != netif.ErrQueueFull {
					t.Fatalf("Transmit: %v", err)
				}
				time.Sleep(time.Millisecond)
			}
			select {
			case <-replies:
				answered = true
			case <-time.After(time.Second):
			}
		}
		if !answered {
			t.Fatalf("no ARP reply from 10.0.2.2 to request %d", i)
		}
		got++
	}
	after := d.Stats()
	if n := after["gptc"] - before["gptc"]; n < rounds {
		t.Errorf("GPTC grew by %d, want at least %d", n, rounds)
	}
	if n := after["gprc"] - before["gprc"]; n < rounds {
		t.Errorf("GPRC grew by %d, want at least %d", n, rounds)
	}
	if n := d.RxFrames.Load() - rx0; n < rounds {
		t.Errorf("%d frames received, want at least %d", n, rounds)
	}
	if d.Interrupts.Load() == irq0 {
		t.Errorf("no interrupt counted")
	}
	if d.RxBad.Load() != 0 {
		t.Errorf("%d bad receive descriptors", d.RxBad.Load())
	}
	st := ifp.Stats()
	var b strings.Builder
	kern.RunCommand(&b, "show em")
	if !strings.Contains(b.String(), mac.String()) {
		t.Errorf("show em:\n%s", b.String())
	}
	t.Logf("%s %s: %d ARP round trips; %d interrupts (ITR %d); interface %+v", ifp.Name(), mac, got, d.Interrupts.Load()-irq0, DefaultITR, st)
}
