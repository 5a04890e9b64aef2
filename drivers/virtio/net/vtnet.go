package vtnet

import (
	"errors"
	"fmt"
	"os"
	"strconv"
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
	"github.com/smpgo/smpgo/net/wire"
	"github.com/smpgo/smpgo/vm"
)

// Sizes: at most 256 entries per queue, one 2 KiB buffer per descriptor
// (header and a whole standard frame fit in one: §5.1.6.3.1 asks for
// 1526 bytes without MRG_RXBUF or GUEST_TSO).
const (
	maxQueue = 256
	bufSize  = 2048
	maxFrame = 1514 + 4 // a standard frame with one VLAN tag, no FCS

	// A TSO frame (VIRTIO_NET_F_HOST_TSO4) holds up to a 64 KiB IPv4
	// packet; it goes in a chain of the transmit descriptors' own
	// buffers, header first. TSO is offered to the stack only with a
	// ring that holds several such chains.
	maxTSOFrame = 14 + netif.TSOMax
	maxTxChain  = (HDR_LEN + maxTSOFrame + bufSize - 1) / bufSize

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
	plan Plan             // (c) queue pairs, control queue
	ifp  *netif.Interface // (c) after Attach
	mode string           // (c) ModeMSIX or ModeINTx
	qsz  int              // (c) entries per queue
	evs  []*ithread.Event // (c) MSI-X: config, then rx and tx of each pair; INTx: the line's

	// Reset serialises whole-device resets; it is taken before every
	// pair's rxMu and txMu (all rxMu in pair order, then all txMu).
	resetMu sync.Mutex

	pairs []*pair // (c) plan.Pairs of them

	// active is how many pairs the device runs: plan.Pairs once
	// VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET was acknowledged, else 1 (the
	// device's default, §5.1.6.5.5). Transmit uses only these.
	active atomic.Int32

	ctrlMu sync.Mutex // after resetMu and the pairs' locks
	ctrl   *CtrlQueue // (ctrlMu) nil without VIRTIO_NET_F_CTRL_VQ
	// Receive filter (filter.go), sent on the control queue.
	running   bool           // (ctrlMu) started: commands are answered
	mcast     []netif.HWAddr // (ctrlMu) joined groups (SetMulticast)
	rxFlags   netif.Flags    // (ctrlMu) IFF_PROMISC, IFF_ALLMULTI
	filter    Filter         // (ctrlMu) what the device was last told
	filterSet bool           // (ctrlMu) the device has the filter above
	mqErr     atomic.Pointer[string]

	isr atomic.Uint32 // (a) INTx: ISR bits the filter read

	// Counters (a), summed over the pairs (per pair: pair's own).
	Interrupts                     [3]atomic.Uint64 // config, rx, tx (INTx: all in [0])
	Stray                          atomic.Uint64
	RxFrames, TxFrames, TxComplete atomic.Uint64
	RxBad, TxFull, TxKicks         atomic.Uint64
	BadUsed, Resets, WatchdogPolls atomic.Uint64
	ConfigChanges                  atomic.Uint64
	// Checksum offload: frames sent with NEEDS_CSUM, received frames
	// marked valid for the stack, partial ones finished by the driver.
	TxCsum, RxCsumValid, RxCsumFinished atomic.Uint64
	// TCP segmentation offload: frames sent with GSO_TCPV4, the
	// segments the device cuts them into, requests refused.
	TxTSO, TxTSOSegs, TxTSOBad atomic.Uint64
	// Receive filter programmings and failed ones.
	FilterSets, FilterErrors atomic.Uint64
	loggedBad                atomic.Bool
	needReset                atomic.Bool
	lastReset                atomic.Pointer[string]
}

// pair is one receive/transmit queue pair with its own locks, rings,
// buffers, interrupt vectors and counters.
type pair struct {
	d   *Device // (c)
	idx int     // (c) 0-based pair number

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
	txIDs    []uint16      // (txMu) scratch: the descriptors of the chain being filled
	txLast   time.Time     // (txMu) last transmit completion or idle check

	// Counters (a).
	RxFrames, TxFrames, RxIntr, TxIntr atomic.Uint64
	_                                  [64]byte
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

func (d *Device) newQueue(index, size, bufBytes int) (*virtio.Queue, uintptr, error) {
	_, _, total := virtio.Layout(size)
	ring, err := allocDMA(total)
	if err != nil {
		return nil, 0, err
	}
	bufs, err := allocDMA(bufBytes)
	if err != nil {
		return nil, 0, err
	}
	q, err := virtio.NewQueue(index, size, unsafe.Slice((*byte)(ptr(ring)), total), uint64(ring), d.feat.Has(virtio.F_EVENT_IDX))
	return q, bufs, err
}

// queueSize is the entries the driver uses on queue q: the device's
// maximum rounded down to a power of 2, at most limit.
func (d *Device) queueSize(q, limit int) int {
	n := min(d.t.QueueMaxSize(q), limit)
	for n&(n-1) != 0 {
		n &= n - 1
	}
	return n
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
	t.QueuesNegotiated()
	d.mac = d.readMAC()
	if err := d.planQueues(); err != nil {
		virtio.Reset(t)
		return nil, err
	}
	d.qsz = maxQueue
	for i := 0; i < d.plan.Pairs; i++ {
		d.qsz = min(d.qsz, d.queueSize(RxQueue(i), maxQueue), d.queueSize(TxQueue(i), maxQueue))
	}
	if d.qsz < 2 {
		return nil, fmt.Errorf("vtnet: %s: queue size %d", p.Addr, d.qsz)
	}
	for i := 0; i < d.plan.Pairs; i++ {
		pp := &pair{d: d, idx: i}
		if pp.rx, pp.rxBuf, err = d.newQueue(RxQueue(i), d.qsz, d.qsz*bufSize); err != nil {
			return nil, err
		}
		if pp.tx, pp.txBuf, err = d.newQueue(TxQueue(i), d.qsz, d.qsz*bufSize); err != nil {
			return nil, err
		}
		pp.merge = Merger{Mergeable: d.feat.Has(VIRTIO_NET_F_MRG_RXBUF), Max: maxFrame, RingSize: d.qsz}
		d.pairs = append(d.pairs, pp)
	}
	if d.plan.Ctrl {
		n := d.queueSize(d.plan.CtrlIndex, 16)
		if n < 2 {
			return nil, fmt.Errorf("vtnet: %s: control queue size %d", p.Addr, n)
		}
		q, buf, err := d.newQueue(d.plan.CtrlIndex, n, vm.PageSize)
		if err != nil {
			return nil, err
		}
		d.ctrl = &CtrlQueue{Q: q, Buf: unsafe.Slice((*byte)(ptr(buf)), vm.PageSize), BufPhys: uint64(buf),
			Notify: func() { d.t.Notify(d.plan.CtrlIndex) }, Timeout: ctrlTimeout}
	}
	d.active.Store(1)
	// The interface exists before the first interrupt can want it; it
	// stays down (no IFF_UP) until the stack brings it up.
	var caps netif.Caps
	if d.feat.Has(VIRTIO_NET_F_CSUM) {
		caps |= netif.IFCAP_TXCSUM
	}
	if d.feat.Has(VIRTIO_NET_F_GUEST_CSUM) {
		caps |= netif.IFCAP_RXCSUM
	}
	if d.tsoOK() {
		caps |= netif.IFCAP_TSO4
	}
	ifp, err := netif.Attach(netif.Config{Name: "vtnet", Type: netif.IFT_ETHER, MAC: d.mac,
		TxQueues: d.plan.Pairs, RxQueues: d.plan.Pairs, Caps: caps,
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
	d.lockAll()
	err = d.start()
	d.unlockAll()
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

// ctrlTimeout bounds the wait for a control command's answer (QEMU
// answers in the notification itself; a loaded host may still be slow).
const ctrlTimeout = 5 * time.Second

// planQueues reads max_virtqueue_pairs and decides the pairs (PlanQueues).
// A bad max_virtqueue_pairs is reported and the device runs one pair.
func (d *Device) planQueues() error {
	maxPairs := 1
	if d.feat.Has(VIRTIO_NET_F_MQ) {
		virtio.ReadConfigStable(d.t, func() { maxPairs = int(d.t.ReadConfig(CFG_MAX_VIRTQUEUE_PAIRS, 2)) })
	}
	vectors := 0
	if os.Getenv("SMPGO_VTNET") != ModeINTx {
		vectors = d.pci.MSIXTableSize()
	}
	plan, err := PlanQueues(d.feat, maxPairs, d.t.NumQueues(), kern.NumCPU(), vectors)
	if err != nil && d.feat.Has(VIRTIO_NET_F_MQ) && plan.MaxPairs == 1 && plan.Pairs == 1 && d.t.NumQueues() >= 2 {
		// max_virtqueue_pairs out of range: run one pair; the control
		// queue's index depends on the bad value, so none.
		fmt.Printf("vtnet: %s: %v; one queue pair\n", d.pci.Addr, err)
		why := err.Error()
		d.mqErr.Store(&why)
		plan, err = Plan{Pairs: 1, MaxPairs: 1, CtrlIndex: 2}, nil
	}
	d.plan = plan
	return err
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

// setupInterrupts: MSI-X vector 0 for configuration changes, then 1+2i
// for pair i's rx and 2+2i for its tx (PlanQueues left enough of them),
// else INTx with an ISR-reading filter. With one pair rx and tx run on
// the last two CPUs (as before multiqueue); with several, pair i's
// interrupt threads are bound to CPU i mod NumCPU, so each CPU reaps its
// own receive queue. The environment word SMPGO_VTNET=intx on the kernel
// command line forces INTx (the harness boots the fallback that way).
func (d *Device) setupInterrupts() error {
	n := kern.NumCPU()
	name := fmt.Sprintf("vtnet@%s", d.pci.Addr)
	np := len(d.pairs)
	if os.Getenv("SMPGO_VTNET") != ModeINTx && d.pci.MSIXTableSize() >= 1+2*np {
		type slot struct {
			name   string
			cpu    int
			filter func() int
			fn     func()
		}
		slots := []slot{{"config", 0, func() int { d.Interrupts[0].Add(1); return ithread.FilterHandled | ithread.FilterScheduleThread }, d.configIntr}}
		for _, pp := range d.pairs {
			rxCPU, txCPU := pp.idx%n, pp.idx%n
			if np == 1 {
				rxCPU, txCPU = (n-1)%n, (n-2+n)%n
			}
			suffix := ""
			if np > 1 {
				suffix = strconv.Itoa(pp.idx)
			}
			slots = append(slots,
				slot{"rx" + suffix, rxCPU, func() int {
					d.Interrupts[1].Add(1)
					pp.RxIntr.Add(1)
					return ithread.FilterHandled | ithread.FilterScheduleThread
				}, pp.rxIntr},
				slot{"tx" + suffix, txCPU, func() int {
					d.Interrupts[2].Add(1)
					pp.TxIntr.Add(1)
					return ithread.FilterHandled | ithread.FilterScheduleThread
				}, pp.txIntr})
		}
		ok := true
		var vecs []*pci.MSIVector
		for i, sl := range slots {
			v, err := d.pci.MSIX(i)
			if err != nil {
				ok = false
				break
			}
			vecs = append(vecs, v)
			ev, err := ithread.SetupMSI(fmt.Sprintf("%s:%s", name, sl.name), v, sl.cpu)
			if err != nil {
				ok = false
				break
			}
			if err := ev.AddHandler(&ithread.Handler{Name: "vtnet", Flags: ithread.MPSAFE, Filter: sl.filter, Func: sl.fn}); err != nil {
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

// lockAll takes every pair's rxMu, then every txMu (the reset order).
func (d *Device) lockAll() {
	for _, pp := range d.pairs {
		pp.rxMu.Lock()
	}
	for _, pp := range d.pairs {
		pp.txMu.Lock()
	}
}

func (d *Device) unlockAll() {
	for _, pp := range d.pairs {
		pp.txMu.Unlock()
	}
	for _, pp := range d.pairs {
		pp.rxMu.Unlock()
	}
}

// start programs every queue (and the configuration vector), fills the
// receive rings, sets DRIVER_OK and, with several pairs and MSI-X, asks
// the device for them (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET: until then only
// the first pair runs). Called at attach, with the device negotiated,
// and by reset, with every pair's locks held. A refused or unanswered
// multiqueue command is not fatal: the device goes on with one pair
// (active 1), and the error is logged and kept for show vtnet.
func (d *Device) start() error {
	if got := d.t.SetConfigVector(d.vector(0)); got != d.vector(0) {
		return fmt.Errorf("vtnet: %s: device refused configuration vector (%#x)", d.pci.Addr, got)
	}
	d.active.Store(1)
	for _, pp := range d.pairs {
		for k, q := range []*virtio.Queue{pp.rx, pp.tx} {
			q.Reset()
			want := d.vector(uint16(1 + 2*pp.idx + k))
			got, err := d.t.SetupQueue(q.Index, q.Size, q.DescAddr(), q.DriverAddr(), q.DeviceAddr(), want)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("vtnet: %s: device refused MSI-X vector %d for queue %d", d.pci.Addr, want, q.Index)
			}
		}
	}
	d.ctrlMu.Lock()
	defer d.ctrlMu.Unlock()
	if d.ctrl != nil {
		q := d.ctrl.Q
		q.Reset()
		if _, err := d.t.SetupQueue(q.Index, q.Size, q.DescAddr(), q.DriverAddr(), q.DeviceAddr(), virtio.MSI_NO_VECTOR); err != nil {
			return err
		}
		q.DisableInterrupts() // polled
	}
	for _, pp := range d.pairs {
		pp.merge.Abort()
		for pp.rx.NumFree() > 0 {
			h, _ := pp.rx.NextHead()
			if _, err := pp.rx.Add(virtio.Buf{Addr: uint64(bufAt(pp.rxBuf, h)), Len: bufSize, Write: true}); err != nil {
				return err
			}
		}
		pp.rx.Kick()
		pp.tx.DisableInterrupts() // completions are reaped by Transmit; see txIntr
		pp.txIntrOn = false
		pp.txLast = time.Now()
	}
	if err := virtio.DriverOK(d.t); err != nil {
		return err
	}
	for _, pp := range d.pairs {
		d.t.Notify(pp.rx.Index)
	}
	if len(d.pairs) > 1 && d.mode == ModeMSIX {
		err := d.ctrl.Command(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, MQPairsSet(len(d.pairs)))
		if err != nil {
			why := err.Error()
			d.mqErr.Store(&why)
			fmt.Printf("vtnet: %s: multiqueue (%d pairs) not enabled, one pair: %v\n", d.pci.Addr, len(d.pairs), err)
		} else {
			d.active.Store(int32(len(d.pairs)))
		}
	}
	// The receive filter: QEMU restarts a CTRL_RX device promiscuous.
	d.running = true
	d.filterSet = false
	if err := d.programFilterLocked(); err != nil {
		fmt.Printf("vtnet: %s: %v\n", d.pci.Addr, err)
	}
	return nil
}

// bad counts a malformed completion from the device on receive queue q,
// logging the first.
func (d *Device) bad(q int, what string) {
	d.RxBad.Add(1)
	if d.ifp != nil {
		d.ifp.CountRx(q, netif.RxError, 1)
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
func (pp *pair) rxIntr() {
	for i := 0; ; i++ {
		pp.rxeof(i == 0)
		pp.rxMu.Lock()
		more := pp.rx.EnableInterrupts()
		pp.rxMu.Unlock()
		if !more {
			return
		}
	}
}

// txIntr runs only while Transmit found the ring full: it reaps and
// turns transmit interrupts off again.
func (pp *pair) txIntr() {
	pp.txMu.Lock()
	pp.txeofLocked()
	pp.tx.DisableInterrupts()
	pp.txIntrOn = false
	pp.txMu.Unlock()
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
		for _, pp := range d.pairs {
			pp.rxIntr()
			pp.txIntr()
		}
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
func (pp *pair) rxeof(suppress bool) {
	d := pp.d
	pp.rxSerial.Lock()
	defer pp.rxSerial.Unlock()
	var frames []*mbuf.Mbuf
	pp.rxMu.Lock()
	if suppress {
		pp.rx.DisableInterrupts()
	}
	q := pp.rx
	for n := 0; n < q.Size; n++ {
		u, ok, err := q.Pop()
		if err == virtio.ErrBadUsedIdx {
			d.BadUsed.Add(1)
			d.bad(pp.idx, "used index beyond the buffers posted")
			d.needReset.Store(true)
			break
		}
		if err == virtio.ErrBadID {
			d.BadUsed.Add(1)
			d.bad(pp.idx, "used entry for a descriptor not posted")
			continue
		}
		if !ok {
			break
		}
		if err == virtio.ErrBadLen {
			d.BadUsed.Add(1)
			d.bad(pp.idx, fmt.Sprintf("used length %d beyond a %d-byte buffer", u.Len, bufSize))
			u.Len = 0 // a first buffer of 0 bytes is rejected below
		}
		b := unsafe.Slice((*byte)(ptr(bufAt(pp.rxBuf, u.Head))), int(u.Len))
		switch pp.merge.Add(b) {
		case MergeDone:
			f := pp.merge.Frame()
			csum := d.rxCsum(f, pp.merge.Hdr())
			if m := mbuf.FromBytes(f, 0); m != nil {
				m.Pkt.Csum |= csum
				frames = append(frames, m)
			} else if d.ifp != nil {
				d.ifp.CountRx(pp.idx, netif.RxDrop, 1)
			}
		case MergeBad:
			d.bad(pp.idx, pp.merge.Why())
		}
		h, _ := q.NextHead()
		if _, err := q.Add(virtio.Buf{Addr: uint64(bufAt(pp.rxBuf, h)), Len: bufSize, Write: true}); err != nil {
			break // cannot happen: a descriptor was just freed
		}
	}
	if q.Kick() {
		d.t.Notify(q.Index)
	}
	pp.rxMu.Unlock()
	for _, m := range frames {
		d.RxFrames.Add(1)
		pp.RxFrames.Add(1)
		if d.ifp != nil {
			d.ifp.Input(pp.idx, m)
		} else {
			m.FreeChain()
		}
	}
}

// txeofLocked retires transmitted chains (the buffers are the driver's
// own: nothing to unmap or free).
func (pp *pair) txeofLocked() {
	d := pp.d
	for {
		_, ok, err := pp.tx.Pop()
		if err == virtio.ErrBadUsedIdx {
			d.BadUsed.Add(1)
			d.needReset.Store(true)
			return
		}
		if err == virtio.ErrBadID {
			d.BadUsed.Add(1)
			if d.ifp != nil {
				d.ifp.CountTxError(pp.idx, 1)
			}
			continue
		}
		if !ok {
			return
		}
		d.TxComplete.Add(1)
		pp.txLast = time.Now()
	}
}

// txHdr is the header for frame f of packet m: with a delayed TCP/UDP
// checksum (mbuf CSUM_TCP/CSUM_UDP, the field holding the pseudo-header's
// sum) VIRTIO_NET_HDR_F_NEEDS_CSUM with csum_start at the transport
// header and csum_offset at the field (§5.1.6.2: the device sums from
// csum_start to the end and stores the result there). A device without
// VIRTIO_NET_F_CSUM never gets one: the checksum is finished here.
func (d *Device) txHdr(f []byte, m *mbuf.Mbuf) Hdr {
	if m.Pkt.Csum&(mbuf.CSUM_TCP|mbuf.CSUM_UDP) == 0 || len(f) < 14+20 {
		return Hdr{}
	}
	start := 14 + int(f[14]&0xf)*4
	if !d.feat.Has(VIRTIO_NET_F_CSUM) {
		wire.CompleteCsum(f, start, int(m.Pkt.CsumData), m.Pkt.Csum&mbuf.CSUM_UDP != 0)
		return Hdr{}
	}
	d.TxCsum.Add(1)
	return Hdr{Flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, CsumStart: uint16(start), CsumOffset: m.Pkt.CsumData}
}

// rxCsum returns the mbuf checksum flags for received frame f with
// header h (§5.1.6.4.1, with VIRTIO_NET_F_GUEST_CSUM): DATA_VALID means
// the device checked the transport checksum; NEEDS_CSUM means the data
// is known good but the checksum is only partial (the host's stack left
// it to a NIC), so with IFCAP_RXCSUM off it is finished here before the
// stack verifies it.
func (d *Device) rxCsum(f []byte, h Hdr) mbuf.CsumFlags {
	if h.Flags&(VIRTIO_NET_HDR_F_DATA_VALID|VIRTIO_NET_HDR_F_NEEDS_CSUM) == 0 {
		return 0
	}
	if d.ifp != nil && d.ifp.CapEnable()&netif.IFCAP_RXCSUM != 0 {
		d.RxCsumValid.Add(1)
		return mbuf.CSUM_L4_CALC | mbuf.CSUM_L4_VALID
	}
	if h.Flags&VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
		d.RxCsumFinished.Add(1)
		wire.CompleteCsum(f, int(h.CsumStart), int(h.CsumOffset), len(f) > 23 && f[23] == wire.IPPROTO_UDP)
	}
	return 0
}

// tsoOK reports whether the device cuts TSO frames: HOST_TSO4 and CSUM
// negotiated, and rings that hold four of the longest chains.
func (d *Device) tsoOK() bool {
	return d.feat.Has(VIRTIO_NET_F_HOST_TSO4) && d.feat.Has(VIRTIO_NET_F_CSUM) && d.qsz >= 4*maxTxChain
}

// reapTx retires every pair's transmitted chains (tests, benchmarks).
func (d *Device) reapTx() {
	for _, pp := range d.pairs {
		pp.txMu.Lock()
		pp.txeofLocked()
		pp.txMu.Unlock()
	}
}

// Transmit implements netif.Driver: header and frame are copied into the
// buffer of the next free descriptor (one descriptor per frame; a TSO
// frame fills a chain of them) of pair q's transmit queue (q comes from
// netif's flow hash: one flow, one queue; taken modulo the pairs the
// device runs), which is published and, unless the device suppressed
// notifications, kicked. A full ring is ErrQueueFull, and turns transmit
// interrupts on so the ring is reaped as soon as the device catches up.
func (d *Device) Transmit(q int, m *mbuf.Mbuf) error {
	n := m.ChainLen()
	tso := m.Pkt.Csum&mbuf.CSUM_TSO != 0
	limit := maxFrame
	if tso {
		if !d.tsoOK() {
			d.TxTSOBad.Add(1)
			return fmt.Errorf("vtnet: TSO frame without HOST_TSO4")
		}
		limit = maxTSOFrame
	}
	if n > limit || n < 14 {
		return fmt.Errorf("vtnet: frame of %d bytes", n)
	}
	k := (HDR_LEN + n + bufSize - 1) / bufSize
	pp := d.pairs[q%int(d.active.Load())]
	pp.txMu.Lock()
	if pp.tx.InFlight() > pp.tx.Size/2 || pp.tx.NumFree() < k {
		pp.txeofLocked()
	}
	ids, ok := pp.tx.NextChain(pp.txIDs[:0], k)
	if !ok {
		if !pp.txIntrOn {
			pp.txIntrOn = true
			if pp.tx.EnableInterrupts() {
				pp.txeofLocked()
			}
		}
		if ids, ok = pp.tx.NextChain(pp.txIDs[:0], k); !ok {
			pp.txMu.Unlock()
			d.TxFull.Add(1)
			return netif.ErrQueueFull
		}
	}
	pp.txIDs = ids
	if pp.tx.InFlight() == 0 {
		pp.txLast = time.Now()
	}
	var bufs [maxTxChain]virtio.Buf
	for j, off := 0, 0; j < k; j++ {
		buf := bufAt(pp.txBuf, ids[j])
		start := 0
		if j == 0 {
			start = HDR_LEN
		}
		c := min(bufSize-start, n-off)
		b := unsafe.Slice((*byte)(ptr(buf)), start+c)
		m.CopyOut(off, b[start:])
		off += c
		bufs[j] = virtio.Buf{Addr: uint64(buf), Len: uint32(start + c)}
	}
	b := unsafe.Slice((*byte)(ptr(bufAt(pp.txBuf, ids[0]))), bufs[0].Len)
	var h Hdr
	if tso {
		var err error
		if h, err = TSOHdr(b[HDR_LEN:], m.Pkt.TSOSegSz); err != nil {
			pp.txMu.Unlock()
			d.TxTSOBad.Add(1)
			return err
		}
	} else {
		h = d.txHdr(b[HDR_LEN:], m) // the whole frame: one buffer
	}
	PutHdr(b, h)
	if _, err := pp.tx.Add(bufs[:k]...); err != nil {
		pp.txMu.Unlock()
		return err
	}
	if pp.tx.Kick() {
		d.TxKicks.Add(1)
		d.t.Notify(pp.tx.Index)
	}
	pp.txMu.Unlock()
	if tso {
		d.TxTSO.Add(1)
		d.TxTSOSegs.Add(uint64(netif.TSOSegments(m)))
	}
	d.TxFrames.Add(1)
	pp.TxFrames.Add(1)
	m.FreeChain()
	return nil
}

// watchdog polls for what interrupts may miss: a device that reset
// itself or asks for a reset (DEVICE_NEEDS_RESET, §2.1.2), a malformed
// used ring, transmit completions stalled with frames in flight on any
// pair, and receive buffers returned without an interrupt.
//
// A reset that fails (the device does not answer) is retried with the
// wait doubled each time, up to a minute.
func (d *Device) watchdog() {
	wait := watchdogPeriod
	for {
		time.Sleep(wait)
		why := ""
		for _, pp := range d.pairs {
			pp.txMu.Lock()
			pp.txeofLocked()
			h := Health{Status: d.t.Status(), MalformedUsed: d.needReset.Load(), TxInFlight: pp.tx.InFlight(), SinceTxProgress: time.Since(pp.txLast)}
			pp.txMu.Unlock()
			if why = Diagnose(h, txStall); why != "" {
				if len(d.pairs) > 1 && h.TxInFlight > 0 && h.SinceTxProgress > txStall {
					why += fmt.Sprintf(" (pair %d)", pp.idx)
				}
				break
			}
		}
		if why != "" {
			wait = Backoff(wait, watchdogPeriod, time.Minute, d.Reset(why) != nil)
			continue
		}
		wait = watchdogPeriod
		for _, pp := range d.pairs {
			pp.rxMu.Lock()
			pending := pp.rx.Pending()
			pp.rxMu.Unlock()
			if pending {
				d.WatchdogPolls.Add(1)
				pp.rxeof(false)
			}
		}
	}
}

// Reset reinitialises the device after a fault: reset, negotiation,
// queues (frames in flight on transmit are lost, counted as transmit
// errors), DRIVER_OK, and the multiqueue command again. why is logged
// and kept for `show vtnet`.
func (d *Device) Reset(why string) error {
	d.resetMu.Lock()
	defer d.resetMu.Unlock()
	d.lockAll()
	defer d.unlockAll()
	d.Resets.Add(1)
	d.lastReset.Store(&why)
	fmt.Printf("vtnet: %s: resetting: %s\n", d.pci.Addr, why)
	for _, pp := range d.pairs {
		if lost := pp.tx.InFlight(); lost > 0 && d.ifp != nil {
			d.ifp.CountTxError(pp.idx, uint64(lost))
		}
	}
	// Memory decoding and bus mastering back on, in case what needed
	// the reset also cleared them (a PCI-level error, a firmware poke).
	d.pci.EnableBusMaster()
	d.ctrlMu.Lock()
	d.running = false // no filter commands until start has the device back
	d.ctrlMu.Unlock()
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

// Pairs returns the queue pairs set up; ActivePairs how many the device
// runs (1 until the multiqueue command was acknowledged).
func (d *Device) Pairs() int       { return len(d.pairs) }
func (d *Device) ActivePairs() int { return int(d.active.Load()) }

// PairStats is one pair's counters.
type PairStats struct {
	RxFrames, TxFrames, RxIntr, TxIntr uint64
}

// PairStats returns pair i's counters.
func (d *Device) PairStats(i int) PairStats {
	pp := d.pairs[i]
	return PairStats{pp.RxFrames.Load(), pp.TxFrames.Load(), pp.RxIntr.Load(), pp.TxIntr.Load()}
}

// Events returns the interrupt events (MSI-X: config, then rx and tx of
// each pair).
func (d *Device) Events() []*ithread.Event { return d.evs }
