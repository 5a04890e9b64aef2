package qemu

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeGOROOT writes a GOROOT with a zoneinfo.zip of one zone and a
// package directory with sources, testdata (nested, a symbolic link) and
// a subpackage.
func fakeGOROOT(t *testing.T) (root, pkg string) {
	root = t.TempDir()
	pkg = filepath.Join(root, "src", "net")
	for name, body := range map[string]string{
		"src/net/net.go":            "package net\n",
		"src/net/net_test.go":       "package net\n// test\n",
		"src/net/testdata/hosts":    "127.0.0.1 localhost\n",
		"src/net/testdata/sub/deep": "deep\n",
		"src/net/http/server.go":    "package http\n",
		"src/go.mod":                "module std\n",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	require.NoError(t, os.Symlink("hosts", filepath.Join(pkg, "testdata", "link")))
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, err := zw.Create("Asia/Shanghai")
	require.NoError(t, err)
	_, err = w.Write([]byte("TZif2 shanghai"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.MkdirAll(filepath.Join(root, "lib", "time"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "lib", "time", "zoneinfo.zip"), zb.Bytes(), 0o644))
	return root, pkg
}

// readTar returns an archive's entries: name → body for files, "dir"
// for directories, "-> TARGET" for links.
func readTar(t *testing.T, b []byte) map[string]string {
	got := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		require.NoError(t, err)
		switch h.Typeflag {
		case tar.TypeDir:
			got[h.Name] = "dir"
		case tar.TypeSymlink:
			got[h.Name] = "-> " + h.Linkname
		default:
			body, err := io.ReadAll(tr)
			require.NoError(t, err)
			got[h.Name] = string(body)
		}
	}
}

func TestTestFSPack(t *testing.T) {
	root, pkg := fakeGOROOT(t)
	hostFile := filepath.Join(t.TempDir(), "services")
	require.NoError(t, os.WriteFile(hostFile, []byte("echo 7/tcp\n"), 0o644))
	tfs := TestFS{GOROOT: root, PkgDir: pkg, Files: []StdFile{
		{Path: "/usr/share/zoneinfo/Asia/Shanghai", From: "zoneinfo:Asia/Shanghai"},
		{Path: "/etc/services", From: "host:" + hostFile},
		{Path: "$GOROOT/src/go.mod", From: "goroot:src/go.mod"},
	}}
	var buf bytes.Buffer
	st, err := tfs.Pack(&buf)
	require.NoError(t, err)
	r := root[1:] // names are relative to /
	zi, err := os.ReadFile(filepath.Join(root, "lib", "time", "zoneinfo.zip"))
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		r + "/src/net/net.go":              "package net\n",
		r + "/src/net/net_test.go":         "package net\n// test\n",
		r + "/src/net/http/":               "dir", // a subpackage: listed, not its files
		r + "/src/net/testdata/":           "dir",
		r + "/src/net/testdata/hosts":      "127.0.0.1 localhost\n",
		r + "/src/net/testdata/link":       "-> hosts",
		r + "/src/net/testdata/sub/":       "dir",
		r + "/src/net/testdata/sub/deep":   "deep\n",
		r + "/lib/time/zoneinfo.zip":       string(zi),
		"usr/share/zoneinfo/Asia/Shanghai": "TZif2 shanghai",
		"etc/services":                     "echo 7/tcp\n",
		r + "/src/go.mod":                  "module std\n",
	}, readTar(t, buf.Bytes()))
	require.Equal(t, 8, st.Files)
	require.Equal(t, []string{"GOROOT=" + root, "cwd=" + pkg}, tfs.KernelArgs())

	for _, bad := range []StdFile{
		{Path: "/x", From: "zoneinfo:No/Such"},
		{Path: "/x", From: "host:" + filepath.Join(root, "missing")},
		{Path: "/x", From: "web:http://example"},
	} {
		tfs.Files = []StdFile{bad}
		_, err := tfs.Pack(io.Discard)
		require.Error(t, err, bad.From)
		require.Contains(t, err.Error(), "/x")
	}
	_, err = TestFS{GOROOT: root, PkgDir: filepath.Join(root, "nope")}.Pack(io.Discard)
	require.Error(t, err)
}

func TestGuestDir(t *testing.T) {
	require.Equal(t, "/usr/local/go/src/time", GuestDir("/usr/local/go/src/time/"))
	require.Equal(t, "/host/home/a_b/pkg", GuestDir("/home/a b/pkg"), "blanks cannot pass the command line")
}

func TestParseStdTestsFiles(t *testing.T) {
	l, err := ParseStdTests("std net\nfile net /etc/services host:/etc/services\nfile net /usr/share/zoneinfo/UTC zoneinfo:UTC\nfile net $GOROOT/src/testdata/x goroot:src/testdata/x\n")
	require.NoError(t, err)
	require.Equal(t, []StdFile{{"/etc/services", "host:/etc/services"}, {"/usr/share/zoneinfo/UTC", "zoneinfo:UTC"}, {"$GOROOT/src/testdata/x", "goroot:src/testdata/x"}}, l[0].Files)
	for _, bad := range []string{
		"file net /etc/x host:/y",              // no std line
		"std net\nfile net etc/x host:/y",      // relative
		"std net\nfile net /etc/x web:/y",      // unknown source
		"std net\nfile net /etc/x zoneinfo:",   // no name
		"std net\nfile net /etc/x",             // no source
		"std net\nfile net /etc/x host:/y z:w", // too many words
	} {
		_, err := ParseStdTests(bad)
		require.Error(t, err, bad)
	}
}
