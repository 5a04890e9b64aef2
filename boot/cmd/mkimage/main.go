// Command mkimage turns the kernel's 64-bit ELF (build/kernel.elf) into an
// image that boot loaders load: a multiboot 1 header with the a.out kludge
// (flags bit 16: load addresses given in the header, since QEMU's -kernel
// rejects 64-bit ELF) at the start of a header page, followed by the flat
// memory image of the ELF's PT_LOAD segments.
//
// Usage: mkimage -o build/kernel.img build/kernel.elf
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/smpgo/smpgo/boot/image"
)

func main() {
	out := flag.String("o", "", "output image path")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: mkimage -o IMAGE KERNEL.elf")
		os.Exit(2)
	}
	in, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	img, info, err := image.Build(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, img, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	fmt.Printf("mkimage: %s: load %#x-%#x bss-end %#x entry %#x (%d KiB)\n",
		*out, info.LoadAddr, info.LoadEnd, info.BSSEnd, info.Entry, len(img)>>10)
}
