package e1000

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/smpgo/smpgo/drivers/pci"
	"github.com/smpgo/smpgo/kern"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
)

// E1000/Frames and E1000/ResetRecovery: ICMP echo with QEMU's user-network
// gateway (10.0.2.2 answers echo requests to itself), many frames each
// way with every reply's payload checked, and the watchdog's recovery
// from device resets injected while that traffic runs.
func init() {
	kern.RegisterTest(kern.Test{Name: "E1000/Frames", Fn: testFrames, Timeout: 8 * time.Minute})
	kern.RegisterTest(kern.Test{Name: "E1000/ResetRecovery", Fn: testResetRecovery, Timeout: 8 * time.Minute})
	kern.RegisterTest(kern.Test{Name: "E1000/TxChecksumOffload", Fn: testTxChecksumOffload, Timeout: 4 * time.Minute})
}

// testTxChecksumOffload: the gateway (slirp) drops ICMP with a bad
// checksum — 16 requests sent with the field zeroed and no offload get
// no reply — and answers every one of 600 requests whose checksum the
// device computed (context + data descriptors, POPTS.TXSM), payloads of
// 0 to 1472 bytes, each reply checked byte for byte.
func testTxChecksumOffload(t *kern.T) {
	e := newEchoer(t)
	if e == nil {
		return
	}
	defer e.close()
	const base, ctl = 40000, 16
	for s := uint16(base); s < base+ctl; s++ {
		f := echoRequest(e.mac, e.gw, s, pattern(s, payloadSize(s)))
		f[34+2], f[34+3] = 0, 0
		if err := e.send(f); err != nil {
			t.Fatalf("%v", err)
		}
	}
	e.wait(3*time.Second, func() bool { return false })
	e.mu.Lock()
	control := e.total
	e.mu.Unlock()
	if control != 0 {
		t.Fatalf("%d replies to requests with a zeroed checksum: the gateway does not check, the test proves nothing", control)
	}
	csum0, ctx0 := e.d.TxCsum.Load(), e.d.TxContexts.Load()
	e.offload = true
	const n = 600
	if err := e.run(base+ctl, n); err != nil {
		t.Fatalf("offloaded checksums: %v", err)
	}
	e.mu.Lock()
	bad, total := e.bad, e.total
	e.mu.Unlock()
	if bad != 0 || total != n {
		t.Errorf("%d replies verified of %d, %d with the wrong payload", total, n, bad)
	}
	csum, ctx := e.d.TxCsum.Load()-csum0, e.d.TxContexts.Load()-ctx0
	if csum < n || ctx == 0 {
		t.Errorf("%d frames with device checksums, %d context descriptors, for %d requests", csum, ctx, n)
	}
	t.Logf("zeroed checksums: %d of %d answered; device checksums: %d of %d answered and verified, %d frames with POPTS.TXSM, %d context descriptors",
		control, ctl, total, n, csum, ctx)
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

// echoID marks this test's ICMP echoes (the system's stack ignores
// replies to ids it did not send).
const echoID = 0xe100

// echoRequest builds an ICMP echo request from the guest to the gateway
// (MAC gw) with sequence number seq and payload.
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
	binary.BigEndian.PutUint16(ic[4:], echoID)
	binary.BigEndian.PutUint16(ic[6:], seq)
	copy(ic[8:], payload)
	binary.BigEndian.PutUint16(ic[2:], checksum(ic))
	return f
}

// echoReply returns the sequence number and payload of the gateway's
// echo reply to the guest, checking both checksums.
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
	if ic[0] != 0 || checksum(ic) != 0 || binary.BigEndian.Uint16(ic[4:]) != echoID {
		return 0, nil, false
	}
	return binary.BigEndian.Uint16(ic[6:]), ic[8:], true
}

// pattern is a payload that differs for every sequence number.
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

// payloadSize cycles through every size from 0 to a full frame's 1472.
func payloadSize(seq uint16) int { return int(seq) * 37 % 1473 }

// echoer counts the gateway's replies, tapping the interface: frames go
// on to the input that was installed (the system's stack owns em0).
type echoer struct {
	d    *Device
	mac  netif.HWAddr
	gw   netif.HWAddr // the gateway's MAC, from its ARP reply
	prev netif.InputFunc

	mu    sync.Mutex
	got   map[uint16]bool // seq → payload verified
	bad   int             // replies with the wrong payload
	arp   bool
	total int // replies verified
	kick  chan struct{}

	// offload: requests leave the ICMP checksum to the device (field 0,
	// a checksum request at offset 2 of the ICMP header, see
	// E1000/TxChecksumOffload).
	offload bool
}

func newEchoer(t *kern.T) *echoer {
	pci.Probe()
	devs := Devices()
	if len(devs) == 0 {
		if _, err := pci.Lookup(VendorIntel, Dev82540EM); err == nil {
			t.Fatalf("an 82540EM is present but did not attach")
		}
		t.Logf("no e1000 (harness -nic e1000): nothing to test")
		return nil
	}
	d := devs[0]
	e := &echoer{d: d, mac: d.MAC(), prev: d.ifp.InputFunc(), got: map[uint16]bool{}, kick: make(chan struct{}, 1)}
	d.ifp.SetInput(e.input)
	if err := d.ifp.SetUp(true); err != nil {
		d.ifp.SetInput(e.prev)
		t.Fatalf("SetUp: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !d.LinkUp() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// The gateway's MAC, and the gateway learns ours.
	for try := 0; try < 10 && !e.hasARP(); try++ {
		if err := e.send(arpRequest(e.mac)); err != nil {
			d.ifp.SetInput(e.prev)
			t.Fatalf("ARP request: %v", err)
		}
		e.wait(time.Second, e.hasARP)
	}
	if !e.hasARP() {
		d.ifp.SetInput(e.prev)
		t.Fatalf("no ARP reply from the gateway")
	}
	return e
}

func (e *echoer) close() { e.d.ifp.SetInput(e.prev) }

func (e *echoer) hasARP() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.arp
}

func (e *echoer) input(ifp *netif.Interface, m *mbuf.Mbuf) {
	f := m.Linearize()
	e.mu.Lock()
	if isARPReply(f, e.mac) {
		copy(e.gw[:], f[14+8:14+14])
		e.arp = true
	} else if seq, p, ok := echoReply(f, e.mac); ok {
		if bytes.Equal(p, pattern(seq, payloadSize(seq))) {
			if !e.got[seq] {
				e.got[seq] = true
				e.total++
			}
		} else {
			e.bad++
		}
	}
	e.mu.Unlock()
	select {
	case e.kick <- struct{}{}:
	default:
	}
	if e.prev != nil {
		e.prev(ifp, m)
		return
	}
	m.FreeChain()
}

// wait waits (bounded) until done reports true, re-checking on every
// received frame (and every 20 ms: two waiters share the kicks).
func (e *echoer) wait(d time.Duration, done func() bool) bool {
	deadline := time.After(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		select {
		case <-e.kick:
		case <-tick.C:
		case <-deadline:
			return done()
		}
	}
	return true
}

// send transmits f, waiting (bounded) while the ring is full.
func (e *echoer) send(f []byte) error {
	for i := 0; i < 5000; i++ {
		err := e.d.ifp.Transmit(mbuf.FromBytes(f, 0))
		if err != netif.ErrQueueFull {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("transmit ring full for 5 s")
}

// sendEcho sends echo request seq, its ICMP checksum left to the device
// when e.offload is set.
func (e *echoer) sendEcho(seq uint16) error {
	f := echoRequest(e.mac, e.gw, seq, pattern(seq, payloadSize(seq)))
	if !e.offload {
		return e.send(f)
	}
	f[34+2], f[34+3] = 0, 0
	return e.sendMbuf(func() *mbuf.Mbuf {
		m := mbuf.FromBytes(f, 0)
		// The device's TCP/UDP checksum engine sums from TUCSS to the
		// end and stores at TUCSO: the ICMP checksum, with no
		// pseudo-header, is the same computation.
		m.Pkt.Csum, m.Pkt.CsumData = mbuf.CSUM_UDP, 2
		return m
	})
}

// sendMbuf transmits the packet mk makes, waiting (bounded) while the
// ring is full.
func (e *echoer) sendMbuf(mk func() *mbuf.Mbuf) error {
	for i := 0; i < 5000; i++ {
		err := e.d.ifp.Transmit(mk())
		if err != netif.ErrQueueFull {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("transmit ring full for 5 s")
}

// run echoes sequence numbers [from, from+n) in windows of 32 requests
// in flight, resending unanswered ones (up to 8 times, 2 s apart): the
// windows ride out a device reset.
func (e *echoer) run(from, n int) error {
	const window = 32
	for base := from; base < from+n; base += window {
		end := min(base+window, from+n)
		missing := func() []uint16 {
			e.mu.Lock()
			defer e.mu.Unlock()
			var m []uint16
			for s := base; s < end; s++ {
				if !e.got[uint16(s)] {
					m = append(m, uint16(s))
				}
			}
			return m
		}
		for try := 0; ; try++ {
			miss := missing()
			if len(miss) == 0 {
				break
			}
			if try == 8 {
				return fmt.Errorf("echo requests %d..%d: %d unanswered after %d tries", base, end-1, len(miss), try)
			}
			for _, s := range miss {
				if err := e.sendEcho(s); err != nil {
					return fmt.Errorf("echo request %d: %w", s, err)
				}
			}
			e.wait(2*time.Second, func() bool { return len(missing()) == 0 })
		}
	}
	return nil
}

// testFrames: 10,000 echo requests with payloads of every size up to a
// full frame, 10,000 replies each checked byte for byte; both 256-entry
// rings wrap dozens of times.
func testFrames(t *kern.T) {
	e := newEchoer(t)
	if e == nil {
		return
	}
	defer e.close()
	const n = 10000
	st0, tx0, rx0 := e.d.Stats(), e.d.TxFrames.Load(), e.d.RxFrames.Load()
	start := time.Now()
	if err := e.run(0, n); err != nil {
		t.Fatalf("%v", err)
	}
	el := time.Since(start)
	e.mu.Lock()
	bad, total := e.bad, e.total
	e.mu.Unlock()
	if bad != 0 {
		t.Errorf("%d echo replies with the wrong payload", bad)
	}
	if total != n {
		t.Errorf("%d distinct replies verified, want %d", total, n)
	}
	st := e.d.Stats()
	if g := st["gptc"] - st0["gptc"]; g < n {
		t.Errorf("GPTC grew by %d, want at least %d", g, n)
	}
	if g := st["gprc"] - st0["gprc"]; g < n {
		t.Errorf("GPRC grew by %d, want at least %d", g, n)
	}
	if e.d.RxBad.Load() != 0 {
		t.Errorf("%d bad receive descriptors", e.d.RxBad.Load())
	}
	t.Logf("%d echo requests, %d replies verified (payloads 0 to 1472 bytes) in %v: %.0f frames/s each way; %d frames sent, %d received",
		n, total, el.Round(time.Millisecond), float64(n)/el.Seconds(), e.d.TxFrames.Load()-tx0, e.d.RxFrames.Load()-rx0)
}

// testResetRecovery: while echo traffic runs, the device is reset behind
// the driver's back three times; the watchdog notices each (RCTL/TCTL
// cleared), reinitialises the device, and every echo request is
// eventually answered with the right payload.
func testResetRecovery(t *kern.T) {
	e := newEchoer(t)
	if e == nil {
		return
	}
	defer e.close()
	const n, from, rounds = 3000, 20000, 3
	r0 := e.d.Resets.Load()
	done := make(chan error, 1)
	go func() { done <- e.run(from, n) }()
	for round := 0; round < rounds; round++ {
		// Mid-traffic: once a further share of the replies came back.
		want := (round + 1) * n / (rounds + 1)
		if !e.wait(2*time.Minute, func() bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.total >= want
		}) {
			t.Fatalf("round %d: fewer than %d replies after 2 minutes", round, want)
		}
		before := e.d.Resets.Load()
		e.d.InjectReset()
		deadline := time.Now().Add(30 * time.Second)
		for e.d.Resets.Load() == before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if e.d.Resets.Load() == before {
			t.Fatalf("round %d: the watchdog did not reset the device within 30 s", round)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("traffic across the resets: %v", err)
		}
	case <-time.After(5 * time.Minute):
		t.Fatalf("traffic did not finish within 5 minutes of the last reset")
	}
	e.mu.Lock()
	bad, total := e.bad, e.total
	e.mu.Unlock()
	if bad != 0 {
		t.Errorf("%d echo replies with the wrong payload", bad)
	}
	if total != n {
		t.Errorf("%d distinct replies verified, want %d", total, n)
	}
	if got := e.d.Resets.Load() - r0; got < rounds {
		t.Errorf("%d resets, want at least %d", got, rounds)
	}
	var b strings.Builder
	kern.RunCommand(&b, "show em")
	if !strings.Contains(b.String(), "last reset: receiver/transmitter disabled") {
		t.Errorf("show em:\n%s", b.String())
	}
	if !e.d.LinkUp() || e.d.ifp.LinkState() != netif.LINK_STATE_UP {
		t.Errorf("link %v after the resets", e.d.ifp.LinkState())
	}
	t.Logf("%d injected resets recovered mid-traffic (%d resets in all), %d echo replies verified across them", rounds, e.d.Resets.Load(), total)
}
