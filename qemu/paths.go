package qemu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Paths of the kernel's build outputs, relative to the repository root.
const (
	KernelImage = "build/kernel.img" // what QEMU boots (-kernel)
	KernelELF   = "build/kernel.elf" // the linked kernel, for symbols
	BootISO     = "build/smpgo.iso"  // the bootable image (make image), BIOS and UEFI
)

// OVMFPaths are where Debian's and QEMU's packages put a combined
// (code and variables) OVMF image, looked at in this order.
var OVMFPaths = []string{DefaultOVMF, "/usr/share/qemu/OVMF.fd"}

// ErrNoOVMF is wrapped by FindOVMF's error when no OVMF image is found.
var ErrNoOVMF = errors.New("run 'bash tools/deps.sh image' (as root: apt-get install ovmf)")

// FindOVMF returns path if it is given and exists, else the first of
// OVMFPaths that exists.
func FindOVMF(path string) (string, error) {
	cands := OVMFPaths
	if path != "" {
		cands = []string{path}
	}
	for _, p := range cands {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("qemu: no UEFI firmware at %s: %w", strings.Join(cands, " or "), ErrNoOVMF)
}

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
