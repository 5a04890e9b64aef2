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
	"crypto/sha256"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	_ "github.com/smpgo/smpgo" // links the kernel: this program is the machine's application
)

func main() {
	root := flag.String("root", "/", "the directory to list")
	flag.Parse()
	var lines []string
	var files, dirs int
	var size int64
	err := filepath.WalkDir(*root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(*root, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			dirs++
			lines = append(lines, fmt.Sprintf("initfs: dir %04o %s", fi.Mode().Perm(), rel))
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if int64(len(b)) != fi.Size() {
				return fmt.Errorf("%s: read %d bytes, stat says %d", p, len(b), fi.Size())
			}
			files++
			size += int64(len(b))
			lines = append(lines, fmt.Sprintf("initfs: file %04o %d %x %s", fi.Mode().Perm(), len(b), sha256.Sum256(b), rel))
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "initfs:", err)
		os.Exit(1)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Printf("initfs: %d files (%d bytes), %d directories under %s\n", files, size, dirs, *root)
}
