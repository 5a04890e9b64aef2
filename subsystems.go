package smpgo

// The kernel's subsystems: every package that must be in every kernel
// image (the kernel's own, applications' and test binaries') is imported
// here, once, so that its init functions register its services (self-tests,
// benchmarks, shell commands, drivers). Add a new subsystem with one line,
// in alphabetical order.
import (
	_ "github.com/smpgo/smpgo/boot"               // Multiboot entry, long mode, then kern.Boot
	_ "github.com/smpgo/smpgo/callout"            // per-CPU callout wheels, softclock threads (callout_reset/stop/drain)
	_ "github.com/smpgo/smpgo/drivers/atkbd"      // PS/2 keyboard (i8042) as console input
	_ "github.com/smpgo/smpgo/drivers/clocksrc"   // HPET and ACPI PM timer as timecounters; the TSC recalibrated against them
	_ "github.com/smpgo/smpgo/drivers/e1000"      // Intel 8254x (QEMU e1000) network driver
	_ "github.com/smpgo/smpgo/drivers/edu"        // QEMU's edu interrupt test device
	_ "github.com/smpgo/smpgo/drivers/pci"        // PCI enumeration, BARs, MSI/MSI-X, driver registry
	_ "github.com/smpgo/smpgo/drivers/rtc"        // wall-clock time from the MC146818 RTC at boot
	_ "github.com/smpgo/smpgo/drivers/virtio/net" // virtio-net (vtnet) over the modern virtio PCI transport
	_ "github.com/smpgo/smpgo/fs/kfs"             // in-memory file system behind open/read/write/getdents64/... (/dev, /proc, /etc, /tmp)
	_ "github.com/smpgo/smpgo/ithread"            // interrupt events, filters, interrupt threads, I/O APIC routing
	_ "github.com/smpgo/smpgo/kern"               // runtime personality, scheduler, SMP, console, self-tests, shell
	_ "github.com/smpgo/smpgo/lock"               // spin/sleep mutexes, sx, rw, condvars, Giant, refcounts, lock profiling
	_ "github.com/smpgo/smpgo/net/kstack"         // the network stack in the kernel: netisr workers on CPUs, Net/ self-tests and benchmarks
	_ "github.com/smpgo/smpgo/net/resolv"         // /etc/resolv.conf, nsswitch.conf and hosts from net.dns=/hosts= or DHCP: Go's resolver; DNS/ self-tests
	_ "github.com/smpgo/smpgo/net/sock"           // socket system calls for Go's net on the kernel's stack (loopback without a NIC)
	_ "github.com/smpgo/smpgo/taskqueue"          // task queues: thread pools, coalescing enqueue, drain, timeout tasks
	_ "github.com/smpgo/smpgo/uma"                // zone allocator: per-CPU buckets, per-domain caches, slabs from vm
)
