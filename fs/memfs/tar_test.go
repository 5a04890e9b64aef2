package memfs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type tarEntry struct {
	name string
	typ  byte
	mode int64
	body string
}

func mkTar(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)), Format: tar.FormatUSTAR}
		if e.typ == tar.TypeSymlink {
			h.Linkname, h.Size = "target", 0
		}
		require.NoError(t, tw.WriteHeader(h))
		if e.typ == tar.TypeReg {
			_, err := tw.Write([]byte(e.body))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func fileAt(t *testing.T, fs *FS, path string) (string, uint32) {
	t.Helper()
	n, err := fs.Lookup(fs.Root(), path)
	require.NoError(t, err, path)
	st := fs.Stat(n)
	if n.IsDir() {
		return "", st.Mode
	}
	f, err := fs.Open(fs.Root(), path, O_RDONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	return readAll(t, f), st.Mode
}

func TestUnpack(t *testing.T) {
	fs := New(Config{})
	require.NoError(t, fs.WriteFile("/etc-old", []byte("old contents, longer"), 0o600))
	archive := mkTar(t,
		tarEntry{"./", tar.TypeDir, 0o755, ""},
		tarEntry{"./bin/", tar.TypeDir, 0o750, ""},
		tarEntry{"./bin/tool", tar.TypeReg, 0o755, "#!tool\n"},
		tarEntry{"data/deep/nested/file.txt", tar.TypeReg, 0o640, "nested"}, // parents not listed
		tarEntry{"/abs", tar.TypeReg, 0o444, "absolute names stay under the directory"},
		tarEntry{"etc-old", tar.TypeReg, 0o644, "new"},
		tarEntry{"empty", tar.TypeReg, 0o600, ""},
		tarEntry{"link", tar.TypeSymlink, 0o777, ""},
	)
	st, err := fs.Unpack("/", archive)
	require.NoError(t, err)
	assert.Equal(t, TarStats{Files: 5, Dirs: 1, Bytes: int64(len("#!tool\nnestedabsolute names stay under the directorynew")), Skipped: 1}, st)
	for _, c := range []struct {
		path string
		body string
		mode uint32
	}{
		{"/bin", "", S_IFDIR | 0o750},
		{"/bin/tool", "#!tool\n", S_IFREG | 0o755},
		{"/data/deep/nested/file.txt", "nested", S_IFREG | 0o640},
		{"/data/deep", "", S_IFDIR | 0o755},
		{"/abs", "absolute names stay under the directory", S_IFREG | 0o444},
		{"/etc-old", "new", S_IFREG | 0o644}, // replaced: contents and mode
		{"/empty", "", S_IFREG | 0o600},
	} {
		body, mode := fileAt(t, fs, c.path)
		assert.Equal(t, c.body, body, c.path)
		assert.Equal(t, c.mode, mode, c.path)
	}
	_, err = fs.Lookup(fs.Root(), "/link")
	assert.Equal(t, syscall.ENOENT, err)

	// Into a directory made on the way, gzip-compressed.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(mkTar(t, tarEntry{"a/b", tar.TypeReg, 0o600, "zipped"}))
	require.NoError(t, zw.Close())
	st, err = fs.Unpack("/srv/www", gz.Bytes())
	require.NoError(t, err)
	assert.True(t, st.Gzip)
	body, _ := fileAt(t, fs, "/srv/www/a/b")
	assert.Equal(t, "zipped", body)
}

func TestUnpackErrors(t *testing.T) {
	fs := New(Config{MaxBytes: 100})
	_, err := fs.Unpack("/", []byte("plain text, not an archive"))
	assert.ErrorIs(t, err, ErrNotTar)
	_, err = fs.Unpack("/", []byte{0x1f, 0x8b, 1, 2, 3})
	assert.Error(t, err, "broken gzip")

	good := mkTar(t, tarEntry{"one", tar.TypeReg, 0o644, "1"}, tarEntry{"two", tar.TypeReg, 0o644, "2"})
	// A corrupt second header: the first entry stays, the error says where.
	bad := append([]byte(nil), good...)
	require.Equal(t, "two", string(bad[1024:1027]), "the second header follows the first's one data block")
	bad[1024+148] ^= 0x55 // its checksum field
	st, err := fs.Unpack("/c", bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "after")
	body, _ := fileAt(t, fs, "/c/one")
	assert.Equal(t, "1", body)
	assert.Equal(t, 1, st.Files)

	// A truncated archive.
	_, err = fs.Unpack("/t", good[:1024+200]) // inside the second header
	assert.Error(t, err)

	_, err = fs.Unpack("/", mkTar(t, tarEntry{"../escape", tar.TypeReg, 0o644, "x"}))
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = fs.Unpack("/", mkTar(t, tarEntry{"a/../../escape", tar.TypeReg, 0o644, "x"}))
	assert.ErrorIs(t, err, syscall.EINVAL)

	// Out of space: ENOSPC, named.
	_, err = fs.Unpack("/", mkTar(t, tarEntry{"big", tar.TypeReg, 0o644, string(make([]byte, 200))}))
	assert.ErrorIs(t, err, syscall.ENOSPC)
	assert.Contains(t, err.Error(), `"big"`)
	// A file where a directory is.
	require.NoError(t, fs.Mkdir(fs.Root(), "/d", 0o755))
	_, err = fs.Unpack("/", mkTar(t, tarEntry{"d", tar.TypeReg, 0o644, ""}))
	assert.ErrorIs(t, err, syscall.EISDIR)
}
