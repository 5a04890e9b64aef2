package qemu

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRepoRoot(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644))
	deep := filepath.Join(root, "a", "b", "c")
	require.NoError(t, os.MkdirAll(deep, 0o755))
	got, err := RepoRoot(deep)
	require.NoError(t, err)
	require.Equal(t, root, got)
	got, err = RepoRoot(root)
	require.NoError(t, err)
	require.Equal(t, root, got)

	// This package's own repository.
	got, err = RepoRoot(".")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(got, "qemu", "doc.go"))
}

func TestRepoRootNone(t *testing.T) {
	_, err := RepoRoot("/")
	require.EqualError(t, err, "no go.mod in / or any directory above it")
}

func TestFindQEMU(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "qemu-system-x86_64")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755))
	t.Setenv("PATH", dir)
	got, err := FindQEMU("")
	require.NoError(t, err)
	require.Equal(t, fake, got)

	t.Setenv("PATH", t.TempDir())
	_, err = FindQEMU("")
	require.EqualError(t, err, "qemu-system-x86_64 not found: run 'make deps' (as root: apt-get install qemu-system-x86)")
	require.ErrorIs(t, err, ErrNoQEMU)

	got, err = FindQEMU(fake)
	require.NoError(t, err, "a path is used as it is")
	require.Equal(t, fake, got)
}

func TestFindOVMF(t *testing.T) {
	dir := t.TempDir()
	fw := filepath.Join(dir, "OVMF.fd")
	require.NoError(t, os.WriteFile(fw, []byte("fw"), 0o644))
	got, err := FindOVMF(fw)
	require.NoError(t, err)
	require.Equal(t, fw, got)

	_, err = FindOVMF(filepath.Join(dir, "missing.fd"))
	require.ErrorIs(t, err, ErrNoOVMF)
	require.ErrorContains(t, err, "missing.fd")
	_, err = FindOVMF(dir)
	require.ErrorIs(t, err, ErrNoOVMF, "a directory is no firmware")

	saved := OVMFPaths
	t.Cleanup(func() { OVMFPaths = saved })
	OVMFPaths = []string{filepath.Join(dir, "nothing.fd"), fw}
	got, err = FindOVMF("")
	require.NoError(t, err)
	require.Equal(t, fw, got, "the first of OVMFPaths that exists")
}
