package virtio

import (
	"fmt"
	"sync"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/drivers/pci"
)

// PCI is the modern virtio PCI transport (§4.1): the structures the
// vendor capabilities point at, mapped uncached. Common-configuration
// accesses that select a queue or a feature window and then read it are
// serialised by mu.
type PCI struct {
	Dev  *pci.Device // (c)
	Caps Caps        // (c)

	common, isr, device, notify uintptr   // (c) mapped structures
	notifyAt                    []uintptr // per queue, set by SetupQueue (the driver's queue lock)

	mu sync.Mutex // the select registers (feature and queue windows)
}

// OpenPCI finds and maps a modern virtio function's structures and turns
// on memory decoding and bus mastering.
func OpenPCI(d *pci.Device) (*PCI, error) {
	var vendor []uint16
	for _, c := range d.Capabilities {
		if c.ID == pci.CAP_VNDR {
			vendor = append(vendor, c.Offset)
		}
	}
	caps, err := ParseCaps(d.Read32, vendor)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Addr, err)
	}
	p := &PCI{Dev: d, Caps: caps}
	mapCap := func(c Cap) (uintptr, error) {
		b, ok := d.BAR(int(c.BAR))
		if !ok || b.IO {
			return 0, fmt.Errorf("virtio: %s: structure type %d in BAR%d, not a memory BAR", d.Addr, c.Type, c.BAR)
		}
		if uint64(c.Offset)+uint64(c.Length) > b.Size {
			return 0, fmt.Errorf("virtio: %s: structure type %d at %#x+%#x beyond BAR%d (%#x bytes)", d.Addr, c.Type, c.Offset, c.Length, c.BAR, b.Size)
		}
		base, err := d.MapBAR(int(c.BAR))
		if err != nil {
			return 0, err
		}
		return base + uintptr(c.Offset), nil
	}
	if p.common, err = mapCap(caps.Common); err != nil {
		return nil, err
	}
	if p.isr, err = mapCap(caps.ISR); err != nil {
		return nil, err
	}
	if p.notify, err = mapCap(caps.Notify); err != nil {
		return nil, err
	}
	p.notify -= uintptr(caps.Notify.Offset) // NotifyOffset adds it back
	if caps.HasDevice {
		if p.device, err = mapCap(caps.Device); err != nil {
			return nil, err
		}
	}
	d.EnableBusMaster()
	p.notifyAt = make([]uintptr, p.NumQueues())
	return p, nil
}

func (p *PCI) r8(off uintptr) uint8      { return amd64.Load8(p.common + off) }
func (p *PCI) w8(off uintptr, v uint8)   { amd64.Store8(p.common+off, v) }
func (p *PCI) r16(off uintptr) uint16    { return amd64.Load16(p.common + off) }
func (p *PCI) w16(off uintptr, v uint16) { amd64.Store16(p.common+off, v) }
func (p *PCI) r32(off uintptr) uint32    { return amd64.Load32(p.common + off) }
func (p *PCI) w32(off uintptr, v uint32) { amd64.Store32(p.common+off, v) }
func (p *PCI) w64(off uintptr, v uint64) { p.w32(off, uint32(v)); p.w32(off+4, uint32(v>>32)) }
func (p *PCI) Status() uint8             { return p.r8(COMMON_DEVICE_STATUS) }
func (p *PCI) SetStatus(s uint8)         { p.w8(COMMON_DEVICE_STATUS, s) }
func (p *PCI) NumQueues() int            { return int(p.r16(COMMON_NUM_QUEUES)) }
func (p *PCI) ConfigGeneration() uint8   { return p.r8(COMMON_CONFIG_GENERATION) }
func (p *PCI) ISR() uint8                { return amd64.Load8(p.isr) }
func (p *PCI) SetConfigVector(v uint16) uint16 {
	p.w16(COMMON_CONFIG_MSIX_VECTOR, v)
	return p.r16(COMMON_CONFIG_MSIX_VECTOR)
}

// DeviceFeatures reads both 32-bit feature windows.
func (p *PCI) DeviceFeatures() Features {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w32(COMMON_DEVICE_FEATURE_SELECT, 0)
	lo := p.r32(COMMON_DEVICE_FEATURE)
	p.w32(COMMON_DEVICE_FEATURE_SELECT, 1)
	hi := p.r32(COMMON_DEVICE_FEATURE)
	return Features(hi)<<32 | Features(lo)
}

// SetDriverFeatures writes both 32-bit feature windows.
func (p *PCI) SetDriverFeatures(f Features) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w32(COMMON_DRIVER_FEATURE_SELECT, 0)
	p.w32(COMMON_DRIVER_FEATURE, uint32(f))
	p.w32(COMMON_DRIVER_FEATURE_SELECT, 1)
	p.w32(COMMON_DRIVER_FEATURE, uint32(f>>32))
}

// QueueMaxSize implements Transport.
func (p *PCI) QueueMaxSize(q int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w16(COMMON_QUEUE_SELECT, uint16(q))
	return int(p.r16(COMMON_QUEUE_SIZE))
}

// SetupQueue implements Transport (§4.1.5.1.3).
func (p *PCI) SetupQueue(q, size int, desc, driver, device uint64, vector uint16) (uint16, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w16(COMMON_QUEUE_SELECT, uint16(q))
	if p.r16(COMMON_QUEUE_ENABLE) != 0 {
		return MSI_NO_VECTOR, fmt.Errorf("virtio: queue %d already enabled (device not reset)", q)
	}
	if q >= len(p.notifyAt) {
		return MSI_NO_VECTOR, fmt.Errorf("virtio: queue %d of %d", q, len(p.notifyAt))
	}
	no, err := p.Caps.NotifyOffset(p.r16(COMMON_QUEUE_NOTIFY_OFF))
	if err != nil {
		return MSI_NO_VECTOR, err
	}
	p.notifyAt[q] = p.notify + uintptr(no)
	p.w16(COMMON_QUEUE_SIZE, uint16(size))
	p.w64(COMMON_QUEUE_DESC, desc)
	p.w64(COMMON_QUEUE_DRIVER, driver)
	p.w64(COMMON_QUEUE_DEVICE, device)
	p.w16(COMMON_QUEUE_MSIX_VECTOR, vector)
	got := p.r16(COMMON_QUEUE_MSIX_VECTOR)
	p.w16(COMMON_QUEUE_ENABLE, 1)
	return got, nil
}

// QueuesNegotiated re-reads num_queues after feature negotiation: a
// device may change it with the features (QEMU's virtio-net adds its
// multiqueue pairs and moves the control queue when VIRTIO_NET_F_MQ is
// accepted). Call it after Begin, before any queue is set up or
// notified.
func (p *PCI) QueuesNegotiated() {
	if n := p.NumQueues(); n > len(p.notifyAt) {
		p.notifyAt = append(p.notifyAt, make([]uintptr, n-len(p.notifyAt))...)
	}
}

// Notify implements Transport: the queue index written to the queue's
// notification address (§4.1.5.2, without VIRTIO_F_NOTIFICATION_DATA).
// The address was computed (and checked) when the queue was set up.
func (p *PCI) Notify(q int) {
	if q < len(p.notifyAt) && p.notifyAt[q] != 0 {
		amd64.Store16(p.notifyAt[q], uint16(q))
	}
}

// ReadConfig reads size (1, 2 or 4) bytes of device-specific
// configuration at off; out of range reads return 0.
func (p *PCI) ReadConfig(off, size int) uint32 {
	if p.device == 0 || off < 0 || uint32(off+size) > p.Caps.Device.Length {
		return 0
	}
	a := p.device + uintptr(off)
	switch size {
	case 1:
		return uint32(amd64.Load8(a))
	case 2:
		return uint32(amd64.Load16(a))
	default:
		return amd64.Load32(a)
	}
}
