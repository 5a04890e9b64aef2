package kfs

import (
	"syscall"

	"github.com/smpgo/smpgo/fs/memfs"
)

// AF_UNIX sockets bound to paths (net/sock): the name is a socket node in
// the file system, as on Linux, so stat shows S_IFSOCK, unlink removes
// it and a second bind to it fails.

// BindSocket creates a socket node at path (a relative path from the
// working directory) that refers to sock: EADDRINUSE when the name
// exists, the lookup's errno otherwise (ENOENT, ENOTDIR, ...).
func BindSocket(path string, sock any) error {
	mu.Lock()
	dir := cwd
	mu.Unlock()
	err := FS.MkSock(dir, path, 0o755, sock)
	if err == syscall.EEXIST {
		return syscall.EADDRINUSE
	}
	return err
}

// FindSocket returns the socket a path names: the lookup's errno when
// there is no such name, ECONNREFUSED when it is not a socket node (as
// connect(2) answers), or the socket given to BindSocket.
func FindSocket(path string) (any, error) {
	mu.Lock()
	dir := cwd
	mu.Unlock()
	n, err := FS.Lookup(dir, path)
	if err != nil {
		return nil, err
	}
	if FS.Stat(n).Mode&memfs.S_IFMT != memfs.S_IFSOCK || n.Socket() == nil {
		return nil, syscall.ECONNREFUSED
	}
	return n.Socket(), nil
}
