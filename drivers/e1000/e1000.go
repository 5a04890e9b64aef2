package e1000

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/drivers/pci"
	"github.com/smpgo/smpgo/ithread"
	"github.com/smpgo/smpgo/kern"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
	"github.com/smpgo/smpgo/vm"
)

// Ring and buffer sizes: 256 descriptors (4 KiB, a multiple of 128 bytes
// as RDLEN/TDLEN require, §13.4.27), one 2 KiB buffer per descriptor
// (RCTL.BSIZE 2048 without LPE: every standard frame fits in one).
const (
	nDesc   = 256
	bufSize = 2048
	maxTx   = 1514 // without FCS, which the device adds (TXD_CMD_IFCS)

	// DefaultITR throttles interrupts to one per 100 µs (ITR counts
	// 256 ns units, §13.4.18); 0 turns moderation off.
	DefaultITR = 390

	interruptCauses = ICR_RXT0 | ICR_RXO | ICR_RXDMT0 | ICR_LSC | ICR_TXDW
)

// Device is one attached 8254x.
type Device struct {
	pci  *pci.Device  // (c)
	regs uintptr      // (c) BAR0, uncached
	mac  netif.HWAddr // (c)
	ifp  *netif.Interface
	ev   *ithread.Event // (c)

	mu         sync.Mutex    // rings, and read-modify-write of device registers
	rx         dmaRing       // (mu)
	tx         dmaRing       // (mu)
	rxDropping bool          // (mu) inside a frame that spilled over a buffer
	rxScratch  [bufSize]byte // (mu) a frame copied out of its DMA buffer

	causes atomic.Uint32 // (a) ICR bits the filter read, for the thread
	txLast time.Time     // (mu) last transmit completion, or when the ring stopped being empty
	txCtx  *TxContext    // (mu) the checksum context last given to the device, nil: none

	mcast   []netif.HWAddr // (mu) joined groups (SetMulticast)
	rxFlags netif.Flags    // (mu) IFF_PROMISC, IFF_ALLMULTI
	itr     atomic.Uint32  // (a) interrupt moderation, restored by Reset

	lastReset atomic.Pointer[string] // why the watchdog last reset the device

	// Counters (a).
	Interrupts, Stray, RxFrames, TxFrames, RxBad, TxFull, BadHead, Resets atomic.Uint64
	// Checksum offload: frames the device checksummed, context
	// descriptors written, received frames with a checksum the device
	// verified.
	TxCsum, TxContexts, RxCsumValid atomic.Uint64
	// TCP segmentation: requests handed to the device, the segments
	// they make, malformed ones refused.
	TxTSO, TxTSOSegs, TxTSOBad atomic.Uint64
	// McastFiltered counts multicast frames the MTA hash let through
	// for a group not joined (dropped by the driver).
	McastFiltered atomic.Uint64
	stats         [len(statRegs)]atomic.Uint64
	loggedBad     atomic.Bool
}

// dmaRing is a descriptor ring and its buffers in physically contiguous
// pages from vm (identity-mapped, so the physical address the device is
// given is also where the kernel reads and writes them). They may lie
// anywhere: the 8254x does 64-bit DMA (RDBAH/TDBAH hold the rings' high
// halves, descriptors carry 64-bit buffer addresses; 8254x SDM §3.2.3,
// §13.4.28), so no vm.Policy.Below.
type dmaRing struct {
	Ring
	desc uintptr // descriptors (physical == virtual)
	buf  uintptr // nDesc buffers of bufSize
}

func (r *dmaRing) descAt(i int) uintptr { return r.desc + uintptr(i)*DescSize }
func (r *dmaRing) bufAt(i int) uintptr  { return r.buf + uintptr(i)*bufSize }

func allocRing() (dmaRing, error) {
	const pages = (nDesc*DescSize + vm.PageSize - 1) / vm.PageSize
	desc, ok := vm.AllocContig(vm.Policy{}, pages, 1)
	if !ok {
		return dmaRing{}, errors.New("e1000: no memory for a descriptor ring")
	}
	buf, ok := vm.AllocContig(vm.Policy{}, nDesc*bufSize/vm.PageSize, 1)
	if !ok {
		vm.FreeContig(desc, pages)
		return dmaRing{}, errors.New("e1000: no memory for ring buffers")
	}
	for p := desc; p < desc+pages*vm.PageSize; p += vm.PageSize {
		amd64.ZeroPage(p)
	}
	return dmaRing{Ring: Ring{N: nDesc}, desc: desc, buf: buf}, nil
}

func (d *Device) read(reg uintptr) uint32     { return amd64.Load32(d.regs + reg) }
func (d *Device) write(reg uintptr, v uint32) { amd64.Store32(d.regs+reg, v) }

var (
	devMu   sync.Mutex
	devices []*Device // (devMu)
)

func init() {
	pci.Register(&pci.Driver{
		Name:   "e1000",
		IDs:    []pci.ID{pci.VendorDevice(VendorIntel, Dev82540EM), pci.VendorDevice(VendorIntel, Dev82545EMCu)},
		Attach: func(p *pci.Device) error { _, err := Attach(p); return err },
	})
	kern.RegisterShow("em", "e1000 interfaces: link, rings, interrupt and statistics counters", showEM)
}

// Devices returns the attached e1000s.
func Devices() []*Device {
	devMu.Lock()
	defer devMu.Unlock()
	return append([]*Device(nil), devices...)
}

// Attach brings up an 8254x: reset, MAC, rings, interrupts, link, and
// the network interface.
func Attach(p *pci.Device) (*Device, error) {
	regs, err := p.MapBAR(0)
	if err != nil {
		return nil, err
	}
	p.EnableBusMaster()
	d := &Device{pci: p, regs: regs}
	if err := d.reset(); err != nil {
		return nil, err
	}
	d.mac = d.readMAC()
	d.setReceiveAddress()
	if d.rx, err = allocRing(); err != nil {
		return nil, err
	}
	if d.tx, err = allocRing(); err != nil {
		return nil, err
	}
	d.initRx()
	d.initTx()
	d.SetITR(DefaultITR)

	// Interrupts: INTx through the I/O APIC (the 82540EM has no MSI).
	d.ev, err = ithread.SetupISA(fmt.Sprintf("em@%s", p.Addr), int(p.InterruptLine), kern.NumCPU()-1)
	if err != nil {
		return nil, err
	}
	p.SetCommand(0, pci.CMD_INTX_DISABLE)
	if err := d.ev.AddHandler(&ithread.Handler{Name: "em", Flags: ithread.MPSAFE, Filter: d.filter, Func: d.intrThread}); err != nil {
		return nil, err
	}
	ifp, err := netif.Attach(netif.Config{Name: "em", Type: netif.IFT_ETHER, MAC: d.mac,
		Flags: netif.IFF_BROADCAST | netif.IFF_MULTICAST, Caps: netif.IFCAP_RXCSUM | netif.IFCAP_TXCSUM | netif.IFCAP_TSO4}, d)
	if err != nil {
		return nil, err
	}
	d.ifp = ifp
	d.write(IMS, interruptCauses)
	// Link up (§14.5.1: with auto-negotiation, CTRL.SLU and ASDE).
	d.mu.Lock()
	d.write(CTRL, d.read(CTRL)&^(CTRL_LRST|CTRL_PHY_RST|CTRL_VME)|CTRL_SLU|CTRL_ASDE)
	d.mu.Unlock()
	d.updateLink()
	devMu.Lock()
	devices = append(devices, d)
	devMu.Unlock()
	go d.watchdog()
	return d, nil
}

// reset issues a device reset (§14.9: CTRL.RST, self-clearing) and masks
// every interrupt.
func (d *Device) reset() error {
	d.write(IMC, 0xffffffff)
	d.write(CTRL, d.read(CTRL)|CTRL_RST)
	for i := 0; d.read(CTRL)&CTRL_RST != 0; i++ {
		if i == 100 {
			return errors.New("e1000: reset did not complete")
		}
		time.Sleep(time.Millisecond)
	}
	d.write(IMC, 0xffffffff)
	d.read(ICR)
	return nil
}

// readMAC reads the Ethernet address from EEPROM words 0–2 (§5.6.1)
// through EERD (§13.4.4), falling back to what RAL0/RAH0 hold.
func (d *Device) readMAC() netif.HWAddr {
	var m netif.HWAddr
	for w := 0; w < 3; w++ {
		v, ok := d.eepromRead(w)
		if !ok {
			lo, hi := d.read(RAL0), d.read(RAH0)
			return netif.HWAddr{byte(lo), byte(lo >> 8), byte(lo >> 16), byte(lo >> 24), byte(hi), byte(hi >> 8)}
		}
		m[2*w], m[2*w+1] = byte(v), byte(v>>8)
	}
	return m
}

func (d *Device) eepromRead(word int) (uint16, bool) {
	d.write(EERD, EERD_START|uint32(word)<<EERD_ADDR_SHIFT)
	for i := 0; i < 10000; i++ {
		if v := d.read(EERD); v&EERD_DONE != 0 {
			return uint16(v >> EERD_DATA_SHIFT), true
		}
	}
	return 0, false
}

// setReceiveAddress programs RAL0/RAH0 with the MAC and clears the
// multicast table (§14.4).
func (d *Device) setReceiveAddress() {
	m := d.mac
	d.write(RAL0, uint32(m[0])|uint32(m[1])<<8|uint32(m[2])<<16|uint32(m[3])<<24)
	d.write(RAH0, uint32(m[4])|uint32(m[5])<<8|RAH_AV)
	for i := uintptr(0); i < 128; i++ {
		d.write(MTA+4*i, 0)
	}
}

// initRx arms every descriptor with its buffer and gives all but one to
// the device (§14.4).
func (d *Device) initRx() {
	r := &d.rx
	var b [DescSize]byte
	for i := 0; i < nDesc; i++ {
		PutRx(b[:], uint64(r.bufAt(i)))
		d.putDesc(r.descAt(i), &b)
	}
	r.Next, r.Tail = 0, nDesc-1
	d.write(RDBAL, uint32(r.desc))
	d.write(RDBAH, uint32(uint64(r.desc)>>32))
	d.write(RDLEN, nDesc*DescSize)
	d.write(RDH, 0)
	d.write(RDT, uint32(r.Tail))
	d.write(RDTR, 0)
	d.write(RXCSUM, RXCSUM_IPOFLD|RXCSUM_TUOFLD)
	d.write(RCTL, RCTL_EN|RCTL_BAM|RCTL_BSIZE_2048|RCTL_SECRC|RCTL_RDMTS_HALF)
}

// initTx sets up an empty transmit ring (§14.5).
func (d *Device) initTx() {
	r := &d.tx
	r.Next, r.Tail = 0, 0
	d.txCtx = nil // the device forgot it
	d.write(TDBAL, uint32(r.desc))
	d.write(TDBAH, uint32(uint64(r.desc)>>32))
	d.write(TDLEN, nDesc*DescSize)
	d.write(TDH, 0)
	d.write(TDT, 0)
	d.write(TIPG, TIPG_DEFAULT)
	d.write(TCTL, TCTL_EN|TCTL_PSP|TCTL_CT|TCTL_COLD_FD)
}

// dstOf reads the destination address of the frame in the buffer at a.
func dstOf(a uintptr) netif.HWAddr {
	var m netif.HWAddr
	amd64.Memmove(uintptr(unsafe.Pointer(&m)), a, 6)
	return m
}

func (d *Device) putDesc(a uintptr, b *[DescSize]byte) {
	amd64.Memmove(a, uintptr(unsafe.Pointer(b)), DescSize)
}

func (d *Device) getDesc(a uintptr, b *[DescSize]byte) {
	amd64.Memmove(uintptr(unsafe.Pointer(b)), a, DescSize)
}

// MAC returns the Ethernet address.
func (d *Device) MAC() netif.HWAddr { return d.mac }

// Interface returns the network interface.
func (d *Device) Interface() *netif.Interface { return d.ifp }

// Event returns the interrupt event.
func (d *Device) Event() *ithread.Event { return d.ev }

// LinkUp reports STATUS.LU.
func (d *Device) LinkUp() bool { return d.read(STATUS)&STATUS_LU != 0 }

// SetITR sets interrupt moderation (256 ns units; 0 = off).
func (d *Device) SetITR(v uint32) {
	d.itr.Store(v)
	d.write(ITR, v)
}

// filter runs in primary interrupt context: reading ICR acknowledges the
// causes and deasserts INTx (§13.4.17); a zero ICR means another device
// on a shared line.
func (d *Device) filter() int {
	icr := d.read(ICR)
	if icr == 0 {
		d.Stray.Add(1)
		return ithread.FilterStray
	}
	d.Interrupts.Add(1)
	d.causes.Or(icr)
	return ithread.FilterHandled | ithread.FilterScheduleThread
}

// intrThread handles the causes the filter collected.
func (d *Device) intrThread() {
	c := d.causes.Swap(0)
	if c&ICR_LSC != 0 {
		d.updateLink()
	}
	if c&(ICR_RXT0|ICR_RXO|ICR_RXDMT0) != 0 {
		d.rxeof()
	}
	if c&(ICR_TXDW|ICR_TXQE) != 0 {
		d.mu.Lock()
		d.txeofLocked()
		d.mu.Unlock()
	}
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

// Poll runs the interrupt handlers' work as if causes had been signalled
// (receive and transmit completion), for callers that cannot wait for an
// interrupt.
func (d *Device) Poll() {
	d.causes.Or(ICR_RXT0 | ICR_TXDW)
	d.intrThread()
}

// bad counts a malformed descriptor, logging the first one.
func (d *Device) bad(what string, v int) {
	d.RxBad.Add(1)
	if d.ifp != nil {
		d.ifp.CountRx(0, netif.RxError, 1)
	}
	if !d.loggedBad.Swap(true) {
		fmt.Printf("e1000: %s: %s %d (further ones only counted)\n", d.pci.Addr, what, v)
	}
}

// rxeof passes completed frames up (§3.2): each descriptor with DD set is
// copied into an mbuf, re-armed and returned to the device. Input runs
// without the driver lock (the stack may transmit from inside it).
func (d *Device) rxeof() {
	var frames []*mbuf.Mbuf
	d.mu.Lock()
	r := &d.rx
	var b [DescSize]byte
	tail := -1
	for n := 0; n < nDesc; n++ {
		if r.InFlight() == 0 {
			break
		}
		i := r.Next
		d.getDesc(r.descAt(i), &b)
		rd := GetRx(b[:])
		if rd.Status&RXD_STAT_DD == 0 {
			break
		}
		r.Pop()
		eop := rd.Status&RXD_STAT_EOP != 0
		switch {
		case d.rxDropping:
			d.rxDropping = !eop
		case !eop:
			d.bad("frame larger than a buffer, length", int(rd.Length))
			d.rxDropping = true
		case rd.Errors&RXD_ERR_BAD != 0:
			d.bad("receive error", int(rd.Errors))
		case rd.Length == 0 || int(rd.Length) > bufSize:
			d.bad("bad length", int(rd.Length))
		case rd.Length >= 6 && !Wanted(dstOf(r.bufAt(i)), d.mcast, d.rxFlags):
			d.McastFiltered.Add(1)
		default:
			amd64.Memmove(uintptr(unsafe.Pointer(&d.rxScratch)), r.bufAt(i), uintptr(rd.Length))
			if m := mbuf.FromBytes(d.rxScratch[:rd.Length], 0); m != nil {
				if d.ifp != nil && d.ifp.CapEnable()&netif.IFCAP_RXCSUM != 0 {
					m.Pkt.Csum |= RxCsum(rd.Status, rd.Errors)
					if m.Pkt.Csum&mbuf.CSUM_L4_VALID != 0 {
						d.RxCsumValid.Add(1)
					}
				}
				frames = append(frames, m)
			} else if d.ifp != nil {
				d.ifp.CountRx(0, netif.RxDrop, 1)
			}
		}
		PutRx(b[:], uint64(r.bufAt(i)))
		d.putDesc(r.descAt(i), &b)
		if _, ok := r.Push(); ok {
			tail = r.Tail
		}
	}
	if tail >= 0 {
		d.write(RDT, uint32(tail))
	}
	d.mu.Unlock()
	for _, m := range frames {
		d.RxFrames.Add(1)
		if d.ifp != nil {
			d.ifp.Input(0, m)
		} else {
			m.FreeChain()
		}
	}
}

// txeofLocked retires transmitted descriptors (DD written back, §3.3.3).
func (d *Device) txeofLocked() {
	r := &d.tx
	var b [DescSize]byte
	for r.InFlight() > 0 {
		d.getDesc(r.descAt(r.Next), &b)
		if !TxDone(b[:]) {
			break
		}
		r.Pop()
		d.txLast = time.Now()
	}
}

// Transmit implements netif.Driver: the frame is copied into the next
// descriptor's buffer (one buffer per frame, so nothing needs unmapping
// later) and handed to the device. A frame whose TCP/UDP checksum the
// stack left to the device (mbuf CSUM_TCP/CSUM_UDP) goes in a TCP/IP data
// descriptor with POPTS.TXSM, preceded by a context descriptor when the
// checksum's start or offset differs from the context the device has.
func (d *Device) Transmit(q int, m *mbuf.Mbuf) error {
	if m.Pkt.Csum&mbuf.CSUM_TSO != 0 {
		return d.transmitTSO(m)
	}
	n := m.ChainLen()
	if n > maxTx || n == 0 {
		return fmt.Errorf("e1000: frame of %d bytes", n)
	}
	var ctx *TxContext
	if m.Pkt.Csum&(mbuf.CSUM_TCP|mbuf.CSUM_UDP) != 0 {
		var ip [15]byte
		if m.CopyOut(0, ip[:]) < 15 {
			return fmt.Errorf("e1000: checksum asked of a %d-byte frame", n)
		}
		ihl := int(ip[14]&0xf) * 4
		ctx = &TxContext{IPCSS: 14, IPCSO: 14 + 10, IPCSE: uint16(14 + ihl - 1),
			TUCSS: uint8(14 + ihl), TUCSO: uint8(14 + ihl + int(m.Pkt.CsumData)), TCP: m.Pkt.Csum&mbuf.CSUM_TCP != 0}
	}
	d.mu.Lock()
	need := 1
	if ctx != nil && (d.txCtx == nil || *d.txCtx != *ctx) {
		need = 2
	}
	if d.tx.Free() < need {
		d.txeofLocked()
	}
	if d.tx.Free() < need {
		d.mu.Unlock()
		d.TxFull.Add(1)
		return netif.ErrQueueFull
	}
	if d.tx.InFlight() == 0 {
		d.txLast = time.Now() // a stall is timed from the first frame in flight
	}
	var b [DescSize]byte
	if need == 2 {
		i, _ := d.tx.Push()
		PutTxContext(b[:], *ctx)
		d.putDesc(d.tx.descAt(i), &b)
		d.txCtx = ctx
		d.TxContexts.Add(1)
	}
	i, _ := d.tx.Push()
	dst := d.tx.bufAt(i)
	m.Range(0, n, func(seg []byte) {
		if len(seg) > 0 {
			amd64.Memmove(dst, uintptr(unsafe.Pointer(&seg[0])), uintptr(len(seg)))
			dst += uintptr(len(seg))
		}
	})
	if ctx != nil {
		PutTxData(b[:], uint64(d.tx.bufAt(i)), n)
		d.TxCsum.Add(1)
	} else {
		PutTx(b[:], uint64(d.tx.bufAt(i)), n)
	}
	d.putDesc(d.tx.descAt(i), &b)
	d.write(TDT, uint32(d.tx.Tail))
	d.mu.Unlock()
	d.TxFrames.Add(1)
	m.FreeChain()
	return nil
}

// ptr turns a kernel address (identity-mapped DMA memory, not the Go
// heap) into a pointer.
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

// transmitTSO hands the device a TCP segmentation request (8254x SDM
// §3.5): a segmentation context descriptor (TSE, PAYLEN, HDRLEN, MSS,
// and both checksums' offsets, §3.3.5) and the frame in as many data
// descriptors as its 2 KiB buffers take (DCMD.TSE, POPTS.TXSM|IXSM on
// the first, EOP on the last, §3.3.6, §3.5.6). The device replicates the
// headers in front of each MSS of payload and updates them (§3.5.9: IP
// total length, identification and checksum, TCP sequence number, FIN
// and PSH only in the last frame, the TCP checksum). The checksum field
// must then hold the pseudo-header's sum without the length (§3.5.7),
// which the copy in the DMA buffer gets (TSOPseudo), and the IP
// header's checksum field zero (IXSM sums the header as it finds it, the
// field included). The next checksum
// packet writes its context again.
func (d *Device) transmitTSO(m *mbuf.Mbuf) error {
	n := m.ChainLen()
	var hb [14 + 60 + 60]byte
	h := hb[:m.CopyOut(0, hb[:])]
	ctx, ok := TSOContext(h, n, m.Pkt.TSOSegSz)
	if !ok || n > 14+netif.TSOMax || int(ctx.HdrLen) > bufSize {
		d.TxTSOBad.Add(1)
		return fmt.Errorf("e1000: malformed TSO frame of %d bytes", n)
	}
	k := (n + bufSize - 1) / bufSize
	d.mu.Lock()
	if d.tx.Free() < k+1 {
		d.txeofLocked()
	}
	if d.tx.Free() < k+1 {
		d.mu.Unlock()
		d.TxFull.Add(1)
		return netif.ErrQueueFull
	}
	if d.tx.InFlight() == 0 {
		d.txLast = time.Now()
	}
	var b [DescSize]byte
	i, _ := d.tx.Push()
	PutTxContext(b[:], ctx)
	d.putDesc(d.tx.descAt(i), &b)
	d.txCtx = nil // the checksum context is no longer the device's
	d.TxContexts.Add(1)
	for j, off := 0, 0; j < k; j++ {
		i, _ := d.tx.Push()
		c := min(bufSize, n-off)
		dst := unsafe.Slice((*byte)(ptr(d.tx.bufAt(i))), c)
		m.CopyOut(off, dst)
		if j == 0 {
			TSOFixup(dst, ctx, n)
		}
		PutTxDataTSO(b[:], uint64(d.tx.bufAt(i)), c, j == k-1)
		d.putDesc(d.tx.descAt(i), &b)
		off += c
	}
	d.write(TDT, uint32(d.tx.Tail))
	d.mu.Unlock()
	d.TxTSO.Add(1)
	d.TxTSOSegs.Add(uint64((int(ctx.PayLen) + int(ctx.MSS) - 1) / int(ctx.MSS)))
	d.TxFrames.Add(1)
	m.FreeChain()
	return nil
}

// watchdog samples the device every watchdogPeriod and resets it when
// Diagnose finds it unhealthy (a device that reset itself or was reset
// from outside raises no interrupt to say so). A reset that fails is
// retried with the wait doubled each time, up to a minute.
func (d *Device) watchdog() {
	wait := watchdogPeriod
	for {
		time.Sleep(wait)
		d.mu.Lock()
		d.txeofLocked()
		h := Health{RCTL: d.read(RCTL), TCTL: d.read(TCTL), RDLEN: d.read(RDLEN), TDLEN: d.read(TDLEN),
			TxInFlight: d.tx.InFlight(), SinceTxProgress: time.Since(d.txLast)}
		d.mu.Unlock()
		if why := Diagnose(h, txStall); why != "" {
			wait = Backoff(wait, watchdogPeriod, time.Minute, d.Reset(why) != nil)
			continue
		}
		wait = watchdogPeriod
	}
}

// Reset reinitialises the device after a fault (§14.9 reset, then the
// set-up of §14.4–14.5 again): receive address, both rings from empty
// (frames in flight on transmit are lost and counted as transmit errors,
// frames in receive buffers are lost), moderation, interrupt mask, link.
// why is logged and kept for `show em`.
func (d *Device) Reset(why string) error {
	d.mu.Lock()
	d.Resets.Add(1)
	d.lastReset.Store(&why)
	fmt.Printf("e1000: %s: resetting: %s\n", d.pci.Addr, why)
	if lost := d.tx.InFlight(); lost > 0 && d.ifp != nil {
		d.ifp.CountTxError(0, uint64(lost))
	}
	// Bus mastering back on, in case what needed the reset cleared it.
	d.pci.EnableBusMaster()
	err := d.reset()
	if err == nil {
		d.setReceiveAddress()
		d.rxDropping = false
		d.initRx()
		d.programFilterLocked()
		d.initTx()
		d.txLast = time.Now()
		d.write(ITR, d.itr.Load())
		d.write(IMS, interruptCauses)
		d.write(CTRL, d.read(CTRL)&^(CTRL_LRST|CTRL_PHY_RST|CTRL_VME)|CTRL_SLU|CTRL_ASDE)
	}
	d.mu.Unlock()
	if err != nil {
		fmt.Printf("e1000: %s: reset failed: %v\n", d.pci.Addr, err)
		return err
	}
	d.updateLink()
	return nil
}

// InjectReset resets the device behind the driver's back, as a device
// fault or another agent would: CTRL.RST, and the register state a reset
// leaves (§14.9: interrupts masked, receiver and transmitter off, ring
// lengths cleared), written too since QEMU's model only clears the RST
// bit. The watchdog notices and recovers. For tests.
func (d *Device) InjectReset() {
	d.write(CTRL, d.read(CTRL)|CTRL_RST)
	d.write(IMC, 0xffffffff)
	d.write(RCTL, 0)
	d.write(TCTL, 0)
	d.write(RDLEN, 0)
	d.write(TDLEN, 0)
}

// statRegs are the statistics registers accumulated by Stats.
var statRegs = [...]struct {
	name string
	reg  uintptr
}{
	{"crcerrs", CRCERRS}, {"mpc", MPC}, {"colc", COLC}, {"gprc", GPRC}, {"bprc", BPRC},
	{"mprc", MPRC}, {"gptc", GPTC}, {"gorcl", GORCL}, {"gorch", GORCH}, {"gotcl", GOTCL},
	{"gotch", GOTCH}, {"rnbc", RNBC}, {"tpr", TPR}, {"tpt", TPT},
}

// Stats reads the clear-on-read statistics registers into running totals
// and returns them by name.
func (d *Device) Stats() map[string]uint64 {
	out := map[string]uint64{}
	d.mu.Lock()
	for i, s := range statRegs {
		out[s.name] = d.stats[i].Add(uint64(d.read(s.reg)))
	}
	d.mu.Unlock()
	return out
}
