// Package vm owns memory: the physical page pool (filled from the boot
// loader's memory map), the kernel's single address space and its 4-level
// page tables (Intel SDM vol. 3A §4.5), the reservations the Go runtime makes
// with mmap, and demand-zero paging of those reservations from the page-fault
// handler.
//
// Layout: physical memory below 4 GiB is identity-mapped with 2 MiB pages by
// the boot code (page 0 excepted, so nil dereferences fault), and InitPhys
// extends the identity map over the RAM above 4 GiB (up to MaxPhys, 512
// GiB; phys.go says why an identity map rather than a direct map
// elsewhere), so a page's physical address is the kernel's address for
// it everywhere; the runtime's
// reservations live in [SpaceBase, SpaceTop), above any identity-mapped
// address, and are backed by 4 KiB pages on first touch. Page-table pages
// are reached through the identity map. The kernel pmap (pmap.go,
// kpmap.go) changes that tree by ranges: W^X for the kernel image, NX on
// the rest, uncached device registers, unmapped stack guard pages, and
// mappings of the kernel's choosing in [KVABase, KVATop).
//
// Everything here runs in trap context (interrupts off, no Go runtime
// services): no allocation, no pointers stored in globals, raw spin locks.
// The pure parts (Space, page-table index math) are host-tested.
package vm
