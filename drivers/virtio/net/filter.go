package vtnet

import (
	"encoding/binary"
	"fmt"

	netif "github.com/smpgo/smpgo/net/if"
)

// Receive filter (virtio 1.2 §5.1.6.5.1 and §5.1.6.5.2, with
// VIRTIO_NET_F_CTRL_RX): VIRTIO_NET_CTRL_RX_PROMISC and
// VIRTIO_NET_CTRL_RX_ALLMULTI turn promiscuous and all-multicast
// reception on or off, and VIRTIO_NET_CTRL_MAC_TABLE_SET gives the device
// the unicast and multicast addresses it takes besides its own MAC and
// broadcast. The driver keeps the interface's joined groups (netif's
// JoinMulticast/LeaveMulticast call SetMulticast) and IFF_PROMISC/
// IFF_ALLMULTI (SetFlags), and sends the whole filter again whenever
// either changes and after every (re)start: QEMU resets a CTRL_RX device
// to promiscuous. Without CTRL_RX the device takes every frame, a
// superset of what the stack asked for.

// The MAC class (§5.1.6.5.2).
const (
	VIRTIO_NET_CTRL_MAC           = 1
	VIRTIO_NET_CTRL_MAC_TABLE_SET = 0
)

// MaxFilterGroups is the most multicast groups the driver puts in the
// table (QEMU's MAC_TABLE_ENTRIES holds 64 addresses in all); with more
// joined the device is asked for all multicast instead.
const MaxFilterGroups = 64

// Filter is what the device is told.
type Filter struct {
	Promisc, AllMulti bool
	Groups            []netif.HWAddr // the multicast table
	// Overflow: more groups joined than MaxFilterGroups, so AllMulti
	// stands in for the table.
	Overflow bool
}

// PlanFilter decides the device's filter from the interface's flags and
// joined groups.
func PlanFilter(f netif.Flags, groups []netif.HWAddr) Filter {
	p := Filter{Promisc: f&netif.IFF_PROMISC != 0, AllMulti: f&netif.IFF_ALLMULTI != 0}
	if len(groups) > MaxFilterGroups {
		p.AllMulti, p.Overflow = true, true
		return p
	}
	p.Groups = append([]netif.HWAddr(nil), groups...)
	return p
}

// MACTableSet encodes VIRTIO_NET_CTRL_MAC_TABLE_SET's data: two struct
// virtio_net_ctrl_mac (le32 entries, then entries 6-byte addresses),
// the unicast table first, then the multicast one.
func MACTableSet(uni, multi []netif.HWAddr) []byte {
	b := make([]byte, 0, 8+6*(len(uni)+len(multi)))
	for _, t := range [][]netif.HWAddr{uni, multi} {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t)))
		for _, a := range t {
			b = append(b, a[:]...)
		}
	}
	return b
}

func onOff(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

// SetMulticast implements netif.MulticastSetter.
func (d *Device) SetMulticast(addrs []netif.HWAddr) error {
	d.ctrlMu.Lock()
	defer d.ctrlMu.Unlock()
	d.mcast = append([]netif.HWAddr(nil), addrs...)
	return d.programFilterLocked()
}

// SetFlags implements netif.FlagsSetter: IFF_PROMISC and IFF_ALLMULTI
// go to the device's filter.
func (d *Device) SetFlags(f netif.Flags) error {
	d.ctrlMu.Lock()
	defer d.ctrlMu.Unlock()
	nf := f & (netif.IFF_PROMISC | netif.IFF_ALLMULTI)
	if nf == d.rxFlags && d.filterSet {
		return nil
	}
	d.rxFlags = nf
	return d.programFilterLocked()
}

// programFilterLocked sends the filter (MAC table, ALLMULTI, PROMISC)
// when the device runs with CTRL_RX; before the device is started the
// state is only kept (start sends it). d.ctrlMu held.
func (d *Device) programFilterLocked() error {
	if !d.feat.Has(VIRTIO_NET_F_CTRL_RX) || d.ctrl == nil || !d.running {
		return nil
	}
	p := PlanFilter(d.rxFlags, d.mcast)
	cmds := []struct {
		class, cmd byte
		data       []byte
	}{
		{VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, MACTableSet(nil, p.Groups)},
		{VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, onOff(p.AllMulti)},
		{VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, onOff(p.Promisc)},
	}
	for _, c := range cmds {
		if err := d.ctrl.Command(c.class, c.cmd, c.data); err != nil {
			d.FilterErrors.Add(1)
			d.filterSet = false
			return fmt.Errorf("vtnet: receive filter: %w", err)
		}
	}
	d.filter = p
	d.filterSet = true
	d.FilterSets.Add(1)
	return nil
}
