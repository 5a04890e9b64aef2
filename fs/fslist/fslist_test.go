package fslist

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestList(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "a", "b"), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(root, "a"), 0o755)) // not left to the umask
	require.NoError(t, os.Chmod(filepath.Join(root, "a", "b"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(root, "a", "b", "f"), []byte("hello\n"), 0o600))
	require.NoError(t, os.Chmod(filepath.Join(root, "a", "b", "f"), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(root, "empty"), nil, 0o644))
	require.NoError(t, os.Chmod(filepath.Join(root, "empty"), 0o644))
	require.NoError(t, os.Symlink("empty", filepath.Join(root, "link")))

	lines, sum, err := List(root)
	require.NoError(t, err)
	require.Equal(t, []string{
		"initfs: dir 0700 a/b",
		"initfs: dir 0755 a",
		fmt.Sprintf("initfs: file 0640 6 %x a/b/f", sha256.Sum256([]byte("hello\n"))),
		fmt.Sprintf("initfs: file 0644 0 %x empty", sha256.Sum256(nil)),
	}, lines, "sorted; the symbolic link left out")
	require.Equal(t, Summary{Files: 2, Dirs: 2, Bytes: 6}, sum)

	require.Equal(t, "initfs: dir 0755 x", Dir(os.ModeDir|0o755, "x"))

	_, _, err = List(filepath.Join(root, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// A file read as long as its stat says agrees; a size of 0 is a file made
// when read (/proc/cpuinfo); anything else is a file that changed.
func TestSizeAgrees(t *testing.T) {
	require.True(t, sizeAgrees(6, 6))
	require.True(t, sizeAgrees(0, 0))
	require.True(t, sizeAgrees(0, 276))
	require.False(t, sizeAgrees(6, 5))
	require.False(t, sizeAgrees(6, 7))
}
