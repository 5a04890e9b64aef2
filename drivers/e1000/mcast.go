package e1000

import (
	netif "github.com/smpgo/smpgo/net/if"
)

// Receive filtering (8254x SDM §13.5.1 multicast table array, RCTL.MO,
// RCTL.UPE/MPE): the station address is matched exactly (RAL0/RAH0), a
// multicast destination is hashed into the 4096-bit MTA, and the
// promiscuous bits take everything (UPE: unicast, MPE: multicast).

// MTAHash is the MTA bit for address a with RCTL.MO = 00 (the default):
// address bits 47:36, i.e. the upper nibble of byte 4 and all of byte 5;
// bits 11:5 pick one of the 128 32-bit registers, bits 4:0 the bit.
func MTAHash(a netif.HWAddr) (reg, bit int) {
	h := (uint16(a[4])>>4 | uint16(a[5])<<4) & 0xfff
	return int(h >> 5), int(h & 0x1f)
}

// MTATable returns the 128 MTA registers that pass addrs.
func MTATable(addrs []netif.HWAddr) [128]uint32 {
	var t [128]uint32
	for _, a := range addrs {
		r, b := MTAHash(a)
		t[r] |= 1 << b
	}
	return t
}

// RCTLFilterBits returns RCTL's UPE and MPE for interface flags f.
func RCTLFilterBits(f netif.Flags) uint32 {
	var v uint32
	if f&netif.IFF_PROMISC != 0 {
		v |= RCTL_UPE | RCTL_MPE
	}
	if f&netif.IFF_ALLMULTI != 0 {
		v |= RCTL_MPE
	}
	return v
}

// Wanted reports whether a frame to dst passes the exact filter: the
// MTA is a hash, so a group that shares a joined group's bit gets past
// the device; the driver drops it (and counts it) unless flags take
// every multicast frame.
func Wanted(dst netif.HWAddr, joined []netif.HWAddr, f netif.Flags) bool {
	if !dst.IsMulticast() || dst == netif.Broadcast || f&(netif.IFF_PROMISC|netif.IFF_ALLMULTI) != 0 {
		return true
	}
	for _, a := range joined {
		if a == dst {
			return true
		}
	}
	return false
}

// SetMulticast implements netif.MulticastSetter: the MTA is rewritten
// for addrs (kept for the exact check and for resets).
func (d *Device) SetMulticast(addrs []netif.HWAddr) error {
	d.mu.Lock()
	d.mcast = append([]netif.HWAddr(nil), addrs...)
	d.programFilterLocked()
	d.mu.Unlock()
	return nil
}

// SetFlags implements netif.FlagsSetter: IFF_PROMISC and IFF_ALLMULTI
// set RCTL.UPE/MPE (IFF_UP needs nothing: the device runs from attach).
func (d *Device) SetFlags(f netif.Flags) error {
	d.mu.Lock()
	d.rxFlags = f & (netif.IFF_PROMISC | netif.IFF_ALLMULTI)
	d.programFilterLocked()
	d.mu.Unlock()
	return nil
}

// programFilterLocked writes the MTA and RCTL's promiscuous bits from
// the driver's state (after a change, and after every reset).
func (d *Device) programFilterLocked() {
	t := MTATable(d.mcast)
	for i, v := range t {
		d.write(MTA+4*uintptr(i), v)
	}
	d.write(RCTL, d.read(RCTL)&^(RCTL_UPE|RCTL_MPE)|RCTLFilterBits(d.rxFlags))
}
