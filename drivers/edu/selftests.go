package edu

import (
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/drivers/pci"
	"github.com/smpgo/smpgo/ithread"
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/vm"
)

// Self-tests with QEMU's edu device (-device edu); without it they log
// that there is nothing to test and pass.
func init() {
	kern.RegisterTest(kern.Test{Name: "Intr/EduMSIEachCPU", Fn: testMSI})
	kern.RegisterTest(kern.Test{Name: "Intr/EduINTxLevel", Fn: testINTx})
	kern.RegisterTest(kern.Test{Name: "VM/EduDMABelowReach", Fn: testDMA})
}

// testDMA: buffers for the edu DMA engine come from below its 256 MiB
// reach whatever else the allocator prefers (on a guest with memory above
// 4 GiB an unconstrained page comes from there); a page's pattern goes
// to the device and back into another page intact.
func testDMA(t *kern.T) {
	e := open(t)
	if e == nil {
		return
	}
	if pa, ok := vm.AllocPages(vm.Policy{}, 0); ok {
		t.Logf("an unconstrained page comes from %#x", pa)
		vm.FreePages(pa, 0)
	}
	src, err := AllocDMA(1)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer vm.FreeContig(src, 1)
	dst, err := AllocDMA(1)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer vm.FreeContig(dst, 1)
	for _, pa := range []uintptr{src, dst} {
		if pa+vm.PageSize > DMAReach {
			t.Errorf("DMA page %#x beyond the device's reach", pa)
		}
	}
	for i := uintptr(0); i < vm.PageSize; i += 8 {
		amd64.Store64(src+i, uint64(src+i)*0x9e3779b97f4a7c15)
		amd64.Store64(dst+i, 0)
	}
	const n = 2048
	if err := e.DMA(src, 0, n, false); err != nil {
		t.Fatalf("RAM to device: %v", err)
	}
	if err := e.DMA(dst, 0, n, true); err != nil {
		t.Fatalf("device to RAM: %v", err)
	}
	bad := 0
	for i := uintptr(0); i < vm.PageSize; i += 8 {
		want := uint64(src+i) * 0x9e3779b97f4a7c15
		if i >= n {
			want = 0 // beyond the transfer: untouched
		}
		if amd64.Load64(dst+i) != want {
			bad++
		}
	}
	if bad != 0 {
		t.Errorf("%d of 512 words wrong after %d bytes went through the device and back", bad, n)
	}
	if err := e.DMA(dst, 0, BufferSize, true); err == nil {
		t.Errorf("a DMA to the buffer's last byte was accepted")
	}
	if err := e.DMA(DMAReach, 0, 8, false); err == nil {
		t.Errorf("a DMA beyond the reach was accepted")
	}
	t.Logf("%d bytes from %#x through the device to %#x", n, src, dst)
}

func open(t *kern.T) *Device {
	d, err := pci.Lookup(VendorID, DeviceID)
	if err != nil {
		t.Logf("no edu device (QEMU -device edu): nothing to test")
		return nil
	}
	e, err := Open(d)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return e
}

// counter records acknowledged interrupts per CPU.
type counter struct {
	perCPU [kern.MaxCPU]atomic.Uint64
	bits   atomic.Uint64
	thread atomic.Uint64
}

func (c *counter) filter(e *Device, sched bool) func() int {
	return func() int {
		s := e.Ack()
		if s == 0 {
			return ithread.FilterStray
		}
		c.bits.Add(uint64(s))
		c.perCPU[kern.CPUID()].Add(1)
		if sched {
			return ithread.FilterHandled | ithread.FilterScheduleThread
		}
		return ithread.FilterHandled
	}
}

// MSI from the edu device bound to each CPU in turn: the message names
// that CPU's APIC ID and vector, and the interrupt arrives there.
func testMSI(t *kern.T) {
	e := open(t)
	if e == nil {
		return
	}
	msi, err := e.PCI.MSI()
	if err != nil {
		t.Fatalf("edu has no MSI: %v", err)
	}
	defer msi.Disable()
	ev, err := ithread.SetupMSI("edu-msi", msi, 0)
	if err != nil {
		t.Fatalf("SetupMSI: %v", err)
	}
	defer ev.Remove()
	var c counter
	if err := ev.AddHandler(&ithread.Handler{Name: "edu", Flags: ithread.MPSAFE, Filter: c.filter(e, false)}); err != nil {
		t.Fatalf("AddHandler: %v", err)
	}
	for cpu := 0; cpu < kern.NumCPU(); cpu++ {
		if err := ev.Bind(cpu); err != nil {
			t.Fatalf("Bind(%d): %v", cpu, err)
		}
		addr, data := msi.Message()
		dest, vec := apic.MSIDecode(addr, data)
		if _, want := ev.CPU(); uint32(dest) != kern.APICID(cpu) || vec != want {
			t.Errorf("CPU %d: message %#x/%#x names APIC %d vector %#x, want %d/%#x", cpu, addr, data, dest, vec, kern.APICID(cpu), want)
		}
		before := c.perCPU[cpu].Load()
		for i := 0; i < 5; i++ {
			e.Raise(1 << uint(i))
			if !kern.WaitFor(10*time.Second, func() bool { return c.perCPU[cpu].Load() > before+uint64(i) }) {
				t.Fatalf("CPU %d: MSI %d never arrived (count %d)", cpu, i, c.perCPU[cpu].Load()-before)
			}
		}
	}
	s := ev.Stats()
	for cpu := 0; cpu < kern.NumCPU(); cpu++ {
		if s.PerCPU[cpu] != 5 {
			t.Errorf("CPU %d took %d MSIs, want 5 (%v)", cpu, s.PerCPU[cpu], s.PerCPU)
		}
	}
	if s.Stray != 0 {
		t.Errorf("%d stray", s.Stray)
	}
	t.Logf("%s: per CPU %v", msi, s.PerCPU)
}

// INTx through the I/O APIC: the firmware's Interrupt Line names an ISA
// IRQ whose route QEMU's MADT makes level-triggered. The line stays
// masked while the interrupt thread runs, and unmasked afterwards.
func testINTx(t *kern.T) {
	e := open(t)
	if e == nil {
		return
	}
	line := int(e.PCI.InterruptLine)
	r, err := ithread.ISARoute(line)
	if err != nil || e.PCI.InterruptPin == 0 {
		t.Fatalf("edu INTx: pin %d line %d: %v", e.PCI.InterruptPin, line, err)
	}
	e.PCI.SetCommand(0, pci.CMD_INTX_DISABLE)
	cpu := kern.NumCPU() - 1
	ev, err := ithread.SetupISA("edu-intx", line, cpu)
	if err != nil {
		t.Fatalf("SetupISA(%d): %v", line, err)
	}
	var c counter
	h := &ithread.Handler{Name: "edu-intx", Flags: ithread.MPSAFE, Filter: c.filter(e, true),
		Func: func() { c.thread.Add(1) }}
	if err := ev.AddHandler(h); err != nil {
		t.Fatalf("AddHandler: %v", err)
	}
	defer ev.Source().Mask()
	for i := 0; i < 10; i++ {
		want := uint64(i + 1)
		e.Raise(1)
		if !kern.WaitFor(10*time.Second, func() bool { return c.thread.Load() >= want }) {
			t.Fatalf("INTx %d: filter %d thread %d", i, c.perCPU[cpu].Load(), c.thread.Load())
		}
	}
	if re, ok := ithread.RedirEntry(ev); !ok || re.Masked() || re.Level() != r.Level {
		t.Errorf("entry %v after the thread ran, route %v", re, r)
	}
	if n := c.perCPU[cpu].Load(); n != 10 {
		t.Errorf("filter acknowledged %d interrupts on CPU %d, want 10", n, cpu)
	}
	t.Logf("line %d, %v; %d interrupts, thread ran %d times", line, r, c.perCPU[cpu].Load(), c.thread.Load())
}
