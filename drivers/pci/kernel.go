package pci

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/kern/spin"
	"github.com/smpgo/smpgo/vm"
)

// The hardware side: configuration mechanism #1, ECAM, MMIO mapping, the
// machine's device list and the shell command.

// Configuration mechanism #1 (PCI Local Bus Specification 3.0
// §3.2.2.3.2): CONFIG_ADDRESS selects the register, CONFIG_DATA moves it.
const (
	CONFIG_ADDRESS = 0x0cf8
	CONFIG_DATA    = 0x0cfc
	CONFIG_ENABLE  = 1 << 31
)

// Ports is configuration mechanism #1. The address/data pair is one
// shared index register: every access holds lock with interrupts off.
type Ports struct {
	lock spin.Lock
}

func (p *Ports) address(a Addr, off uint16) {
	amd64.Outl(CONFIG_ADDRESS, CONFIG_ENABLE|uint32(a.Bus)<<16|uint32(a.Dev&31)<<11|uint32(a.Fn&7)<<8|uint32(off&0xfc))
}

// Read32 implements Config.
func (p *Ports) Read32(a Addr, off uint16) uint32 {
	f := kern.IntrDisable()
	p.lock.Acquire(kern.CPUID())
	p.address(a, off)
	v := amd64.Inl(CONFIG_DATA)
	p.lock.Release()
	kern.IntrRestore(f)
	return v
}

// Write32 implements Config.
func (p *Ports) Write32(a Addr, off uint16, v uint32) {
	f := kern.IntrDisable()
	p.lock.Acquire(kern.CPUID())
	p.address(a, off)
	amd64.Outl(CONFIG_DATA, v)
	p.lock.Release()
	kern.IntrRestore(f)
}

// MaxOffset implements Config.
func (p *Ports) MaxOffset() int { return 256 }

func (p *Ports) String() string { return "config ports 0xcf8/0xcfc" }

// ECAM is the PCI Express enhanced configuration access mechanism (PCIe
// Base Specification §7.2.2): each function's 4 KiB at base +
// (bus-start)<<20 | dev<<15 | fn<<12. Plain uncached loads and stores: no
// lock needed.
type ECAM struct {
	Base             uintptr
	StartBus, EndBus uint8
	Segment          uint16
}

func (e *ECAM) addr(a Addr, off uint16) (uintptr, bool) {
	if a.Bus < e.StartBus || a.Bus > e.EndBus {
		return 0, false
	}
	return e.Base + uintptr(a.Bus-e.StartBus)<<20 | uintptr(a.Dev&31)<<15 | uintptr(a.Fn&7)<<12 | uintptr(off&0xffc), true
}

// Read32 implements Config.
func (e *ECAM) Read32(a Addr, off uint16) uint32 {
	p, ok := e.addr(a, off)
	if !ok {
		return 0xffffffff
	}
	return amd64.Load32(p)
}

// Write32 implements Config.
func (e *ECAM) Write32(a Addr, off uint16, v uint32) {
	if p, ok := e.addr(a, off); ok {
		amd64.Store32(p, v)
	}
}

// MaxOffset implements Config.
func (e *ECAM) MaxOffset() int { return 4096 }

func (e *ECAM) String() string {
	return fmt.Sprintf("ECAM %#x buses %d-%d", e.Base, e.StartBus, e.EndBus)
}

type amd64MMIO struct{}

func (amd64MMIO) Read32(a uintptr) uint32     { return amd64.Load32(a) }
func (amd64MMIO) Write32(a uintptr, v uint32) { amd64.Store32(a, v) }

func init() {
	mmio = amd64MMIO{}
	mapMMIO = kernelMapMMIO
	kern.RegisterCommand("pci", "PCI functions: address, IDs, class, BARs, capabilities, driver", cmdPCI)
	// At boot, drivers attach to what the bus holds (NICs join the
	// network stack through net/if's attach listeners).
	kern.RegisterStartup(kern.Startup{Name: "pci", Fn: func() { Probe() }})
}

// kernelMapMMIO maps an MMIO range uncached at its identity address with
// the kernel pmap (up to vm.KVABase: the identity PML4 entry).
func kernelMapMMIO(phys, size uint64) (uintptr, error) {
	if phys == 0 || phys+size > vm.KVABase || phys+size < phys {
		return 0, fmt.Errorf("pci: MMIO %#x+%#x outside the identity map", phys, size)
	}
	a, err := kern.MapMMIO(uintptr(phys), uintptr(size), vm.UC)
	if err != nil {
		return 0, fmt.Errorf("pci: MMIO %#x+%#x: %w", phys, size, err)
	}
	return a, nil
}

// Where AssignBARs places what the firmware left unassigned: QEMU keeps
// RAM below 0xe0000000 on both machines (pc and q35), and the I/O APIC
// starts at 0xfec00000; I/O ports from 0xc000, above the legacy range.
var (
	assignMem = Window{0xe0000000, 0xfec00000}
	assignIO  = Window{0xc000, 0x10000}
)

var machine struct {
	once    sync.Once
	cfg     Config
	devices []*Device
	drivers Registry
	attach  sync.Mutex
}

// Register adds a driver to the machine's registry; it attaches at the
// next Probe.
func Register(drv *Driver) { machine.drivers.Register(drv) }

// Devices enumerates the machine's PCI functions (once): through ECAM
// when the ACPI MCFG lists a window for segment 0, else configuration
// ports.
func Devices() []*Device {
	machine.once.Do(func() {
		machine.cfg = &Ports{}
		var reserved []Window
		if t := kern.GetTopology().Tables; t != nil && t.MCFG != nil {
			for _, al := range t.MCFG.Allocations {
				if al.PCISegmentGroupNumber != 0 || al.BaseAddress >= 1<<32 {
					continue
				}
				size := uint64(al.EndBusNumber-al.StartBusNumber+1) << 20
				base, err := kernelMapMMIO(al.BaseAddress, size)
				if err == nil {
					machine.cfg = &ECAM{Base: base, StartBus: al.StartBusNumber, EndBus: al.EndBusNumber}
					reserved = append(reserved, Window{al.BaseAddress, al.BaseAddress + size})
				}
				break
			}
		}
		machine.devices = Scan(machine.cfg)
		for _, err := range AssignBARs(machine.devices, assignMem, assignIO, reserved) {
			fmt.Println(err)
		}
	})
	return machine.devices
}

// Method returns the configuration access method Devices chose.
func Method() Config {
	Devices()
	return machine.cfg
}

// Probe enumerates (once) and attaches registered drivers to unclaimed
// devices; it is idempotent and returns the device list.
func Probe() []*Device {
	devs := Devices()
	machine.attach.Lock()
	machine.drivers.AttachAll(devs)
	machine.attach.Unlock()
	return devs
}

// Lookup returns the first function with vendor:device.
func Lookup(vendor, device uint16) (*Device, error) {
	for _, d := range Devices() {
		if d.VendorID == vendor && d.DeviceID == device {
			return d, nil
		}
	}
	return nil, errors.New("pci: no such device")
}

func cmdPCI(w io.Writer, _ []string) {
	devs := Probe()
	fmt.Fprintf(w, "%d PCI functions via %s\n", len(devs), machine.cfg)
	for _, d := range devs {
		fmt.Fprintln(w, d.Summary())
		for _, b := range d.BARs {
			fmt.Fprintf(w, "    %s\n", b)
		}
		if d.DriverErr != nil {
			fmt.Fprintf(w, "    attach failed: %v\n", d.DriverErr)
		}
	}
}
