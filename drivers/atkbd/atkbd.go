// Package atkbd drives the PS/2 keyboard behind the i8042 keyboard
// controller (FreeBSD's atkbdc/atkbd): it turns the keys a person types at
// a real board (or QEMU's emulated keyboard, or USB keyboards that the
// firmware's legacy emulation presents as PS/2) into console input, so the
// debug shell works without a serial cable.
//
// The controller is probed at boot (a status register reading all ones
// means there is none, as on many UEFI-only boards); IRQ 1 is routed
// through the I/O APIC to a filter that reads the data port, decodes scan
// code set 1 (the controller translates the keyboard's set 2) and queues
// the bytes as console input (kern.ConsoleInputTrap), where the shell
// reads them exactly like bytes from COM1. A misbehaving controller (a
// command never accepted) is reported and left alone: the boot goes on.
package atkbd

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/ithread"
	"github.com/smpgo/smpgo/kern"
)

// i8042 registers and commands (IBM PS/2 Technical Reference; the
// controller's command byte is "mode" in QEMU's pckbd.c).
const (
	portData   = 0x60
	portStatus = 0x64 // read: status; write: command

	stOBF = 1 << 0 // output buffer full: a byte to read at portData
	stIBF = 1 << 1 // input buffer full: the controller has not taken the last write
	stAUX = 1 << 5 // the byte in the output buffer is from the mouse port

	cmdReadConfig  = 0x20
	cmdWriteConfig = 0x60
	cmdDisableAux  = 0xa7
	cmdDisableKbd  = 0xad
	cmdEnableKbd   = 0xae
	cmdWriteOutBuf = 0xd2 // the next data byte appears as if the keyboard sent it

	cfgKbdIntr   = 1 << 0
	cfgAuxIntr   = 1 << 1
	cfgKbdClkOff = 1 << 4
	cfgTranslate = 1 << 6

	kbdEnableScan = 0xf4
	kbdAck        = 0xfa

	irq = 1

	spins = 200000 // bound on every wait for the controller (no hangs)
)

// Stats are the driver's counters (show atkbd).
type Stats struct {
	Present    bool
	Config     uint8 // controller command byte after set-up
	Interrupts uint64
	Scancodes  uint64
	Chars      uint64 // bytes queued as console input
	AuxBytes   uint64 // mouse-port bytes discarded
	Unknown    uint64 // make codes with no mapping
	Err        error  // why set-up failed, if it did
}

var drv struct {
	present    bool
	config     uint8
	err        error
	dec        Decoder // filter context only (one CPU at a time: the event's)
	ev         *ithread.Event
	interrupts atomic.Uint64
	scancodes  atomic.Uint64
	chars      atomic.Uint64
	aux        atomic.Uint64
	unknown    atomic.Uint64

	// capture diverts decoded bytes from the console to cap (self-test).
	capture atomic.Bool
	capBuf  [512]byte
	capN    atomic.Uint32
}

func init() {
	if !kern.Booted() { // a host test binary: no ports to touch
		drv.err = errors.New("not running on the kernel")
	} else if err := attach(); err != nil {
		drv.err = err
		if !errors.Is(err, errAbsent) {
			fmt.Printf("atkbd: %v (keyboard not used)\n", err)
		}
	}
	kern.RegisterShow("atkbd", "PS/2 keyboard: controller configuration, interrupts, scan codes, characters", showAtkbd)
	kern.RegisterTest(kern.Test{Name: "Kbd/ScancodesThroughController", Fn: testThroughController})
}

var errAbsent = errors.New("no i8042 keyboard controller")

func waitWrite() bool {
	for i := 0; i < spins; i++ {
		if amd64.Inb(portStatus)&stIBF == 0 {
			return true
		}
		amd64.Pause()
	}
	return false
}

func waitRead() (byte, bool) {
	for i := 0; i < spins; i++ {
		if amd64.Inb(portStatus)&stOBF != 0 {
			return amd64.Inb(portData), true
		}
		amd64.Pause()
	}
	return 0, false
}

func command(c byte) error {
	if !waitWrite() {
		return fmt.Errorf("i8042 does not take command %#x", c)
	}
	amd64.Outb(portStatus, c)
	return nil
}

func writeData(b byte) error {
	if !waitWrite() {
		return fmt.Errorf("i8042 does not take data byte %#x", b)
	}
	amd64.Outb(portData, b)
	return nil
}

// flush drops whatever the controller holds (bounded).
func flush() {
	for i := 0; i < 64 && amd64.Inb(portStatus)&stOBF != 0; i++ {
		amd64.Inb(portData)
	}
}

// attach probes and sets up the controller with interrupts off, then
// routes IRQ 1 and turns the keyboard interrupt on.
func attach() error {
	if amd64.Inb(portStatus) == 0xff {
		return errAbsent
	}
	if err := command(cmdDisableKbd); err != nil {
		return err
	}
	if err := command(cmdDisableAux); err != nil {
		return err
	}
	flush()
	if err := command(cmdReadConfig); err != nil {
		return err
	}
	cfg, ok := waitRead()
	if !ok {
		return errors.New("i8042 does not answer the read-configuration command")
	}
	// Keyboard clock on, translation to set 1 on, both interrupts off
	// until the route is in place.
	cfg = (cfg | cfgTranslate) &^ (cfgKbdIntr | cfgAuxIntr | cfgKbdClkOff)
	if err := command(cmdWriteConfig); err != nil {
		return err
	}
	if err := writeData(cfg); err != nil {
		return err
	}
	if err := command(cmdEnableKbd); err != nil {
		return err
	}
	// Scanning on (firmware usually left it on; a keyboard that does not
	// acknowledge is reported but kept: some USB legacy emulations don't).
	if err := writeData(kbdEnableScan); err != nil {
		return err
	}
	if b, ok := waitRead(); !ok || b != kbdAck {
		fmt.Printf("atkbd: keyboard did not acknowledge enable-scanning (got %#x, %v)\n", b, ok)
	}
	flush()

	ev, err := ithread.SetupISA("atkbd", irq, 0)
	if err != nil {
		return err
	}
	if err := ev.AddHandler(&ithread.Handler{Name: "atkbd", Flags: ithread.MPSAFE, Filter: filter}); err != nil {
		return err
	}
	drv.ev = ev
	cfg |= cfgKbdIntr
	if err := command(cmdWriteConfig); err != nil {
		return err
	}
	if err := writeData(cfg); err != nil {
		return err
	}
	drv.config, drv.present = cfg, true
	return nil
}

// filter runs in primary interrupt context: it drains the output buffer,
// decodes, and queues the characters. No allocation, no sleeping.
func filter() int {
	drv.interrupts.Add(1)
	var buf [64]byte
	out := buf[:0]
	for i := 0; i < 16; i++ {
		st := amd64.Inb(portStatus)
		if st&stOBF == 0 {
			break
		}
		b := amd64.Inb(portData)
		if st&stAUX != 0 {
			drv.aux.Add(1)
			continue
		}
		drv.scancodes.Add(1)
		if len(out)+8 > cap(out) {
			break
		}
		out = drv.dec.Feed(b, out)
	}
	drv.unknown.Store(drv.dec.Unknown)
	if len(out) == 0 {
		return ithread.FilterHandled
	}
	drv.chars.Add(uint64(len(out)))
	if drv.capture.Load() {
		n := drv.capN.Load()
		for _, c := range out {
			if int(n) < len(drv.capBuf) {
				drv.capBuf[n] = c
				n++
			}
		}
		drv.capN.Store(n)
	} else {
		kern.ConsoleInputTrap(out)
	}
	return ithread.FilterHandled
}

// Read returns the driver's counters.
func Read() Stats {
	return Stats{Present: drv.present, Config: drv.config, Interrupts: drv.interrupts.Load(),
		Scancodes: drv.scancodes.Load(), Chars: drv.chars.Load(), AuxBytes: drv.aux.Load(),
		Unknown: drv.unknown.Load(), Err: drv.err}
}

func showAtkbd(w io.Writer, _ []string) {
	s := Read()
	if !s.Present {
		fmt.Fprintf(w, "atkbd: not attached: %v\n", s.Err)
		return
	}
	fmt.Fprintf(w, "atkbd0: i8042 on IRQ %d, command byte %#02x (translation %v)\n", irq, s.Config, s.Config&cfgTranslate != 0)
	fmt.Fprintf(w, "  %d interrupts, %d scan codes, %d characters, %d mouse bytes dropped, %d unmapped keys, %d console bytes dropped (ring full)\n",
		s.Interrupts, s.Scancodes, s.Chars, s.AuxBytes, s.Unknown, kern.ConsoleInputDropped())
}
