// Command initfs lists a directory tree with every file's mode, size and
// SHA-256: run it on files given to the machine at boot,
//
//	go run ./cmd/smpgo run -fs ./mydir ./examples/initfs -- -root /
//
// smpgo run packs ./mydir into a tar archive, QEMU loads it as a
// multiboot module, and the kernel unpacks it into its in-memory file
// system before main runs (initfs=DIR picks where; default /). The
// make test boot example-initfs checks the listing against the tree on
// the host.
package main

import (
	"flag"
	"fmt"
	"os"

	_ "github.com/smpgo/smpgo" // links the kernel: this program is the machine's application
	"github.com/smpgo/smpgo/fs/fslist"
)

func main() {
	root := flag.String("root", "/", "the directory to list")
	flag.Parse()
	lines, sum, err := fslist.List(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "initfs:", err)
		os.Exit(1)
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Printf("initfs: %d files (%d bytes), %d directories under %s\n", sum.Files, sum.Bytes, sum.Dirs, *root)
}
