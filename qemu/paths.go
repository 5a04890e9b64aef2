package qemu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Paths of the kernel's build outputs, relative to the repository root.
const (
	KernelImage = "build/kernel.img" // what QEMU boots (-kernel)
	KernelELF   = "build/kernel.elf" // the linked kernel, for symbols
)

// ErrNoQEMU is wrapped by FindQEMU's error when QEMU is not installed.
var ErrNoQEMU = errors.New("run 'make deps' (as root: apt-get install qemu-system-x86)")

// FindQEMU looks bin (default DefaultBinary) up in PATH, or checks it if
// it is a path, and returns the executable's path.
func FindQEMU(bin string) (string, error) {
	if bin == "" {
		bin = DefaultBinary
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%s not found: %w", bin, ErrNoQEMU)
	}
	return p, nil
}

// RepoRoot walks up from dir to the directory holding go.mod.
func RepoRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !st.IsDir() {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod in %s or any directory above it", dir)
		}
		d = parent
	}
}
