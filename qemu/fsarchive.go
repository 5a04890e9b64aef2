package qemu

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/smpgo/smpgo/fs/fslist"
)

// File-system archives for the kernel's boot modules (Config.Modules):
// the kernel unpacks a tar archive given as a multiboot module into its
// in-memory file system at boot (fs/kfs, initfs=).

// PackDir writes the tree under dir as a tar archive to w: directories,
// regular files and symbolic links with their permission bits and
// modification times, names relative to dir ("bin/", "bin/tool"), owners
// left out. Other file types (sockets, devices, FIFOs) are an error.
func PackDir(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		switch {
		case fi.Mode().IsRegular(), fi.IsDir():
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("pack %s: %s is a %v, not a file, directory or symbolic link", dir, rel, fi.Mode().Type())
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// PackDirFile writes dir's tar archive (PackDir) to the file out.
func PackDirFile(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := PackDir(dir, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// FSListing lists the tree under dir as examples/initfs prints it
// (fslist.List): a line per directory ("initfs: dir 0755 sub") and per
// regular file ("initfs: file 0644 12 SHA256 sub/name"), sorted.
func FSListing(dir string) ([]string, error) {
	lines, _, err := fslist.List(dir)
	return lines, err
}

// SeedFixture writes the file-system smoke boot's tree under dir, with
// modes set explicitly (not left to the umask): an executable script,
// a private file, an empty file, a 300 KiB binary file and nested
// directories of several modes.
func SeedFixture(dir string) error {
	big := make([]byte, 300<<10)
	x := uint32(2463534242)
	for i := range big {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		big[i] = byte(x)
	}
	for _, e := range []struct {
		name string
		mode os.FileMode
		body string
	}{
		{"bin/", 0o755, ""},
		{"bin/hello.sh", 0o755, "#!/bin/sh\necho hello from the seeded file system\n"},
		{"etc/", 0o750, ""},
		{"etc/app.conf", 0o640, "listen = /tmp/app.sock\nworkers = 4\n"},
		{"etc/secret", 0o600, "s3cr3t\n"},
		{"data/", 0o755, ""},
		{"data/deep/", 0o700, ""},
		{"data/deep/nested/", 0o755, ""},
		{"data/deep/nested/empty", 0o644, ""},
		{"data/blob.bin", 0o444, string(big)},
		{"README", 0o644, strings.Repeat("seeded from a multiboot module\n", 40)},
	} {
		p := filepath.Join(dir, filepath.FromSlash(e.name))
		if strings.HasSuffix(e.name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		} else if err := os.WriteFile(p, []byte(e.body), 0o600); err != nil {
			return err
		}
		if err := os.Chmod(p, e.mode); err != nil {
			return err
		}
	}
	return nil
}

// CorruptTar writes a tar archive whose second header's checksum is
// broken: the kernel unpacks the first file and reports the error.
func CorruptTar(out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, name := range []string{"first", "second"} {
		body := "the " + name + " file\n"
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}); err != nil {
			f.Close()
			return err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	// The second header follows the first header and its one data block.
	if _, err := f.WriteAt([]byte{'X'}, 1024+148); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
