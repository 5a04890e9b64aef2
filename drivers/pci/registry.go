package pci

import (
	"fmt"
	"sync"
)

// Any matches any vendor, device or class in an ID.
const Any = -1

// ID is what a driver matches: vendor and device, or a class triple;
// Any fields match everything.
type ID struct {
	Vendor, Device          int
	Class, Subclass, ProgIF int
}

// VendorDevice returns an ID matching one vendor:device pair.
func VendorDevice(vendor, device uint16) ID {
	return ID{Vendor: int(vendor), Device: int(device), Class: Any, Subclass: Any, ProgIF: Any}
}

// ClassID returns an ID matching a class and subclass.
func ClassID(class, subclass uint8) ID {
	return ID{Vendor: Any, Device: Any, Class: int(class), Subclass: int(subclass), ProgIF: Any}
}

func (id ID) matches(d *Device) bool {
	eq := func(want int, got uint16) bool { return want == Any || want == int(got) }
	return eq(id.Vendor, d.VendorID) && eq(id.Device, d.DeviceID) &&
		eq(id.Class, uint16(d.Class)) && eq(id.Subclass, uint16(d.Subclass)) && eq(id.ProgIF, uint16(d.ProgIF))
}

// Driver is a PCI driver: Attach is called for each matching function
// not yet claimed, in goroutine context.
type Driver struct {
	Name   string
	IDs    []ID
	Attach func(d *Device) error
}

// Matches reports whether drv claims d.
func (drv *Driver) Matches(d *Device) bool {
	for _, id := range drv.IDs {
		if id.matches(d) {
			return true
		}
	}
	return false
}

// Registry holds drivers and attaches them to devices.
type Registry struct {
	mu      sync.Mutex
	drivers []*Driver // (mu) in registration order
}

// Register adds drv.
func (r *Registry) Register(drv *Driver) {
	r.mu.Lock()
	r.drivers = append(r.drivers, drv)
	r.mu.Unlock()
}

// AttachAll gives each unclaimed device to the first matching driver
// (registration order); a failed attach is recorded in DriverErr and the
// next matching driver is tried.
func (r *Registry) AttachAll(devs []*Device) {
	r.mu.Lock()
	drivers := append([]*Driver(nil), r.drivers...)
	r.mu.Unlock()
	for _, d := range devs {
		if d.Driver != "" {
			continue
		}
		for _, drv := range drivers {
			if !drv.Matches(d) {
				continue
			}
			if err := drv.Attach(d); err != nil {
				d.DriverErr = fmt.Errorf("%s: %w", drv.Name, err)
				continue
			}
			d.Driver, d.DriverErr = drv.Name, nil
			break
		}
	}
}
