package virtio

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Features is a 64-bit feature set (§2.2); bit n is feature n.
type Features uint64

// Has reports whether feature bit b is set.
func (f Features) Has(b int) bool { return f&(1<<b) != 0 }

// Bit returns the set holding feature bit b only.
func Bit(b int) Features { return 1 << b }

// Format lists the set bits, named when names knows them.
func (f Features) Format(names map[int]string) string {
	var s []string
	for b := 0; b < 64; b++ {
		if !f.Has(b) {
			continue
		}
		if n, ok := names[b]; ok {
			s = append(s, n)
		} else if n, ok := reservedNames[b]; ok {
			s = append(s, n)
		} else {
			s = append(s, fmt.Sprintf("bit%d", b))
		}
	}
	return strings.Join(s, ",")
}

var reservedNames = map[int]string{
	F_INDIRECT_DESC: "INDIRECT_DESC", F_EVENT_IDX: "EVENT_IDX", F_VERSION_1: "VERSION_1",
	F_ACCESS_PLATFORM: "ACCESS_PLATFORM", F_RING_PACKED: "RING_PACKED", F_IN_ORDER: "IN_ORDER",
	F_ORDER_PLATFORM: "ORDER_PLATFORM", F_SR_IOV: "SR_IOV", F_NOTIFICATION_DATA: "NOTIFICATION_DATA",
	F_NOTIF_CONFIG_DATA: "NOTIF_CONFIG_DATA", F_RING_RESET: "RING_RESET",
}

// ErrNoVersion1 is returned for a device that does not offer
// VIRTIO_F_VERSION_1 (a legacy-only device).
var ErrNoVersion1 = errors.New("virtio: device does not offer VIRTIO_F_VERSION_1")

// Negotiate returns the features the driver accepts: those it supports
// that the device offers. required must all be offered (VIRTIO_F_VERSION_1
// always is required: this driver has no legacy interface).
func Negotiate(device, supported, required Features) (Features, error) {
	required |= Bit(F_VERSION_1)
	if !device.Has(F_VERSION_1) {
		return 0, ErrNoVersion1
	}
	if missing := required &^ device; missing != 0 {
		return 0, fmt.Errorf("virtio: device lacks required features %#x", uint64(missing))
	}
	return device & (supported | required), nil
}

// Transport is how the device layer reaches a device's common
// configuration (§4.1.4.3 for PCI): status, feature windows, queues. The
// PCI transport implements it on registers; host tests on a fake.
type Transport interface {
	Status() uint8
	SetStatus(s uint8)
	DeviceFeatures() Features
	SetDriverFeatures(f Features)
	NumQueues() int
	// QueueMaxSize selects queue q and returns its maximum size (0: the
	// queue does not exist).
	QueueMaxSize(q int) int
	// SetupQueue programs queue q's size, ring addresses and MSI-X vector
	// and enables it; it returns the vector the device accepted
	// (MSI_NO_VECTOR if it refused one).
	SetupQueue(q, size int, desc, driver, device uint64, vector uint16) (uint16, error)
	// SetConfigVector sets the configuration-change MSI-X vector and
	// returns what the device accepted.
	SetConfigVector(v uint16) uint16
	// Notify tells the device queue q has new available buffers.
	Notify(q int)
	// ISR reads (and so clears) the ISR status.
	ISR() uint8
	// ConfigGeneration and ReadConfig access the device-specific
	// configuration (§4.1.4.6).
	ConfigGeneration() uint8
	ReadConfig(off, size int) uint32
}

// ResetTimeout bounds how long Reset waits for the device to report
// status 0 (§2.4: the driver waits for a read of 0 before reinitialising).
var ResetTimeout = 2 * time.Second

// ErrResetTimeout: the device did not complete a reset in ResetTimeout.
var ErrResetTimeout = errors.New("virtio: device did not complete reset")

// Reset writes status 0 and waits (bounded) for the device to read 0.
func Reset(t Transport) error {
	t.SetStatus(0)
	deadline := time.Now().Add(ResetTimeout)
	for t.Status() != 0 {
		if time.Now().After(deadline) {
			return ErrResetTimeout
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// Begin runs the first steps of device initialization (§3.1.1): reset,
// ACKNOWLEDGE, DRIVER, feature negotiation, FEATURES_OK and its check.
// The caller then sets up its virtqueues and calls [DriverOK]. On failure
// the device is left with FAILED set.
func Begin(t Transport, supported, required Features) (Features, error) {
	if err := Reset(t); err != nil {
		return 0, err
	}
	t.SetStatus(STATUS_ACKNOWLEDGE)
	t.SetStatus(STATUS_ACKNOWLEDGE | STATUS_DRIVER)
	f, err := Negotiate(t.DeviceFeatures(), supported, required)
	if err != nil {
		t.SetStatus(t.Status() | STATUS_FAILED)
		return 0, err
	}
	t.SetDriverFeatures(f)
	t.SetStatus(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK)
	if t.Status()&STATUS_FEATURES_OK == 0 {
		t.SetStatus(t.Status() | STATUS_FAILED)
		return 0, fmt.Errorf("virtio: device refused features %#x (FEATURES_OK not kept)", uint64(f))
	}
	return f, nil
}

// DriverOK completes initialization (§3.1.1 step 8): the device is live.
func DriverOK(t Transport) error {
	want := uint8(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK)
	t.SetStatus(want)
	if s := t.Status(); s&STATUS_DEVICE_NEEDS_RESET != 0 || s&want != want {
		return fmt.Errorf("virtio: status %#x after DRIVER_OK", s)
	}
	return nil
}

// ReadConfigStable reads device configuration with fn until the
// configuration generation is the same before and after (§4.1.4.3.1:
// fields wider than 32 bits or spanning several accesses may otherwise
// tear). It gives up after a bounded number of tries.
func ReadConfigStable(t Transport, fn func()) error {
	for i := 0; i < 100; i++ {
		g := t.ConfigGeneration()
		fn()
		if t.ConfigGeneration() == g {
			return nil
		}
	}
	return errors.New("virtio: device configuration kept changing while read")
}
