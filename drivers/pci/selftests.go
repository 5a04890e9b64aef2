package pci

import (
	"fmt"
	"os"
	"strings"

	"github.com/smpgo/smpgo/kern"
)

// Self-tests against the devices QEMU provides. SMPGO_PCI (an environment
// word on the kernel command line, e.g. SMPGO_PCI=8086:100e,1234:11e8)
// lists vendor:device pairs the boot was started with, which must all be
// found.
func init() {
	kern.RegisterTest(kern.Test{Name: "PCI/Enumerate", Fn: testEnumerate})
	kern.RegisterTest(kern.Test{Name: "PCI/BARs", Fn: testBARs})
	kern.RegisterTest(kern.Test{Name: "PCI/ECAMMatchesPorts", Fn: testECAM})
}

func testEnumerate(t *kern.T) {
	devs := Devices()
	if len(devs) == 0 {
		t.Fatalf("no PCI functions via %s", Method())
	}
	host := devs[0]
	q35 := false
	switch {
	case host.Addr != Addr{}:
		t.Errorf("first function %s, want the host bridge at 00:00.0", host.Addr)
	case host.VendorID == 0x8086 && host.DeviceID == 0x1237: // i440FX
	case host.VendorID == 0x8086 && host.DeviceID == 0x29c0: // Q35 MCH
		q35 = true
	default:
		t.Errorf("host bridge %04x:%04x, want 8086:1237 (pc) or 8086:29c0 (q35)", host.VendorID, host.DeviceID)
	}
	if host.Class != 0x06 || host.Subclass != 0x00 {
		t.Errorf("host bridge class %02x.%02x", host.Class, host.Subclass)
	}
	_, isECAM := Method().(*ECAM)
	if q35 != isECAM {
		t.Errorf("machine q35=%v but access method %s (MCFG decides)", q35, Method())
	}
	isa := map[bool][2]uint16{false: {0x8086, 0x7000}, true: {0x8086, 0x2918}}[q35]
	if _, err := Lookup(isa[0], isa[1]); err != nil {
		t.Errorf("no ISA bridge %04x:%04x", isa[0], isa[1])
	}
	if want := os.Getenv("SMPGO_PCI"); want != "" {
		for _, id := range strings.Split(want, ",") {
			var v, d uint16
			if _, err := fmt.Sscanf(id, "%x:%x", &v, &d); err != nil {
				t.Errorf("SMPGO_PCI entry %q: %v", id, err)
				continue
			}
			if _, err := Lookup(v, d); err != nil {
				t.Errorf("%04x:%04x was given to QEMU but not found", v, d)
			}
		}
	}
	var b strings.Builder
	kern.RunCommand(&b, "pci")
	if strings.Count(b.String(), "\n") < len(devs)+1 || !strings.Contains(b.String(), host.Summary()) {
		t.Errorf("pci command output:\n%s", b.String())
	}
	t.Logf("%d functions via %s", len(devs), Method())
}

// Firmware-assigned BARs: sizes are powers of two, bases aligned to them,
// no two overlap, and memory BARs below 4 GiB map.
func testBARs(t *kern.T) {
	type span struct {
		lo, hi uint64
		who    string
	}
	var mem, io []span
	n := 0
	for _, d := range Devices() {
		for _, b := range d.BARs {
			n++
			who := fmt.Sprintf("%s %s", d.Addr, b)
			if b.Size&(b.Size-1) != 0 {
				t.Errorf("%s: size not a power of two", who)
			}
			if b.Addr == 0 {
				continue // not assigned by the firmware
			}
			if b.Addr%b.Size != 0 {
				t.Errorf("%s: base not aligned to size", who)
			}
			s := span{b.Addr, b.Addr + b.Size, who}
			if b.IO {
				io = append(io, s)
				continue
			}
			mem = append(mem, s)
			if b.Addr+b.Size <= 1<<32 {
				if _, err := d.MapBAR(b.Index); err != nil {
					t.Errorf("%s: %v", who, err)
				}
			}
		}
	}
	for _, set := range [][]span{mem, io} {
		for i := range set {
			for j := i + 1; j < len(set); j++ {
				if set[i].lo < set[j].hi && set[j].lo < set[i].hi {
					t.Errorf("overlap: %s and %s", set[i].who, set[j].who)
				}
			}
		}
	}
	if n == 0 {
		t.Errorf("no BARs at all")
	}
	t.Logf("%d BARs: %d memory, %d I/O assigned", n, len(mem), len(io))
}

// With ECAM, the legacy ports see the same first 256 bytes.
func testECAM(t *kern.T) {
	if _, ok := Method().(*ECAM); !ok {
		t.Logf("no MCFG: configuration ports only")
		return
	}
	var p Ports
	for _, d := range Devices() {
		for off := uint16(0); off < 0x40; off += 4 {
			if off == BAR0 || (off > BAR0 && off < BAR0+24) {
				continue
			}
			if a, b := d.Read32(off), p.Read32(d.Addr, off); a != b && off != STATUS&^3 {
				t.Errorf("%s +%#x: ECAM %#x, ports %#x", d.Addr, off, a, b)
			}
		}
	}
}
