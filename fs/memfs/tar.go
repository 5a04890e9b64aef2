package memfs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"syscall"
)

// TarStats says what Unpack did.
type TarStats struct {
	Files, Dirs int   // regular files and directories made
	Bytes       int64 // file contents written
	Skipped     int   // entries of types memfs has no node for (symbolic and hard links, devices, FIFOs)
	Gzip        bool  // the archive was gzip-compressed
}

// ErrNotTar is Unpack's answer for data that is neither a tar archive
// (ustar or GNU magic at offset 257) nor a gzip stream.
var ErrNotTar = errors.New("not a tar archive (no ustar magic) nor gzip-compressed")

// Unpack extracts the tar archive in data (optionally gzip-compressed)
// under directory dir (from the root; made if missing): regular files
// with their contents and permission bits (a file that exists is
// replaced), directories with theirs (one that exists keeps its own).
// Names are taken relative to dir whatever their form ("/a", "./a",
// "a"); a name that climbs out of dir ("..") is an error. Entries memfs
// cannot represent are counted in Skipped. On error, the entries before
// the bad one stay unpacked; the error names the entry.
func (fs *FS) Unpack(dir string, data []byte) (TarStats, error) {
	var st TarStats
	var r io.Reader = bytes.NewReader(data)
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		z, err := gzip.NewReader(r)
		if err != nil {
			return st, fmt.Errorf("gzip: %w", err)
		}
		st.Gzip = true
		r = bufio.NewReaderSize(z, 64<<10)
	} else if len(data) < 263 || !bytes.Equal(data[257:262], []byte("ustar")) {
		return st, ErrNotTar
	}
	dir = path.Clean("/" + dir)
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return st, fmt.Errorf("%s: %w", dir, err)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("after %d entries: %w", st.Files+st.Dirs+st.Skipped, err)
		}
		name := path.Clean("/" + h.Name)
		if strings.Contains("/"+h.Name+"/", "/../") {
			return st, fmt.Errorf("%q: %w (the name leaves the directory)", h.Name, syscall.EINVAL)
		}
		full := path.Join(dir, name)
		perm := uint32(h.Mode) & 0o7777
		switch h.Typeflag {
		case tar.TypeDir:
			if name == "/" {
				continue
			}
			if err := fs.MkdirAll(path.Dir(full), 0o755); err != nil {
				return st, fmt.Errorf("%q: %w", h.Name, err)
			}
			if err := fs.Mkdir(fs.root, full, perm); err != nil && err != syscall.EEXIST {
				return st, fmt.Errorf("%q: %w", h.Name, err)
			}
			st.Dirs++
		case tar.TypeReg:
			if err := fs.MkdirAll(path.Dir(full), 0o755); err != nil {
				return st, fmt.Errorf("%q: %w", h.Name, err)
			}
			n, err := fs.unpackFile(full, perm, tr)
			st.Bytes += n
			if err != nil {
				return st, fmt.Errorf("%q: %w", h.Name, err)
			}
			st.Files++
		default:
			st.Skipped++
		}
	}
}

// unpackFile creates (or replaces) the regular file at full with mode
// perm and the contents r holds.
func (fs *FS) unpackFile(full string, perm uint32, r io.Reader) (int64, error) {
	if n, err := fs.Lookup(fs.root, full); err == nil {
		if n.IsDir() {
			return 0, syscall.EISDIR
		}
		if err := fs.Unlink(fs.root, full, false); err != nil {
			return 0, err
		}
	}
	f, err := fs.Open(fs.root, full, O_WRONLY|O_CREAT|O_EXCL, perm)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(f, r)
}
