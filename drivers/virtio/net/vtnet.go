package vtnet

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/drivers/pci"
	"github.com/smpgo/smpgo/drivers/virtio"
	"github.com/smpgo/smpgo/ithread"
	"github.com/smpgo/smpgo/kern"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/vm"
)

// Sizes: at most 256 entries per queue, one 2 KiB buffer per descriptor
// (header and a whole standard frame fit in one: §5.1.6.3.1 asks for
// 1526 bytes without MRG_RXBUF or GUEST_TSO).
const (
	maxQueue = 256
	bufSize  = 2048
	maxFrame = 1514 + 4 // a standard frame with one VLAN tag, no FCS

	// watchdogPeriod is how often the watchdog checks the device;
	// txStall is how long transmit completions may stop with frames in
	// flight before the device is reset.
	watchdogPeriod = 250 * time.Millisecond
	txStall        = 5 * time.Second
)

// Interrupt modes.
const (
	ModeMSIX = "msix"
	ModeINTx = "intx"
)

// Device is one attached virtio network function.
type Device struct {
	pci  *pci.Device      // (c)
	t    *virtio.PCI      // (c)
	mac  netif.HWAddr     // (c)
	feat virtio.Features  // (c) negotiated (the same after every reset)
	ifp  *netif.Interface // (c) after Attach
	mode string           // (c) ModeMSIX or ModeINTx
	qsz  int              // (c) entries per queue
	evs  []*ithread.Event // (c) MSI-X: config, rx, tx; INTx: the line's

	// Reset serialises whole-device resets; it is taken before rxMu and
	// txMu.
	resetMu sync.Mutex

	// rxSerial keeps one receive pass (reap and deliver) at a time, so
	// the interrupt thread and the watchdog never reorder frames; it is
	// held across Input (the stack's locks come after it, and it is never
	// taken on the transmit path).
	rxSerial sync.Mutex

	rxMu  sync.Mutex
	rx    *virtio.Queue // (rxMu)
	rxBuf uintptr       // (c) qsz buffers, physical == virtual
	merge Merger        // (rxMu)

	txMu     sync.Mutex
	tx       *virtio.Queue // (txMu)
	txBuf    uintptr       // (c)
	txIntrOn bool          // (txMu) tx interrupts enabled (only while the ring is full)
	txLast   time.Time     // (txMu) last transmit completion or idle check

	isr atomic.Uint32 // (a) INTx: ISR bits the filter read

	// Counters (a).
	Interrupts                     [3]atomic.Uint64 // config, rx, tx (INTx: all in [0])
	Stray                          atomic.Uint64
	RxFrames, TxFrames, TxComplete atomic.Uint64
	RxBad, TxFull, TxKicks         atomic.Uint64
	BadUsed, Resets, WatchdogPolls atomic.Uint64
	ConfigChanges                  atomic.Uint64
	loggedBad                      atomic.Bool
	needReset                      atomic.Bool
	lastReset                      atomic.Pointer[string]
}

var (
	devMu   sync.Mutex
	devices []*Device // (devMu)
)

func init() {
	pci.Register(&pci.Driver{
		Name: "vtnet",
		IDs: []pci.ID{
			pci.VendorDevice(virtio.PCI_VENDOR_ID, virtio.PCI_DEVICE_ID_MODERN+virtio.DEVICE_ID_NET),
			pci.VendorDevice(virtio.PCI_VENDOR_ID, virtio.PCI_DEVICE_ID_NET_TRN),
		},
		Attach: func(p *pci.Device) error { _, err := Attach(p); return err },
	})
	kern.RegisterShow("vtnet", "virtio-net interfaces: features, queues, interrupts, counters", showVtnet)
}

// Devices returns the attached virtio network devices.
func Devices() []*Device {
	devMu.Lock()
	defer devMu.Unlock()
	return append([]*Device(nil), devices...)
}

// ptr turns an identity-mapped physical address into a pointer (the
// memory is not the garbage collector's and never moves; reinterpreting
// the uintptr's storage keeps go vet's unsafeptr check meaningful
// elsewhere, as in uma).
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

// allocDMA returns n zeroed, physically contiguous bytes, anywhere: a
// modern virtio device takes 64-bit queue addresses (queue_desc,
// queue_driver, queue_device) and descriptors carry 64-bit buffer
// addresses (virtio 1.1 §4.1.4.3, §2.6.5), so no vm.Policy.Below.
func allocDMA(n int) (uintptr, error) {
	pages := (n + vm.PageSize - 1) / vm.PageSize
	a, ok := vm.AllocContig(vm.Policy{}, pages, 1)
	if !ok {
		return 0, errors.New("vtnet: no memory for DMA")
	}
	for p := a; p < a+uintptr(pages*vm.PageSize); p += vm.PageSize {
		amd64.ZeroPage(p)
	}
	return a, nil
}

func (d *Device) newQueue(index int) (*virtio.Queue, uintptr, error) {
	_, _, total := virtio.Layout(d.qsz)
	ring, err := allocDMA(total)
	if err != nil {
		return nil, 0, err
	}
	bufs, err := allocDMA(d.qsz * bufSize)
	if err != nil {
		return nil, 0, err
	}
	q, err := virtio.NewQueue(index, d.qsz, unsafe.Slice((*byte)(ptr(ring)), total), uint64(ring), d.feat.Has(virtio.F_EVENT_IDX))
	return q, bufs, err
}

func bufAt(base uintptr, i uint16) uintptr { return base + uintptr(i)*bufSize }

// Attach brings up a virtio-net function: negotiation, queues,
// interrupts, receive buffers, DRIVER_OK, and the network interface.
func Attach(p *pci.Device) (*Device, error) {
	t, err := virtio.OpenPCI(p)
	if err != nil {
		return nil, err
	}
	d := &Device{pci: p, t: t}
	if d.feat, err = virtio.Begin(t, Supported, 0); err != nil {
		return nil, err
	}
	if t.NumQueues() < 2 {
		return nil, fmt.Errorf("vtnet: %s: %d queues", p.Addr, t.NumQueues())
	}
	d.qsz = min(t.QueueMaxSize(RX_QUEUE), t.QueueMaxSize(TX_QUEUE), maxQueue)
	for d.qsz&(d.qsz-1) != 0 {
		d.qsz &= d.qsz - 1 // round down to a power of 2
	}
	if d.qsz < 2 {
		return nil, fmt.Errorf("vtnet: %s: queue size %d", p.Addr, d.qsz)
	}
	d.mac = d.readMAC()
	if d.rx, d.rxBuf, err = d.newQueue(RX_QUEUE); err != nil {
		return nil, err
	}
	if d.tx, d.txBuf, err = d.newQueue(TX_QUEUE); err != nil {
		return nil, err
	}
	d.merge = Merger{Mergeable: d.feat.Has(VIRTIO_NET_F_MRG_RXBUF), Max: maxFrame, RingSize: d.qsz}
	// The interface exists before the first interrupt can want it; it
	// stays down (no IFF_UP) until the stack brings it up.
	ifp, err := netif.Attach(netif.Config{Name: "vtnet", Type: netif.IFT_ETHER, MAC: d.mac,
		Flags: netif.IFF_BROADCAST | netif.IFF_MULTICAST}, d)
	if err != nil {
		return nil, err
	}
	ifp.Softc = d
	d.ifp = ifp
	if err := d.setupInterrupts(); err != nil {
		ifp.Detach()
		return nil, err
	}
	d.rxMu.Lock()
	d.txMu.Lock()
	err = d.start()
	d.txMu.Unlock()
	d.rxMu.Unlock()
	if err != nil {
		virtio.Reset(t)
		ifp.Detach()
		return nil, err
	}
	d.updateLink()
	devMu.Lock()
	devices = append(devices, d)
	devMu.Unlock()
	go d.watchdog()
	return d, nil
}

// readMAC reads the configured address (VIRTIO_NET_F_MAC), or makes up
// a locally administered one from the PCI address.
func (d *Device) readMAC() netif.HWAddr {
	var m netif.HWAddr
	if !d.feat.Has(VIRTIO_NET_F_MAC) {
		return netif.HWAddr{0x02, 0x56, 0x54, d.pci.Bus, d.pci.Dev, d.pci.Fn}
	}
	virtio.ReadConfigStable(d.t, func() {
		for i := range m {
			m[i] = byte(d.t.ReadConfig(CFG_MAC+i, 1))
		}
	})
	return m
}

// setupInterrupts: MSI-X vectors 0 (configuration), 1 (rx), 2 (tx) when
// the table has three entries, else INTx with an ISR-reading filter. The
// environment word SMPGO_VTNET=intx on the kernel command line forces
// INTx (the harness boots the fallback that way).
func (d *Device) setupInterrupts() error {
	n := kern.NumCPU()
	name := fmt.Sprintf("vtnet@%s", d.pci.Addr)
	if os.Getenv("SMPGO_VTNET") != ModeINTx && d.pci.MSIXTableSize() >= 3 {
		handlers := []func(){d.configIntr, d.rxIntr, d.txIntr}
		cpus := []int{0, (n - 1) % n, (n - 2 + n) % n}
		ok := true
		var vecs []*pci.MSIVector
		for i, fn := range handlers {
			v, err := d.pci.MSIX(i)
			if err != nil {
				ok = false
				break
			}
			vecs = append(vecs, v)
			ev, err := ithread.SetupMSI(fmt.Sprintf("%s:%s", name, []string{"config", "rx", "tx"}[i]), v, cpus[i])
			if err != nil {
				ok = false
				break
			}
			if err := ev.AddHandler(&ithread.Handler{Name: "vtnet", Flags: ithread.MPSAFE,
				Filter: func() int { d.Interrupts[i].Add(1); return ithread.FilterHandled | ithread.FilterScheduleThread },
				Func:   fn}); err != nil {
				return err
			}
			d.evs = append(d.evs, ev)
		}
		if ok {
			d.mode = ModeMSIX
			return nil
		}
		// Fall back to INTx: with MSI-X left enabled the device would
		// never raise its line.
		for _, ev := range d.evs {
			ev.Remove()
		}
		for _, v := range vecs {
			v.Disable()
		}
		d.evs = nil
	}
	ev, err := ithread.SetupISA(name, int(d.pci.InterruptLine), n-1)
	if err != nil {
		return err
	}
	d.pci.SetCommand(0, pci.CMD_INTX_DISABLE)
	if err := ev.AddHandler(&ithread.Handler{Name: "vtnet", Flags: ithread.MPSAFE, Filter: d.intxFilter, Func: d.intxThread}); err != nil {
		return err
	}
	d.evs = []*ithread.Event{ev}
	d.mode = ModeINTx
	return nil
}

// vector returns the MSI-X vector for vector slot i, or MSI_NO_VECTOR.
func (d *Device) vector(i uint16) uint16 {
	if d.mode == ModeMSIX {
		return i
	}
	return virtio.MSI_NO_VECTOR
}

// start programs both queues (and the configuration vector), fills the
// receive ring and sets DRIVER_OK. Called at attach, with the device
// negotiated, and by reset with rxMu and txMu held.
func (d *Device) start() error {
	if got := d.t.SetConfigVector(d.vector(0)); got != d.vector(0) {
		return fmt.Errorf("vtnet: %s: device refused configuration vector (%#x)", d.pci.Addr, got)
	}
	for i, q := range []*virtio.Queue{d.rx, d.tx} {
		q.Reset()
		got, err := d.t.SetupQueue(q.Index, q.Size, q.DescAddr(), q.DriverAddr(), q.DeviceAddr(), d.vector(uint16(i+1)))
		if err != nil {
			return err
		}
		if got != d.vector(uint16(i+1)) {
			return fmt.Errorf("vtnet: %s: device refused MSI-X vector %d for queue %d", d.pci.Addr, i+1, q.Index)
		}
	}
	d.merge.Abort()
	for d.rx.NumFree() > 0 {
		h, _ := d.rx.NextHead()
		if _, err := d.rx.Add(virtio.Buf{Addr: uint64(bufAt(d.rxBuf, h)), Len: bufSize, Write: true}); err != nil {
			return err
		}
	}
	d.rx.Kick()
	d.tx.DisableInterrupts() // completions are reaped by Transmit; see txIntr
	d.txIntrOn = false
	d.txLast = time.Now()
	if err := virtio.DriverOK(d.t); err != nil {
		return err
	}
	d.t.Notify(RX_QUEUE)
	return nil
}

// bad counts a malformed completion from the device, logging the first.
func (d *Device) bad(what string) {
	d.RxBad.Add(1)
	if d.ifp != nil {
		d.ifp.CountRx(0, netif.RxError, 1)
	}
	if !d.loggedBad.Swap(true) {
		fmt.Printf("vtnet: %s: %s (further ones only counted)\n", d.pci.Addr, what)
	}
}

// configIntr handles a configuration change: link state.
func (d *Device) configIntr() {
	d.ConfigChanges.Add(1)
	d.updateLink()
}

// rxIntr reaps the receive queue with further interrupts suppressed,
// then re-enables them and reaps again if buffers arrived meanwhile
// (§2.7.7: the enable/recheck closes the race with the device).
func (d *Device) rxIntr() {
	for i := 0; ; i++ {
		d.rxeof(i == 0)
		d.rxMu.Lock()
		more := d.rx.EnableInterrupts()
		d.rxMu.Unlock()
		if !more {
			return
		}
	}
}

// txIntr runs only while Transmit found the ring full: it reaps and
// turns transmit interrupts off again.
func (d *Device) txIntr() {
	d.txMu.Lock()
	d.txeofLocked()
	d.tx.DisableInterrupts()
	d.txIntrOn = false
	d.txMu.Unlock()
}

// intxFilter reads (and so clears) the ISR, which deasserts the line
// (§4.1.4.5); 0 means another device on a shared line.
func (d *Device) intxFilter() int {
	s := d.t.ISR()
	if s == 0 {
		d.Stray.Add(1)
		return ithread.FilterStray
	}
	d.Interrupts[0].Add(1)
	d.isr.Or(uint32(s))
	return ithread.FilterHandled | ithread.FilterScheduleThread
}

func (d *Device) intxThread() {
	s := d.isr.Swap(0)
	if s&virtio.ISR_CONFIG != 0 {
		d.configIntr()
	}
	if s&virtio.ISR_QUEUE != 0 {
		d.rxIntr()
		d.txIntr()
	}
}

// LinkUp reports the device's link status (always up without
// VIRTIO_NET_F_STATUS, §5.1.4).
func (d *Device) LinkUp() bool {
	if !d.feat.Has(VIRTIO_NET_F_STATUS) {
		return true
	}
	var s uint32
	virtio.ReadConfigStable(d.t, func() { s = d.t.ReadConfig(CFG_STATUS, 2) })
	return s&VIRTIO_NET_S_LINK_UP != 0
}

func (d *Device) updateLink() {
	s := netif.LINK_STATE_DOWN
	if d.LinkUp() {
		s = netif.LINK_STATE_UP
	}
	if d.ifp != nil && d.ifp.LinkState() != s {
		d.ifp.SetLinkState(s)
	}
}

// rxeof passes completed receive buffers up: each is copied out (merged
// with the buffers that follow it under MRG_RXBUF), re-posted, and the
// frames handed to the stack after the lock is dropped (the stack may
// transmit from inside Input).
func (d *Device) rxeof(suppress bool) {
	d.rxSerial.Lock()
	defer d.rxSerial.Unlock()
	var frames []*mbuf.Mbuf
	d.rxMu.Lock()
	if suppress {
		d.rx.DisableInterrupts()
	}
	q := d.rx
	for n := 0; n < q.Size; n++ {
		u, ok, err := q.Pop()
		if err == virtio.ErrBadUsedIdx {
			d.BadUsed.Add(1)
			d.bad("used index beyond the buffers posted")
			d.needReset.Store(true)
			break
		}
		if err == virtio.ErrBadID {
			d.BadUsed.Add(1)
			d.bad("used entry for a descriptor not posted")
			continue
		}
		if !ok {
			break
		}
		if err == virtio.ErrBadLen {
			d.BadUsed.Add(1)
			d.bad(fmt.Sprintf("used length %d beyond a %d-byte buffer", u.Len, bufSize))
			u.Len = 0 // a first buffer of 0 bytes is rejected below
		}
		b := unsafe.Slice((*byte)(ptr(bufAt(d.rxBuf, u.Head))), int(u.Len))
		switch d.merge.Add(b) {
		case MergeDone:
			if m := mbuf.FromBytes(d.merge.Frame(), 0); m != nil {
				frames = append(frames, m)
			} else if d.ifp != nil {
				d.ifp.CountRx(0, netif.RxDrop, 1)
			}
		case MergeBad:
			d.bad(d.merge.Why())
		}
		h, _ := q.NextHead()
		if _, err := q.Add(virtio.Buf{Addr: uint64(bufAt(d.rxBuf, h)), Len: bufSize, Write: true}); err != nil {
			break // cannot happen: a descriptor was just freed
		}
	}
	if q.Kick() {
		d.t.Notify(RX_QUEUE)
	}
	d.rxMu.Unlock()
	for _, m := range frames {
		d.RxFrames.Add(1)
		if d.ifp != nil {
			d.ifp.Input(0, m)
		} else {
			m.FreeChain()
		}
	}
}

// txeofLocked retires transmitted chains (the buffers are the driver's
// own: nothing to unmap or free).
func (d *Device) txeofLocked() {
	for {
		_, ok, err := d.tx.Pop()
		if err == virtio.ErrBadUsedIdx {
			d.BadUsed.Add(1)
			d.needReset.Store(true)
			return
		}
		if err == virtio.ErrBadID {
			d.BadUsed.Add(1)
			if d.ifp != nil {
				d.ifp.CountTxError(0, 1)
			}
			continue
		}
		if !ok {
			return
		}
		d.TxComplete.Add(1)
		d.txLast = time.Now()
	}
}

// Transmit implements netif.Driver: header and frame are copied into the
// buffer of the next free descriptor (one descriptor per frame), which is
// published and, unless the device suppressed notifications, kicked.
// A full ring is ErrQueueFull, and turns transmit interrupts on so the
// ring is reaped as soon as the device catches up.
func (d *Device) Transmit(q int, m *mbuf.Mbuf) error {
	n := m.ChainLen()
	if n > maxFrame || n < 14 {
		return fmt.Errorf("vtnet: frame of %d bytes", n)
	}
	d.txMu.Lock()
	if d.tx.InFlight() > d.tx.Size/2 || d.tx.NumFree() == 0 {
		d.txeofLocked()
	}
	h, ok := d.tx.NextHead()
	if !ok {
		if !d.txIntrOn {
			d.txIntrOn = true
			if d.tx.EnableInterrupts() {
				d.txeofLocked()
			}
		}
		if h, ok = d.tx.NextHead(); !ok {
			d.txMu.Unlock()
			d.TxFull.Add(1)
			return netif.ErrQueueFull
		}
	}
	if d.tx.InFlight() == 0 {
		d.txLast = time.Now()
	}
	buf := bufAt(d.txBuf, h)
	b := unsafe.Slice((*byte)(ptr(buf)), HDR_LEN+n)
	PutHdr(b, Hdr{})
	m.CopyOut(0, b[HDR_LEN:])
	if _, err := d.tx.Add(virtio.Buf{Addr: uint64(buf), Len: uint32(HDR_LEN + n)}); err != nil {
		d.txMu.Unlock()
		return err
	}
	if d.tx.Kick() {
		d.TxKicks.Add(1)
		d.t.Notify(TX_QUEUE)
	}
	d.txMu.Unlock()
	d.TxFrames.Add(1)
	m.FreeChain()
	return nil
}

// watchdog polls for what interrupts may miss: a device that reset
// itself or asks for a reset (DEVICE_NEEDS_RESET, §2.1.2), a malformed
// used ring, transmit completions stalled with frames in flight, and
// receive buffers returned without an interrupt.
//
// A reset that fails (the device does not answer) is retried with the
// wait doubled each time, up to a minute.
func (d *Device) watchdog() {
	wait := watchdogPeriod
	for {
		time.Sleep(wait)
		d.txMu.Lock()
		d.txeofLocked()
		h := Health{Status: d.t.Status(), MalformedUsed: d.needReset.Load(), TxInFlight: d.tx.InFlight(), SinceTxProgress: time.Since(d.txLast)}
		d.txMu.Unlock()
		if why := Diagnose(h, txStall); why != "" {
			wait = Backoff(wait, watchdogPeriod, time.Minute, d.Reset(why) != nil)
			continue
		}
		wait = watchdogPeriod
		d.rxMu.Lock()
		pending := d.rx.Pending()
		d.rxMu.Unlock()
		if pending {
			d.WatchdogPolls.Add(1)
			d.rxeof(false)
		}
	}
}

// Reset reinitialises the device after a fault: reset, negotiation,
// queues (frames in flight on transmit are lost, counted as transmit
// errors),
// DRIVER_OK. why is logged and kept for `show vtnet`.
func (d *Device) Reset(why string) error {
	d.resetMu.Lock()
	defer d.resetMu.Unlock()
	d.rxMu.Lock()
	d.txMu.Lock()
	defer d.rxMu.Unlock()
	defer d.txMu.Unlock()
	d.Resets.Add(1)
	d.lastReset.Store(&why)
	fmt.Printf("vtnet: %s: resetting: %s\n", d.pci.Addr, why)
	if lost := d.tx.InFlight(); lost > 0 && d.ifp != nil {
		d.ifp.CountTxError(0, uint64(lost))
	}
	// Memory decoding and bus mastering back on, in case what needed
	// the reset also cleared them (a PCI-level error, a firmware poke).
	d.pci.EnableBusMaster()
	f, err := virtio.Begin(d.t, Supported, 0)
	if err == nil && f != d.feat {
		err = fmt.Errorf("vtnet: features changed across reset: %#x, was %#x", uint64(f), uint64(d.feat))
	}
	if err == nil {
		err = d.start()
	}
	d.needReset.Store(false)
	if err != nil {
		fmt.Printf("vtnet: %s: reset failed: %v\n", d.pci.Addr, err)
	}
	return err
}

// InjectReset resets the device behind the driver's back (status 0), as
// a device fault would; the watchdog notices and recovers. For tests.
func (d *Device) InjectReset() { d.t.SetStatus(0) }

// MAC returns the Ethernet address.
func (d *Device) MAC() netif.HWAddr { return d.mac }

// Interface returns the network interface.
func (d *Device) Interface() *netif.Interface { return d.ifp }

// Features returns the negotiated features.
func (d *Device) Features() virtio.Features { return d.feat }

// Mode returns ModeMSIX or ModeINTx.
func (d *Device) Mode() string { return d.mode }

// Events returns the interrupt events (MSI-X: config, rx, tx).
func (d *Device) Events() []*ithread.Event { return d.evs }
