// Package qemu runs the smpgo kernel under QEMU: it builds the command line
// for a topology (CPUs, NUMA nodes, memory, NIC, firmware, accelerator),
// streams the serial console, enforces a timeout, maps QEMU's exit status
// (isa-debug-exit) back to the kernel's test status, and symbolises kernel
// panic reports against the kernel ELF.
package qemu
