// Package kstack runs the network stack (net/inet) inside the kernel: the
// netisr worker threads bound to CPUs, pairs of stacks joined by an
// in-memory link (net/memlink) for self-tests and for the Giant versus
// fine-grained benchmarks (DESIGN.md §6: QEMU's NICs run under QEMU's own
// global lock and would hide the difference), and the Net/ self-tests and
// benchmarks themselves.
//
// It also runs the system's stack (system.go): at boot every Ethernet
// interface a NIC driver attaches through net/if joins one stack, NIC
// independent (e1000's em0, virtio-net's vtnet0 alike), configured by DHCP
// or the net.* boot options, with the kernel's services on top
// (services.go: echo, discard, chargen, an HTTP status page), the shell's
// ifconfig and netstat (shell.go), and the NetNIC/ self-tests, whose
// HostPeer test serves the harness's host side (qemu.NetPeer).
//
// Everything here runs in goroutine context. The stack's locks are the lock
// package's (net/nlock in the kernel), so the self-tests run with WITNESS
// checking the stack's declared lock order (witness.Order) on every
// acquisition.
package kstack

import (
	"runtime"
	"strconv"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/net/inet"
	"github.com/smpgo/smpgo/net/memlink"
	"github.com/smpgo/smpgo/net/netisr"
	"github.com/smpgo/smpgo/net/nlock"
	"github.com/smpgo/smpgo/net/wire"
)

// NewNetisr starts one netisr worker per CPU, worker i a kernel thread
// bound to CPU i (runtime.LockOSThread, then kern.PinToCPU), with the
// dispatching CPU for PolicyCPU from kern.CPUID.
func NewNetisr() *netisr.Netisr {
	n := kern.NumCPU()
	return netisr.New(netisr.Config{
		Workers: n,
		CPU:     kern.CPUID,
		Bind: func(i int) {
			runtime.LockOSThread()
			if err := kern.PinToCPU(i % n); err != nil {
				panic("kstack: netisr worker " + strconv.Itoa(i) + ": " + err.Error())
			}
		},
	})
}

// Addresses of the two ends of a Pair.
var (
	AddrA = wire.MustAddr("10.0.0.1")
	AddrB = wire.MustAddr("10.0.0.2")
)

// PairConfig describes a Pair.
type PairConfig struct {
	Giant  bool // both stacks under Giant (lock.Giant)
	Queued bool // netisr queued dispatch on per-CPU workers (else direct)
	Policy netisr.Policy
	Faults memlink.Faults // damage on the link
	TCP    inet.TCPConfig
	Seed   int64
}

// Pair is two stacks, A (10.0.0.1/24) and B (10.0.0.2/24), joined by a
// memlink; with Queued, frames reach each stack through its own netisr
// protocol on a shared set of per-CPU workers.
type Pair struct {
	A, B *inet.Stack
	Link *memlink.Link
	ISR  *netisr.Netisr // nil without Queued
}

// NewPair builds a Pair. Close it.
func NewPair(cfg PairConfig) (*Pair, error) {
	p := &Pair{}
	var err error
	if p.Link, err = memlink.New(memlink.Config{Name: "kml", Faults: cfg.Faults}); err != nil {
		return nil, err
	}
	if cfg.Queued {
		p.ISR = NewNetisr()
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	mk := func(seed int64) (*inet.Stack, error) {
		c := inet.Config{Seed: seed, Giant: cfg.Giant, CPU: kern.CPUID, TCP: cfg.TCP}
		if cfg.Giant {
			c.GiantLock = nlock.Giant()
		}
		if p.ISR != nil {
			c.Netisr, c.NetisrMode, c.NetisrPolicy = p.ISR, netisr.Queued, cfg.Policy
		}
		return inet.New(c)
	}
	if p.A, err = mk(cfg.Seed); err != nil {
		p.Close()
		return nil, err
	}
	if p.B, err = mk(cfg.Seed + 1); err != nil {
		p.Close()
		return nil, err
	}
	if err = p.A.AddInterface(p.Link.A); err == nil {
		err = p.B.AddInterface(p.Link.B)
	}
	if err == nil {
		err = p.A.SetAddr(p.Link.A, AddrA, 24)
	}
	if err == nil {
		err = p.B.SetAddr(p.Link.B, AddrB, 24)
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Close shuts the stacks, the link and the workers down.
func (p *Pair) Close() {
	if p.A != nil {
		p.A.Close()
	}
	if p.B != nil {
		p.B.Close()
	}
	if p.Link != nil {
		p.Link.Close()
	}
	if p.ISR != nil {
		p.ISR.Close()
	}
}
