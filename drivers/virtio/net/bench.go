package vtnet

import (
	"encoding/binary"
	"runtime"
	"time"

	"github.com/smpgo/smpgo/drivers/pci"
	"github.com/smpgo/smpgo/kern"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
)

// Benchmarks against QEMU's user-network gateway (qemubench boots with
// -nic virtio): ARP round-trip latency, raw transmit throughput of
// full-size frames, and a window of ICMP echoes with full-size packets
// (receive and transmit). TCG numbers are an emulator's: ratios only.
func init() {
	kern.RegisterBenchmark(kern.Benchmark{Name: "VirtioNet/ARPRoundTrip", Fn: benchARP})
	kern.RegisterBenchmark(kern.Benchmark{Name: "VirtioNet/Tx1514", Fn: benchTx})
	kern.RegisterBenchmark(kern.Benchmark{Name: "VirtioNet/EchoWindow1472", Fn: benchEcho})
}

// benchDevice returns the device with its interface up and an input
// function that passes ARP replies' asking IPs and echo replies' sequence
// numbers to the channels, plus the gateway's MAC.
func benchDevice(b *kern.B) (*Device, chan [4]byte, chan uint16, netif.HWAddr, bool) {
	pci.Probe()
	devs := Devices()
	if len(devs) == 0 {
		b.Skip("no virtio-net (qemubench -nic virtio)")
		return nil, nil, nil, netif.HWAddr{}, false
	}
	d := devs[0]
	arps, echoes := make(chan [4]byte, 4096), make(chan uint16, 4096)
	gwc := make(chan netif.HWAddr, 1)
	mac := d.MAC()
	d.Interface().SetInput(func(_ *netif.Interface, m *mbuf.Mbuf) {
		f := m.Linearize()
		if tip, gw, ok := arpReply(f, mac); ok {
			select {
			case gwc <- gw:
			default:
			}
			select {
			case arps <- tip:
			default:
			}
		} else if seq, _, ok := echoReply(f, mac); ok {
			select {
			case echoes <- seq:
			default:
			}
		}
		m.FreeChain()
	})
	if err := d.Interface().SetUp(true); err != nil {
		b.Skip(err.Error())
		return nil, nil, nil, netif.HWAddr{}, false
	}
	// Learn the gateway's MAC, and let it learn 10.0.2.15.
	for try := 0; try < 10; try++ {
		transmitSpin(d.Interface(), arpRequest(mac, guestIP))
		select {
		case gw := <-gwc:
			for len(arps) > 0 {
				<-arps
			}
			return d, arps, echoes, gw, true
		case <-time.After(time.Second):
		}
	}
	b.Skip("the gateway does not answer ARP")
	return nil, nil, nil, netif.HWAddr{}, false
}

// transmitSpin transmits f, yielding while the ring is full.
func transmitSpin(ifp *netif.Interface, f []byte) error {
	for {
		err := ifp.Transmit(mbuf.FromBytes(f, 0))
		if err != netif.ErrQueueFull {
			return err
		}
		runtime.Gosched()
	}
}

func benchARP(b *kern.B) {
	d, arps, _, _, ok := benchDevice(b)
	if !ok {
		return
	}
	defer d.Interface().SetInput(nil)
	mac := d.MAC()
	irq := d.Interrupts[1].Load() + d.Interrupts[0].Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ip := [4]byte{10, 0, 2, byte(16 + i%200)}
		for answered := false; !answered; {
			transmitSpin(d.Interface(), arpRequest(mac, ip))
			timeout := time.After(time.Second)
			for waiting := true; waiting; {
				select {
				case got := <-arps:
					answered = got == ip
					waiting = !answered
				case <-timeout:
					waiting = false
				}
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(d.Interrupts[1].Load()+d.Interrupts[0].Load()-irq)/float64(b.N), "rx-intr/op")
}

func benchTx(b *kern.B) {
	d, _, _, gw, ok := benchDevice(b)
	if !ok {
		return
	}
	defer d.Interface().SetInput(nil)
	f := make([]byte, 1514)
	copy(f[0:6], gw[:])
	mac := d.MAC()
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[12:], 0x88b5) // IEEE local experimental: the gateway drops it
	kicks, full := d.TxKicks.Load(), d.TxFull.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		transmitSpin(d.Interface(), f)
	}
	for d.TxComplete.Load() < d.TxFrames.Load() {
		d.reapTx()
		runtime.Gosched()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*1514/b.Elapsed().Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(d.TxKicks.Load()-kicks)/float64(b.N), "kicks/op")
	b.ReportMetric(float64(d.TxFull.Load()-full)/float64(b.N), "ring-full/op")
}

func benchEcho(b *kern.B) {
	d, _, echoes, gw, ok := benchDevice(b)
	if !ok {
		return
	}
	defer d.Interface().SetInput(nil)
	mac := d.MAC()
	const window = 32
	payload := pattern(1, 1472)
	reqs := make([][]byte, window)
	for i := range reqs {
		reqs[i] = echoRequest(mac, gw, uint16(i), payload)
	}
	b.ResetTimer()
	sent, got, lost := 0, 0, 0
	for got < b.N {
		for sent-got-lost < window && sent < b.N+lost {
			transmitSpin(d.Interface(), reqs[sent%window])
			sent++
		}
		select {
		case <-echoes:
			got++
		case <-time.After(time.Second):
			lost = sent - got // count what is outstanding as lost and refill
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(got)*1514*2/b.Elapsed().Seconds()/1e6, "MB/s-both-ways")
	b.ReportMetric(float64(lost), "lost")
}
