package pci

import (
	"fmt"
	"sort"
)

// Window is an address range BARs may be placed in: [Lo, Hi).
type Window struct{ Lo, Hi uint64 }

// AssignBARs gives every unassigned BAR (address 0) of the functions on
// bus 0 an address, naturally aligned, in mem (memory BARs) or io (I/O
// BARs), avoiding every BAR already assigned and the reserved ranges.
// Minimal firmware (qboot) leaves BARs unassigned; PCI-to-PCI bridge
// windows are not programmed, so functions behind bridges keep what the
// firmware gave them. It returns what it could not place.
func AssignBARs(devs []*Device, mem, io Window, reserved []Window) []error {
	var errs []error
	used := map[bool][]Window{false: append([]Window(nil), reserved...), true: nil}
	type req struct {
		d *Device
		i int // index into d.BARs
	}
	var todo []req
	for _, d := range devs {
		for i, b := range d.BARs {
			if b.Addr != 0 {
				used[b.IO] = append(used[b.IO], Window{b.Addr, b.Addr + b.Size})
			} else if d.Bus == 0 {
				todo = append(todo, req{d, i})
			}
		}
	}
	// Largest first: alignment then packs without holes.
	sort.SliceStable(todo, func(a, b int) bool { return todo[a].d.BARs[todo[a].i].Size > todo[b].d.BARs[todo[b].i].Size })
	for _, r := range todo {
		b := &r.d.BARs[r.i]
		w := mem
		if b.IO {
			w = io
		}
		if b.Is64 || w.Hi > 1<<32 {
			w.Hi = min(w.Hi, 1<<32) // keep everything in the identity map
		}
		addr, ok := place(w, b.Size, used[b.IO])
		if !ok {
			errs = append(errs, fmt.Errorf("pci: %s BAR%d: no room for %#x bytes", r.d.Addr, b.Index, b.Size))
			continue
		}
		used[b.IO] = append(used[b.IO], Window{addr, addr + b.Size})
		b.Addr = addr
		r.d.writeBAR(*b)
	}
	return errs
}

// place finds the lowest size-aligned range of size bytes in w that
// overlaps nothing in used.
func place(w Window, size uint64, used []Window) (uint64, bool) {
	if size == 0 {
		return 0, false
	}
	a := (w.Lo + size - 1) &^ (size - 1)
	for a+size <= w.Hi && a >= w.Lo {
		clash := false
		for _, u := range used {
			if a < u.Hi && u.Lo < a+size {
				clash = true
				a = (u.Hi + size - 1) &^ (size - 1)
				break
			}
		}
		if !clash {
			return a, true
		}
	}
	return 0, false
}

// writeBAR programs BAR b's address, with decoding off meanwhile.
func (d *Device) writeBAR(b BAR) {
	cmd := d.Read16(COMMAND)
	d.Write16(COMMAND, cmd&^(CMD_IO_SPACE|CMD_MEMORY_SPACE))
	off := uint16(BAR0 + 4*b.Index)
	low := d.Read32(off)
	if b.IO {
		d.Write32(off, uint32(b.Addr)|low&0x3)
	} else {
		d.Write32(off, uint32(b.Addr)|low&0xf)
		if b.Is64 {
			d.Write32(off+4, uint32(b.Addr>>32))
		}
	}
	d.Write16(COMMAND, cmd)
}
