// Package fslist lists a directory tree a line per directory and regular
// file, with its permission bits, and for a file its size and SHA-256:
//
//	initfs: dir 0755 sub
//	initfs: file 0644 12 SHA256 sub/name
//
// examples/initfs prints it in the guest for the files unpacked from the
// boot modules, and the harness (qemu.FSListing) computes it for the tree
// on the host that the example-initfs boot's output must match. Standard
// library only: it builds for the host and for the kernel's programs.
package fslist

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Dir is a directory's line; rel is its name under the listed root.
func Dir(perm fs.FileMode, rel string) string {
	return fmt.Sprintf("initfs: dir %04o %s", perm.Perm(), rel)
}

// File is a regular file's line, for its contents b.
func File(perm fs.FileMode, b []byte, rel string) string {
	return fmt.Sprintf("initfs: file %04o %d %x %s", perm.Perm(), len(b), sha256.Sum256(b), rel)
}

// Summary counts what List listed.
type Summary struct {
	Files, Dirs int
	Bytes       int64 // the files' sizes summed
}

// sizeAgrees reports whether a file's contents, n bytes read, agree with
// the size its stat gave: the same, or a size of 0 for a file whose
// contents are made when it is read (/proc/cpuinfo, as on Linux).
func sizeAgrees(stat int64, n int) bool { return stat == int64(n) || stat == 0 }

// List lists the tree under root (not root itself), sorted; names are
// relative to root with forward slashes. Entries that are neither
// directories nor regular files (symbolic links, devices) are left out.
// A file whose contents are not as long as its size says is an error
// (but for a size of 0: files made when read, as in /proc).
func List(root string) ([]string, Summary, error) {
	var lines []string
	var sum Summary
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			sum.Dirs++
			lines = append(lines, Dir(fi.Mode(), rel))
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !sizeAgrees(fi.Size(), len(b)) {
				return fmt.Errorf("%s: read %d bytes, stat says %d", p, len(b), fi.Size())
			}
			sum.Files++
			sum.Bytes += int64(len(b))
			lines = append(lines, File(fi.Mode(), b, rel))
		}
		return nil
	})
	if err != nil {
		return nil, Summary{}, err
	}
	sort.Strings(lines)
	return lines, sum, nil
}
