package qemu

import (
	"strconv"
	"strings"
)

// ThreadDump returns the "kthread ..." lines of the kernel's thread dump
// (KERNEL THREADS ... END KERNEL THREADS, printed after the NMI that Run
// sends on a timeout), each saved rip followed by " = function+offset
// (file:line)" when s (may be nil) knows it.
func ThreadDump(output string, s *Symbols) []string {
	var out []string
	in := false
	for _, line := range strings.Split(strings.ReplaceAll(output, "\r", ""), "\n") {
		switch {
		case line == "KERNEL THREADS":
			in, out = true, out[:0] // the last dump wins
		case line == "END KERNEL THREADS":
			in = false
		case in && strings.HasPrefix(line, "kthread "):
			out = append(out, describeRIP(line, s))
		}
	}
	return out
}

func describeRIP(line string, s *Symbols) string {
	if s == nil {
		return line
	}
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "rip="); ok {
			pc, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
			if err == nil {
				if d := s.Describe(pc); d != "" {
					return line + " = " + d
				}
			}
		}
	}
	return line
}
