package qemu

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smpgo/smpgo/fs/fslist"
	"github.com/smpgo/smpgo/fs/memfs"
)

// memfsListing is FSListing's lines for a memfs tree (what examples/initfs
// prints in the guest).
func memfsListing(t *testing.T, fs *memfs.FS, dir, rel string, out *[]string) {
	n, err := fs.Lookup(fs.Root(), dir)
	require.NoError(t, err)
	ents, err := fs.Entries(n)
	require.NoError(t, err)
	for _, e := range ents[2:] {
		p, r := dir+"/"+e.Name, strings.TrimPrefix(rel+"/"+e.Name, "/")
		c, err := fs.Lookup(fs.Root(), p)
		require.NoError(t, err)
		st := fs.Stat(c)
		if c.IsDir() {
			*out = append(*out, fslist.Dir(os.FileMode(st.Mode&0o777), r))
			memfsListing(t, fs, p, r, out)
			continue
		}
		f, err := fs.Open(fs.Root(), p, memfs.O_RDONLY, 0)
		require.NoError(t, err)
		b := make([]byte, st.Size)
		k, _ := f.Pread(b, 0)
		f.Close()
		require.Equal(t, int(st.Size), k)
		*out = append(*out, fslist.File(os.FileMode(st.Mode&0o777), b, r))
	}
}

// The fixture packed by PackDir and unpacked by memfs lists the same as
// the tree on the host: every mode, size and byte.
func TestPackDirRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	require.NoError(t, SeedFixture(tree))
	require.NoError(t, os.Symlink("README", filepath.Join(tree, "link")))
	want, err := FSListing(tree)
	require.NoError(t, err)
	require.Len(t, want, 11)
	require.Contains(t, want, "initfs: dir 0700 data/deep")
	require.Contains(t, want, "initfs: file 0600 7 "+fmt.Sprintf("%x", sha256.Sum256([]byte("s3cr3t\n")))+" etc/secret")

	var buf bytes.Buffer
	require.NoError(t, PackDir(tree, &buf))
	// Names relative to the tree, directories with a slash, no owners.
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.Zero(t, h.Uid)
		require.Empty(t, h.Uname)
		names = append(names, h.Name)
	}
	require.Contains(t, names, "data/deep/nested/")
	require.Contains(t, names, "bin/hello.sh")
	require.Contains(t, names, "link")

	fs := memfs.New(memfs.Config{})
	st, err := fs.Unpack("/seed", buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, memfs.TarStats{Files: 6, Dirs: 5, Bytes: st.Bytes, Skipped: 1}, st)
	var got []string
	memfsListing(t, fs, "/seed", "", &got)
	sort.Strings(got)
	require.Equal(t, want, got)

	require.NoError(t, PackDirFile(tree, filepath.Join(dir, "a.tar")))
	fi, err := os.Stat(filepath.Join(dir, "a.tar"))
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), fi.Size())

	// A FIFO cannot be packed: the error names it.
	require.NoError(t, syscall.Mkfifo(filepath.Join(tree, "data", "fifo"), 0o644))
	require.ErrorContains(t, PackDir(tree, io.Discard), "data/fifo is a p")
}

func TestCorruptTarAndSeedModules(t *testing.T) {
	dir := t.TempDir()
	paths, output, err := seedModules(dir, nil)
	require.NoError(t, err)
	require.Len(t, paths, 2)
	require.Len(t, output, 12, "the tree's 11 entries and the corrupt archive's first file")
	bad, err := os.ReadFile(paths[1])
	require.NoError(t, err)
	fs := memfs.New(memfs.Config{})
	st, err := fs.Unpack("/", bad)
	require.ErrorContains(t, err, "after 1 entries: archive/tar: invalid tar header")
	require.Equal(t, 1, st.Files)
	require.True(t, strings.HasSuffix(paths[0], "/seed.tar") && strings.HasSuffix(paths[1], "/bad.tar"), "%v", paths)
	var b Boot
	for _, x := range Matrix(Smoke) {
		if x.Name == "example-initfs" {
			b = x
		}
	}
	require.NotNil(t, b.Modules, "example-initfs is in the smoke tier")
	require.NotContains(t, b.Config.Append, "--", "example-initfs boots without kernel options")
	paths, output, err = b.Modules(t.TempDir(), &b.Config)
	require.NoError(t, err)
	require.Len(t, output, 11, "the tree's entries; the corrupt archive's file is outside /seed")
	good, err := os.ReadFile(paths[0])
	require.NoError(t, err)
	fs = memfs.New(memfs.Config{})
	st, err = fs.Unpack("/", good)
	require.NoError(t, err)
	require.Equal(t, 6, st.Dirs, "seed/ and the tree's five")
	_, err = fs.Lookup(fs.Root(), "/seed/etc/app.conf")
	require.NoError(t, err)
}
