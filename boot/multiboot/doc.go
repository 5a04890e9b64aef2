// Package multiboot holds the boot-loader protocol definitions shared by the
// image tool (which writes the headers) and the kernel (which reads the
// information the loader hands over):
//
//   - Multiboot Specification 0.6.96 (multiboot 1): the boot magic only;
//     the kernel reads the multiboot 1 information structure itself
//     (kern/boot.go), since QEMU's -kernel scatters it across low memory;
//   - Multiboot2 Specification 2.0 §3.1 (OS image format: the header and
//     its tags) and §3.6 (boot information format: the tag list), which
//     GRUB uses on BIOS and UEFI machines.
//
// The parser is pure Go without unsafe, builds and is tested on the host,
// and does not allocate: the kernel runs it before the Go runtime exists
// (kern.Boot), on a copy of the information the 32-bit entry made
// (boot/entry_amd64.s). Accessors return slices into that copy.
//
// Names follow the specification's C header (multiboot2.h) in Go case:
// MULTIBOOT_TAG_TYPE_MMAP is TagMmap, multiboot_mmap_entry is MmapEntry.
package multiboot
