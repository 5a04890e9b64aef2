package vtnet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/smpgo/smpgo/drivers/pci"
	"github.com/smpgo/smpgo/drivers/virtio"
	"github.com/smpgo/smpgo/kern"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
)

// Self-tests on QEMU's virtio-net-pci with restricted user networking
// (-nic virtio in the harness): the only peer is QEMU's gateway 10.0.2.2,
// which answers ARP for itself and echoes ICMP sent to it. Without a
// virtio-net function they log that and pass.
func init() {
	kern.RegisterTest(kern.Test{Name: "VirtioNet/ARPAndPing", Fn: testARPAndPing, Timeout: 4 * time.Minute})
	kern.RegisterTest(kern.Test{Name: "VirtioNet/ResetRecovery", Fn: testResetRecovery, Timeout: 2 * time.Minute})
	kern.RegisterTest(kern.Test{Name: "VirtioNet/DeviceStopsResponding", Fn: testStopsResponding, Timeout: 2 * time.Minute})
}

var (
	guestIP   = [4]byte{10, 0, 2, 15}
	gatewayIP = [4]byte{10, 0, 2, 2}
)

// arpRequest builds a broadcast ARP request (RFC 826) from mac/sip for
// the gateway, padded to the 60-byte minimum.
func arpRequest(mac netif.HWAddr, sip [4]byte) []byte {
	f := make([]byte, 60)
	copy(f[0:6], netif.Broadcast[:])
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)      // HTYPE Ethernet
	binary.BigEndian.PutUint16(a[2:], 0x0800) // PTYPE IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	copy(a[8:14], mac[:])
	copy(a[14:18], sip[:])
	copy(a[24:28], gatewayIP[:])
	return f
}

// arpReply checks f is the gateway's ARP reply to mac and returns the IP
// it was asked from (the reply's target address) and the gateway's MAC.
func arpReply(f []byte, mac netif.HWAddr) (tip [4]byte, gw netif.HWAddr, ok bool) {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != 0x0806 {
		return tip, gw, false
	}
	a := f[14:]
	if binary.BigEndian.Uint16(a[6:]) != 2 || !bytes.Equal(a[14:18], gatewayIP[:]) ||
		!bytes.Equal(a[18:24], mac[:]) || !bytes.Equal(f[0:6], mac[:]) {
		return tip, gw, false
	}
	copy(tip[:], a[24:28])
	copy(gw[:], a[8:14])
	return tip, gw, true
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// echoRequest builds an ICMP echo request from the guest to the gateway
// with id/seq and payload.
func echoRequest(mac, gw netif.HWAddr, seq uint16, payload []byte) []byte {
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], gw[:])
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	binary.BigEndian.PutUint16(ip[4:], seq)
	ip[8], ip[9] = 64, 1 // TTL, ICMP
	copy(ip[12:16], guestIP[:])
	copy(ip[16:20], gatewayIP[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	ic := f[34:]
	ic[0] = 8 // echo request
	binary.BigEndian.PutUint16(ic[4:], 0x5654)
	binary.BigEndian.PutUint16(ic[6:], seq)
	copy(ic[8:], payload)
	binary.BigEndian.PutUint16(ic[2:], checksum(ic))
	return f
}

// echoReply returns the sequence number and payload of an ICMP echo
// reply from the gateway to the guest, checking both checksums.
func echoReply(f []byte, mac netif.HWAddr) (seq uint16, payload []byte, ok bool) {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || !bytes.Equal(f[0:6], mac[:]) {
		return 0, nil, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0xf) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || tot > len(ip) || tot < ihl+8 || ip[9] != 1 || checksum(ip[:ihl]) != 0 ||
		!bytes.Equal(ip[12:16], gatewayIP[:]) || !bytes.Equal(ip[16:20], guestIP[:]) {
		return 0, nil, false
	}
	ic := ip[ihl:tot]
	if ic[0] != 0 || checksum(ic) != 0 || binary.BigEndian.Uint16(ic[4:]) != 0x5654 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint16(ic[6:]), ic[8:], true
}

// pattern fills a payload that differs for every sequence number.
func pattern(seq uint16, n int) []byte {
	p := make([]byte, n)
	x := uint32(seq)*2654435761 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p[i] = byte(x)
	}
	return p
}

type collector struct {
	mu     sync.Mutex
	arp    map[[4]byte]int // replies per asking IP
	gw     netif.HWAddr
	echo   map[uint16]bool // seq → payload verified
	badEco int
	kick   chan struct{}
	// prev is the input the test displaced (the system's network stack,
	// net/kstack, owns the interface from boot); it is put back after.
	prev netif.InputFunc
}

func (c *collector) input(mac netif.HWAddr) netif.InputFunc {
	return func(_ *netif.Interface, m *mbuf.Mbuf) {
		f := m.Linearize()
		c.mu.Lock()
		if tip, gw, ok := arpReply(f, mac); ok {
			c.arp[tip]++
			c.gw = gw
		} else if seq, p, ok := echoReply(f, mac); ok {
			if bytes.Equal(p, pattern(seq, len(p))) {
				c.echo[seq] = true
			} else {
				c.badEco++
			}
		}
		c.mu.Unlock()
		m.FreeChain()
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// waitFor waits (bounded) until done reports true, re-checking on every
// received frame.
func (c *collector) waitFor(d time.Duration, done func() bool) bool {
	deadline := time.After(d)
	for {
		c.mu.Lock()
		ok := done()
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-c.kick:
		case <-deadline:
			return false
		}
	}
}

// send transmits f, retrying (bounded) while the ring is full.
func send(t *kern.T, ifp *netif.Interface, f []byte) bool {
	for i := 0; i < 1000; i++ {
		err := ifp.Transmit(mbuf.FromBytes(f, 0))
		if err == nil {
			return true
		}
		if err != netif.ErrQueueFull {
			t.Fatalf("Transmit: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	t.Errorf("transmit ring stayed full")
	return false
}

// arpRounds sends n ARP requests in batches of 16 with distinct sender
// addresses (10.0.2.16 up) and waits for each batch's replies, resending
// unanswered ones; it returns how many were answered.
func arpRounds(t *kern.T, ifp *netif.Interface, c *collector, mac netif.HWAddr, n int) int {
	answered := 0
	for base := 0; base < n; base += 16 {
		var ips [][4]byte
		for i := base; i < n && i < base+16; i++ {
			ips = append(ips, [4]byte{10, 0, 2, byte(16 + i%200)})
		}
		c.mu.Lock()
		for _, ip := range ips {
			delete(c.arp, ip)
		}
		c.mu.Unlock()
		ok := false
		for try := 0; try < 5 && !ok; try++ {
			for _, ip := range ips {
				c.mu.Lock()
				got := c.arp[ip] > 0
				c.mu.Unlock()
				if !got && !send(t, ifp, arpRequest(mac, ip)) {
					return answered
				}
			}
			ok = c.waitFor(2*time.Second, func() bool {
				for _, ip := range ips {
					if c.arp[ip] == 0 {
						return false
					}
				}
				return true
			})
		}
		if !ok {
			t.Errorf("ARP requests %d..%d: not all answered after 5 tries", base, base+len(ips)-1)
			return answered
		}
		answered += len(ips)
	}
	return answered
}

func testARPAndPing(t *kern.T) {
	d, c, ok := setup(t)
	if !ok {
		return
	}
	ifp := d.Interface()
	defer ifp.SetInput(c.prev)
	mac := d.MAC()
	if mac == (netif.HWAddr{}) || mac.IsMulticast() {
		t.Fatalf("MAC %s", mac)
	}
	switch want := os.Getenv("SMPGO_VTNET"); {
	case want == ModeINTx && d.Mode() != ModeINTx:
		t.Errorf("SMPGO_VTNET=intx but interrupts are %s", d.Mode())
	case want == "" && d.pci.MSIXTableSize() >= 3 && d.Mode() != ModeMSIX:
		t.Errorf("%d MSI-X vectors offered but interrupts are %s", d.pci.MSIXTableSize(), d.Mode())
	}
	for _, b := range []int{virtio.F_VERSION_1, VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS} {
		if !d.Features().Has(b) {
			t.Errorf("feature %d not negotiated (%s)", b, d.Features().Format(FeatureNames))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !d.LinkUp() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !d.LinkUp() || ifp.LinkState() != netif.LINK_STATE_UP {
		t.Fatalf("link %v (device status LINK_UP %v)", ifp.LinkState(), d.LinkUp())
	}
	var irq0 [3]uint64
	for i := range irq0 {
		irq0[i] = d.Interrupts[i].Load()
	}
	st0 := ifp.Stats()

	// 2048 ARP round trips: both 256-entry rings wrap eight times.
	const rounds = 2048
	got := arpRounds(t, ifp, c, mac, rounds)
	if got != rounds {
		t.Fatalf("%d of %d ARP requests answered", got, rounds)
	}
	// The gateway learns 10.0.2.15 (for the echo replies) from one more.
	if !send(t, ifp, arpRequest(mac, guestIP)) || !c.waitFor(5*time.Second, func() bool { return c.arp[guestIP] > 0 }) {
		t.Fatalf("no ARP reply for 10.0.2.15")
	}

	// ICMP echo with payloads up to full-size frames, contents checked.
	const pings = 300
	for seq := uint16(0); seq < pings; seq++ {
		size := int(seq) * 1472 / (pings - 1)
		ok := false
		for try := 0; try < 5 && !ok; try++ {
			if !send(t, ifp, echoRequest(mac, c.gw, seq, pattern(seq, size))) {
				return
			}
			ok = c.waitFor(2*time.Second, func() bool { return c.echo[seq] })
		}
		if !ok {
			t.Fatalf("no echo reply to seq %d (%d-byte payload)", seq, size)
		}
	}
	if c.badEco != 0 {
		t.Errorf("%d echo replies with wrong contents", c.badEco)
	}

	// A burst with no waiting: Transmit never blocks, a full ring is
	// ErrQueueFull, and every accepted frame completes.
	accepted, full := 0, 0
	for i := 0; i < 1000; i++ {
		switch err := ifp.Transmit(mbuf.FromBytes(arpRequest(mac, guestIP), 0)); err {
		case nil:
			accepted++
		case netif.ErrQueueFull:
			full++
		default:
			t.Fatalf("Transmit in a burst: %v", err)
		}
	}
	deadline = time.Now().Add(20 * time.Second)
	for d.TxComplete.Load() < d.TxFrames.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		d.reapTx()
	}
	if d.TxComplete.Load() != d.TxFrames.Load() {
		t.Errorf("transmitted %d, completed %d", d.TxFrames.Load(), d.TxComplete.Load())
	}

	if d.Mode() == ModeMSIX && d.Interrupts[1].Load() == irq0[1] {
		t.Errorf("no receive-queue MSI-X interrupt counted")
	}
	if d.Mode() == ModeINTx && d.Interrupts[0].Load() == irq0[0] {
		t.Errorf("no INTx interrupt counted")
	}
	if d.RxBad.Load() != 0 || d.BadUsed.Load() != 0 {
		t.Errorf("%d bad frames, %d bad used entries", d.RxBad.Load(), d.BadUsed.Load())
	}
	st := ifp.Stats()
	if n := st.TxSum.Packets - st0.TxSum.Packets; n < rounds+pings+uint64(accepted) {
		t.Errorf("interface counted %d frames sent, want at least %d", n, rounds+pings+accepted)
	}
	if n := st.TxSum.Drops - st0.TxSum.Drops; n != uint64(full) {
		t.Errorf("interface counted %d transmit drops, the burst saw %d ErrQueueFull", n, full)
	}
	if n := st.RxSum.Packets - st0.RxSum.Packets; n < rounds+pings {
		t.Errorf("interface counted %d frames received, want at least %d", n, rounds+pings)
	}
	var b strings.Builder
	kern.RunCommand(&b, "show vtnet")
	if !strings.Contains(b.String(), mac.String()) || !strings.Contains(b.String(), d.Mode()) {
		t.Errorf("show vtnet:\n%s", b.String())
	}
	irqs := fmt.Sprintf("config/rx/tx %d/%d/%d", d.Interrupts[0].Load()-irq0[0], d.Interrupts[1].Load()-irq0[1], d.Interrupts[2].Load()-irq0[2])
	if d.Mode() == ModeINTx {
		irqs = fmt.Sprintf("INTx %d", d.Interrupts[0].Load()-irq0[0])
	}
	t.Logf("%s %s (%s, %s): %d ARP round trips, %d echoes up to 1500-byte packets, burst %d accepted %d full; interrupts %s, kicks %d",
		ifp.Name(), mac, d.Mode(), d.Features().Format(FeatureNames), got, pings, accepted, full, irqs, d.TxKicks.Load())
}

// setup finds the device and installs a collector; ok false: no device.
func setup(t *kern.T) (*Device, *collector, bool) {
	pci.Probe()
	devs := Devices()
	if len(devs) == 0 {
		for _, id := range []uint16{virtio.PCI_DEVICE_ID_MODERN + virtio.DEVICE_ID_NET, virtio.PCI_DEVICE_ID_NET_TRN} {
			if p, err := pci.Lookup(virtio.PCI_VENDOR_ID, id); err == nil {
				t.Fatalf("a virtio-net function is present at %s but did not attach: %v", p.Addr, p.DriverErr)
			}
		}
		t.Logf("no virtio-net (harness -nic virtio): nothing to test")
		return nil, nil, false
	}
	d := devs[0]
	c := &collector{arp: map[[4]byte]int{}, echo: map[uint16]bool{}, kick: make(chan struct{}, 1), prev: d.Interface().InputFunc()}
	d.Interface().SetInput(c.input(d.MAC()))
	if err := d.Interface().SetUp(true); err != nil {
		t.Fatalf("SetUp: %v", err)
	}
	return d, c, true
}

// The device is reset behind the driver's back (status 0, as a device
// fault would leave it): the watchdog notices DRIVER_OK gone, resets and
// reinitialises, and traffic flows again.
func testResetRecovery(t *kern.T) {
	d, c, ok := setup(t)
	if !ok {
		return
	}
	defer d.Interface().SetInput(c.prev)
	mac := d.MAC()
	if n := arpRounds(t, d.Interface(), c, mac, 64); n != 64 {
		t.Fatalf("before the reset: %d of 64 ARP requests answered", n)
	}
	for round := 0; round < 3; round++ {
		r0 := d.Resets.Load()
		d.InjectReset()
		deadline := time.Now().Add(30 * time.Second)
		for d.Resets.Load() == r0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if d.Resets.Load() == r0 {
			t.Fatalf("round %d: the watchdog did not reset the device", round)
		}
		// The reset ends with DRIVER_OK (traffic sent meanwhile waits
		// for the queue locks the reset holds).
		for d.t.Status()&virtio.STATUS_DRIVER_OK == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if s := d.t.Status(); s&virtio.STATUS_DRIVER_OK == 0 {
			t.Fatalf("round %d: status %#x after the reset", round, s)
		}
		if n := arpRounds(t, d.Interface(), c, mac, 300); n != 300 {
			t.Fatalf("round %d after the reset: %d of 300 ARP requests answered", round, n)
		}
	}
	var b strings.Builder
	kern.RunCommand(&b, "show vtnet")
	if !strings.Contains(b.String(), "last reset: device status 0") {
		t.Errorf("show vtnet:\n%s", b.String())
	}
	t.Logf("3 injected resets recovered; %d resets in all", d.Resets.Load())
}

// The device loses bus mastering (as after a PCI-level fault) while
// frames are being sent: it can no longer reach the rings (QEMU's model
// also drops DRIVER_OK when bus mastering goes off). Transmit keeps
// returning without blocking (ErrQueueFull once the ring is full), the
// watchdog resets the device (turning bus mastering back on), and traffic
// flows again.
func testStopsResponding(t *kern.T) {
	d, c, ok := setup(t)
	if !ok {
		return
	}
	defer d.Interface().SetInput(c.prev)
	mac := d.MAC()
	r0 := d.Resets.Load()
	d.pci.SetCommand(0, pci.CMD_BUS_MASTER)
	start := time.Now()
	sent, full := 0, 0
	for d.Resets.Load() == r0 && time.Since(start) < 60*time.Second {
		switch err := d.Interface().Transmit(mbuf.FromBytes(arpRequest(mac, guestIP), 0)); err {
		case nil:
			sent++
		case netif.ErrQueueFull:
			full++
			time.Sleep(time.Millisecond)
		default:
			t.Fatalf("Transmit to a stuck device: %v", err)
		}
	}
	if d.Resets.Load() == r0 {
		d.pci.EnableBusMaster()
		t.Fatalf("no reset within a minute of the device losing bus mastering (%d sent, %d ring full)", sent, full)
	}
	why := "?"
	if p := d.lastReset.Load(); p != nil {
		why = *p
	}
	deadline := time.Now().Add(30 * time.Second)
	for d.t.Status()&virtio.STATUS_DRIVER_OK == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := arpRounds(t, d.Interface(), c, mac, 300); n != 300 {
		t.Fatalf("after the reset (%s): %d of 300 ARP requests answered", why, n)
	}
	t.Logf("reset after %v (%s); %d frames accepted and %d refused meanwhile", time.Since(start).Round(time.Millisecond), why, sent, full)
}
