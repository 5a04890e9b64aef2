package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// DebianPackage is the package that provides DefaultBinary.
const DebianPackage = "qemu-system-x86"

// EnsureQEMU returns the path of QEMU (bin, default DefaultBinary). When it
// is missing and this process runs as root on a Debian-like system, it
// installs DebianPackage first, as tools/deps.sh does, logging to log;
// otherwise the error names the command to run.
func EnsureQEMU(ctx context.Context, bin string, log io.Writer) (string, error) {
	p, err := FindQEMU(bin)
	if err == nil || bin != "" && bin != DefaultBinary {
		return p, err
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%s not found: run 'sudo apt-get update && sudo apt-get install -y %s'", DefaultBinary, DebianPackage)
	}
	if _, lerr := exec.LookPath("apt-get"); lerr != nil {
		return "", fmt.Errorf("%s not found, and no apt-get to install %s: %w", DefaultBinary, DebianPackage, errors.Join(err, lerr))
	}
	if log == nil {
		log = io.Discard
	}
	fmt.Fprintf(log, "qemu: installing %s\n", DebianPackage)
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "--no-install-recommends", DebianPackage}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	return FindQEMU(bin)
}
