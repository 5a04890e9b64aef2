package virtio

import "fmt"

// Cap is a decoded struct virtio_pci_cap (§4.1.4).
type Cap struct {
	At                  uint16 // offset of the capability in configuration space
	Type                uint8  // PCI_CAP_*
	BAR                 uint8
	Offset, Length      uint32 // the structure's place inside the BAR
	NotifyOffMultiplier uint32 // PCI_CAP_NOTIFY_CFG only
}

// Caps are the structures a driver uses: the first capability of each
// type with a valid BAR (§4.1.4.1: the device may offer several; the
// driver uses the first it can).
type Caps struct {
	Common, Notify, ISR, Device Cap
	HasDevice                   bool
}

// ParseCaps decodes the vendor-specific capabilities at offsets (the
// function's CAP_VNDR entries, in list order) through read32, a
// configuration-space dword reader. Common, notify and ISR structures are
// required; the device-specific one is optional (some device types have
// none).
func ParseCaps(read32 func(off uint16) uint32, offsets []uint16) (Caps, error) {
	var c Caps
	var have [PCI_CAP_VENDOR_CFG + 1]bool
	for _, at := range offsets {
		w0 := read32(at)
		capLen := uint8(w0 >> 16)
		typ := uint8(w0 >> 24)
		if capLen < 16 {
			continue // not a virtio structure (or a truncated one)
		}
		w1 := read32(at + 4)
		cp := Cap{At: at, Type: typ, BAR: uint8(w1), Offset: read32(at + CAP_OFFSET), Length: read32(at + CAP_LENGTH)}
		if cp.BAR > 5 || int(typ) >= len(have) || have[typ] {
			continue // §4.1.4.1: reserved BAR values are ignored
		}
		switch typ {
		case PCI_CAP_COMMON_CFG:
			if cp.Length < COMMON_CFG_MIN_LEN {
				return c, fmt.Errorf("virtio: common configuration of %d bytes (want %d)", cp.Length, COMMON_CFG_MIN_LEN)
			}
			c.Common = cp
		case PCI_CAP_NOTIFY_CFG:
			if capLen < 20 {
				return c, fmt.Errorf("virtio: notify capability of %d bytes (want 20)", capLen)
			}
			cp.NotifyOffMultiplier = read32(at + CAP_NOTIFY_OFF_MULTIPLIER)
			if cp.Length < 2 {
				return c, fmt.Errorf("virtio: notify structure of %d bytes", cp.Length)
			}
			c.Notify = cp
		case PCI_CAP_ISR_CFG:
			if cp.Length < 1 {
				return c, fmt.Errorf("virtio: empty ISR structure")
			}
			c.ISR = cp
		case PCI_CAP_DEVICE_CFG:
			c.Device, c.HasDevice = cp, true
		default:
			continue
		}
		have[typ] = true
	}
	for _, t := range []struct {
		typ  uint8
		name string
	}{{PCI_CAP_COMMON_CFG, "common"}, {PCI_CAP_NOTIFY_CFG, "notify"}, {PCI_CAP_ISR_CFG, "ISR"}} {
		if !have[t.typ] {
			return c, fmt.Errorf("virtio: no %s configuration capability (not a modern virtio device?)", t.name)
		}
	}
	return c, nil
}

// NotifyOffset returns where queue notifications for a queue with
// queue_notify_off off are written, relative to the notify structure
// (§4.1.4.4: cap.offset + queue_notify_off × notify_off_multiplier), or
// an error if that lies outside the structure.
func (c Caps) NotifyOffset(off uint16) (uint32, error) {
	o := uint64(off) * uint64(c.Notify.NotifyOffMultiplier)
	if o+2 > uint64(c.Notify.Length) {
		return 0, fmt.Errorf("virtio: queue_notify_off %d × %d outside the %d-byte notify structure", off, c.Notify.NotifyOffMultiplier, c.Notify.Length)
	}
	return c.Notify.Offset + uint32(o), nil
}
