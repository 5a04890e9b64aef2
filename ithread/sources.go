package ithread

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/kern"
)

// The interrupt controllers: the I/O APICs of the MADT with every pin
// masked at start-up, and the 16 ISA IRQs' routes (interrupt source
// overrides applied). The 8259 PICs were remapped and masked at boot
// (kern.initInterrupts) and stay so.
var ctl struct {
	once    sync.Once
	err     error
	ioapics []*apic.IOAPIC
	isa     [16]apic.Route
	mu      sync.Mutex
	byGSI   map[uint32]*Event // (mu) shared lines: one event per GSI
}

func controllers() error {
	ctl.once.Do(func() {
		t := kern.GetTopology()
		if t.Tables == nil || t.Tables.MADT == nil {
			ctl.err = errors.New("ithread: no MADT: no I/O APIC routing")
			return
		}
		m := t.Tables.MADT
		for _, e := range m.IoApics {
			io := apic.NewIOAPIC(e.IoApicID, uintptr(e.IoApicAddress), e.GlobalSystemInterruptBase)
			io.MaskAll()
			ctl.ioapics = append(ctl.ioapics, io)
		}
		if len(ctl.ioapics) == 0 {
			ctl.err = errors.New("ithread: the MADT lists no I/O APIC")
		}
		ctl.isa = apic.ISARoutes(m)
		ctl.byGSI = map[uint32]*Event{}
	})
	return ctl.err
}

// IOAPICs returns the I/O APICs (after the first Setup call).
func IOAPICs() []*apic.IOAPIC {
	controllers()
	return ctl.ioapics
}

// ISARoute returns how ISA IRQ irq is wired.
func ISARoute(irq int) (apic.Route, error) {
	if err := controllers(); err != nil {
		return apic.Route{}, err
	}
	if irq < 0 || irq >= len(ctl.isa) {
		return apic.Route{}, fmt.Errorf("ithread: no ISA IRQ %d", irq)
	}
	return ctl.isa[irq], nil
}

// pinSource is an I/O APIC input.
type pinSource struct {
	io    *apic.IOAPIC
	pin   int
	route apic.Route
}

func (s *pinSource) Program(cpu int, vec uint8) error {
	s.io.SetEntry(s.pin, apic.Redirection(s.route, vec, uint8(kern.APICID(cpu)), false))
	return nil
}
func (s *pinSource) Mask()       { s.io.Mask(s.pin) }
func (s *pinSource) Unmask()     { s.io.Unmask(s.pin) }
func (s *pinSource) Level() bool { return s.route.Level }
func (s *pinSource) String() string {
	return fmt.Sprintf("ioapic%d pin %d (%s)", s.io.ID, s.pin, s.route)
}

// Entry returns the pin's redirection entry as the I/O APIC holds it.
func (s *pinSource) Entry() apic.RedirEntry { return s.io.Entry(s.pin) }

// SetupISA returns the event of ISA IRQ irq (also what a PCI device's
// Interrupt Line names), created and bound to cpu if it is new. Lines are
// shared: a second caller gets the same event and adds its handler.
func SetupISA(name string, irq int, cpu int) (*Event, error) {
	r, err := ISARoute(irq)
	if err != nil {
		return nil, err
	}
	return SetupGSI(name, r, cpu)
}

// SetupGSI is SetupISA for a route given directly.
func SetupGSI(name string, r apic.Route, cpu int) (*Event, error) {
	if err := controllers(); err != nil {
		return nil, err
	}
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if ev := ctl.byGSI[r.GSI]; ev != nil {
		return ev, nil
	}
	for _, io := range ctl.ioapics {
		if io.Has(r.GSI) {
			src := &pinSource{io: io, pin: int(r.GSI - io.GSIBase), route: r}
			ev, err := NewEvent(name, src, cpu)
			if err != nil {
				return nil, err
			}
			ctl.byGSI[r.GSI] = ev
			return ev, nil
		}
	}
	return nil, fmt.Errorf("ithread: %s: no I/O APIC has GSI %d", name, r.GSI)
}

// RedirEntry returns the I/O APIC redirection entry behind ev, if its
// source is an I/O APIC pin.
func RedirEntry(ev *Event) (apic.RedirEntry, bool) {
	if s, ok := ev.src.(*pinSource); ok {
		return s.Entry(), true
	}
	return 0, false
}

// SoftSource is a software-triggered interrupt: Trigger sends the event's
// vector to its CPU as a fixed IPI, exactly as a device's MSI would
// arrive. Masking holds triggers back; Unmask delivers one if any was held
// (like a level line still asserted). For tests and benchmarks.
type SoftSource struct {
	cpu, vec atomic.Int32
	masked   atomic.Bool
	held     atomic.Bool
	sent     atomic.Uint64
}

// NewSoftEvent creates an event with a software source on cpu.
func NewSoftEvent(name string, cpu int) (*Event, *SoftSource, error) {
	s := &SoftSource{}
	ev, err := NewEvent(name, s, cpu)
	return ev, s, err
}

func (s *SoftSource) Program(cpu int, vec uint8) error {
	s.cpu.Store(int32(cpu))
	s.vec.Store(int32(vec))
	s.masked.Store(false)
	return nil
}

// Trigger raises the interrupt; it reports false when it was held back
// by the mask (it is delivered at Unmask).
func (s *SoftSource) Trigger() bool {
	if s.masked.Load() {
		s.held.Store(true)
		return false
	}
	s.sent.Add(1)
	return kern.SendVector(int(s.cpu.Load()), uint8(s.vec.Load()))
}

// Sent returns how many interrupts Trigger sent.
func (s *SoftSource) Sent() uint64 { return s.sent.Load() }

func (s *SoftSource) Mask() { s.masked.Store(true) }
func (s *SoftSource) Unmask() {
	s.masked.Store(false)
	if s.held.Swap(false) {
		s.Trigger()
	}
}
func (s *SoftSource) Level() bool { return false }
func (s *SoftSource) String() string {
	return fmt.Sprintf("soft vec %#x", s.vec.Load())
}

// MSIDevice is a PCI function's MSI or MSI-X vector (drivers/pci
// implements it). SetMessage programs address and data and enables the
// vector (goroutine context); Mask sets or clears the vector's mask bit
// in trap context and reports false if the function cannot mask it.
type MSIDevice interface {
	SetMessage(addr uint64, data uint32) error
	Mask(masked bool) bool
	String() string
}

type msiSource struct{ dev MSIDevice }

// SetupMSI creates an event for an MSI or MSI-X vector delivered to cpu.
func SetupMSI(name string, dev MSIDevice, cpu int) (*Event, error) {
	return NewEvent(name, &msiSource{dev}, cpu)
}

func (s *msiSource) Program(cpu int, vec uint8) error {
	return s.dev.SetMessage(apic.MSIAddress(uint8(kern.APICID(cpu))), apic.MSIData(vec))
}
func (s *msiSource) Mask()          { s.dev.Mask(true) }
func (s *msiSource) Unmask()        { s.dev.Mask(false) }
func (s *msiSource) Level() bool    { return false }
func (s *msiSource) String() string { return s.dev.String() }
