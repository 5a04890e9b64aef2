package qemu

import (
	"archive/tar"
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The file system a package's test binary finds in the kernel, as go test
// would give it on the host: the package's directory (its own files, which
// examples and some tests read, and testdata/ whole) at the same absolute
// path, which is also the binary's working directory (kernel option
// cwd=), and GOROOT/lib/time/zoneinfo.zip under the same GOROOT, which
// the environment names (GOROOT=), so that runtime.GOROOT, testenv.GOROOT
// and time.LoadLocation find it. One tar archive, a boot module that the
// kernel unpacks into its in-memory file system at start-up.

// TestFS describes a test binary's file tree.
type TestFS struct {
	GOROOT string    // the host's GOROOT (go env GOROOT)
	PkgDir string    // the package's directory on the host
	Files  []StdFile // more files (stdtests.txt "file" lines)
}

// StdFile is one more file in a test binary's tree: Path in the guest
// (absolute, or "$GOROOT/..." under the guest's GOROOT), its bytes From
// "zoneinfo:NAME" (an entry of GOROOT/lib/time/zoneinfo.zip, e.g.
// zoneinfo:Asia/Shanghai), "goroot:PATH" (a file under GOROOT) or
// "host:PATH" (a file of this machine, e.g. host:/etc/services).
type StdFile struct {
	Path, From string
}

// GuestDir is where dir (GOROOT or the package directory) is in the
// guest: the same path when the kernel command line can carry it (no
// blanks or quotes), else a path under /host named after it.
func GuestDir(dir string) string {
	if dir != "" && !strings.ContainsAny(dir, " \t\n\"") {
		return path.Clean(filepath.ToSlash(dir))
	}
	r := strings.NewReplacer(" ", "_", "\t", "_", "\n", "_", "\"", "_")
	return path.Join("/host", r.Replace(filepath.ToSlash(dir)))
}

// KernelArgs are the words for the kernel command line (before "--"):
// the environment's GOROOT and the working directory.
func (t TestFS) KernelArgs() []string {
	return []string{"GOROOT=" + GuestDir(t.GOROOT), "cwd=" + GuestDir(t.PkgDir)}
}

// TestFSStats is what Pack put in the archive.
type TestFSStats struct {
	Files int
	Bytes int64
}

// Pack writes the tree as a tar archive (names relative to /, so the
// kernel's default initfs=/ puts them at their paths): the package
// directory's regular files and its other subdirectories (empty), its
// testdata/ directory whole (directories,
// regular files; symbolic links as links, which the kernel skips and
// counts), GOROOT/lib/time/zoneinfo.zip and Files.
func (t TestFS) Pack(w io.Writer) (TestFSStats, error) {
	var st TestFSStats
	tw := tar.NewWriter(w)
	pkg := GuestDir(t.PkgDir)
	add := func(name string, fi fs.FileInfo, link string, body io.Reader) error {
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = strings.TrimPrefix(name, "/")
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		if body == nil || !fi.Mode().IsRegular() {
			return nil
		}
		n, err := io.Copy(tw, body)
		st.Files++
		st.Bytes += n
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		return nil
	}
	addFile := func(name, host string) error {
		f, err := os.Open(host)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", host)
		}
		return add(name, fi, "", f)
	}

	// The package's own files.
	ents, err := os.ReadDir(t.PkgDir)
	if err != nil {
		return st, fmt.Errorf("test file system: %v", err)
	}
	for _, e := range ents {
		var err error
		switch {
		case e.Type().IsRegular():
			err = addFile(path.Join(pkg, e.Name()), filepath.Join(t.PkgDir, e.Name()))
		case e.IsDir() && e.Name() != "testdata":
			// Subdirectories (other packages) are listed, empty: a
			// test that reads its directory finds them (os: exec).
			var fi fs.FileInfo
			if fi, err = e.Info(); err == nil {
				err = add(path.Join(pkg, e.Name()), fi, "", nil)
			}
		}
		if err != nil {
			return st, fmt.Errorf("test file system: %v", err)
		}
	}
	// testdata/, whole.
	td := filepath.Join(t.PkgDir, "testdata")
	if fi, err := os.Stat(td); err == nil && fi.IsDir() {
		err := filepath.WalkDir(td, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(t.PkgDir, p)
			if err != nil {
				return err
			}
			name := path.Join(pkg, filepath.ToSlash(rel))
			fi, err := d.Info()
			if err != nil {
				return err
			}
			switch {
			case fi.IsDir():
				return add(name, fi, "", nil)
			case fi.Mode().IsRegular():
				return addFile(name, p)
			case fi.Mode()&fs.ModeSymlink != 0:
				link, err := os.Readlink(p)
				if err != nil {
					return err
				}
				return add(name, fi, link, nil)
			}
			return nil // sockets, devices, FIFOs: not test data
		})
		if err != nil {
			return st, fmt.Errorf("test file system: %v", err)
		}
	}
	// GOROOT's time zone database.
	if t.GOROOT != "" {
		zi := filepath.Join(t.GOROOT, "lib", "time", "zoneinfo.zip")
		if err := addFile(path.Join(GuestDir(t.GOROOT), "lib/time/zoneinfo.zip"), zi); err != nil {
			return st, fmt.Errorf("test file system: %v", err)
		}
	}
	for _, f := range t.Files {
		if err := t.addStdFile(f, add, addFile); err != nil {
			return st, fmt.Errorf("test file system: %s: %v", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return st, err
	}
	return st, nil
}

func (t TestFS) addStdFile(f StdFile, add func(string, fs.FileInfo, string, io.Reader) error, addFile func(string, string) error) error {
	if rest, ok := strings.CutPrefix(f.Path, "$GOROOT/"); ok {
		f.Path = path.Join(GuestDir(t.GOROOT), rest)
	}
	kind, src, _ := strings.Cut(f.From, ":")
	switch kind {
	case "host":
		return addFile(f.Path, src)
	case "goroot":
		return addFile(f.Path, filepath.Join(t.GOROOT, filepath.FromSlash(src)))
	case "zoneinfo":
		zr, err := zip.OpenReader(filepath.Join(t.GOROOT, "lib", "time", "zoneinfo.zip"))
		if err != nil {
			return err
		}
		defer zr.Close()
		zf, err := zr.Open(src)
		if err != nil {
			return fmt.Errorf("zoneinfo.zip: %v", err)
		}
		defer zf.Close()
		fi, err := zf.Stat()
		if err != nil {
			return err
		}
		return add(f.Path, fileInfo{name: path.Base(f.Path), size: fi.Size(), mode: 0o644}, "", zf)
	}
	return fmt.Errorf("from %q: want zoneinfo:NAME, goroot:PATH or host:PATH", f.From)
}

// fileInfo is a regular file's header for a file that is not on disk.
type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (f fileInfo) Name() string       { return f.name }
func (f fileInfo) Size() int64        { return f.size }
func (f fileInfo) Mode() fs.FileMode  { return f.mode }
func (f fileInfo) ModTime() time.Time { return time.Unix(0, 0) }
func (f fileInfo) IsDir() bool        { return false }
func (f fileInfo) Sys() any           { return nil }

// PackFile writes the archive (Pack) to the file out.
func (t TestFS) PackFile(out string) (TestFSStats, error) {
	f, err := os.Create(out)
	if err != nil {
		return TestFSStats{}, err
	}
	st, err := t.Pack(f)
	if err != nil {
		f.Close()
		return st, err
	}
	return st, f.Close()
}

// GoRoot is the host's GOROOT (go env GOROOT), asked once.
var GoRoot = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %v", err)
	}
	root := strings.TrimSpace(string(out))
	if root == "" {
		return "", fmt.Errorf("go env GOROOT: empty")
	}
	return root, nil
})
