package qemu

import (
	"fmt"
	"strconv"
	"strings"
)

// SMP is a CPU count with an optional topology, as written after -smp.
// Zero topology fields are unset.
type SMP struct {
	CPUs                    int
	Sockets, Cores, Threads int
}

// ParseSMP parses the forms accepted by qemurun's -smp flag: "4",
// "4,sockets=2,cores=2", "sockets=2,cores=2,threads=2" and "cpus=4,...".
// With a topology, unset fields count as 1 and the CPU count, if given,
// must equal the product; without a count the product is the count.
func ParseSMP(s string) (SMP, error) {
	var r SMP
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		key, val, hasKey := strings.Cut(part, "=")
		if !hasKey {
			if i != 0 {
				return SMP{}, fmt.Errorf("qemu: -smp %s: %q is not key=value", s, part)
			}
			key, val = "cpus", part
		}
		key = strings.TrimSpace(key)
		if seen[key] {
			return SMP{}, fmt.Errorf("qemu: -smp %s: %s given twice", s, key)
		}
		seen[key] = true
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil {
			return SMP{}, fmt.Errorf("qemu: -smp %s: %s=%q is not a number", s, key, val)
		}
		if n < 1 {
			if key == "cpus" {
				return SMP{}, fmt.Errorf("qemu: -smp %s: need at least 1 CPU", s)
			}
			return SMP{}, fmt.Errorf("qemu: -smp %s: %s must be at least 1", s, key)
		}
		switch key {
		case "cpus":
			r.CPUs = n
		case "sockets":
			r.Sockets = n
		case "cores":
			r.Cores = n
		case "threads":
			r.Threads = n
		default:
			return SMP{}, fmt.Errorf("qemu: -smp %s: unknown key %q (want cpus, sockets, cores or threads)", s, key)
		}
	}
	if r.CPUs == 0 {
		r.CPUs = orOne(r.Sockets) * orOne(r.Cores) * orOne(r.Threads)
	}
	if err := checkSMP(r); err != nil {
		return SMP{}, err
	}
	return r, nil
}

// String formats s as QEMU's -smp value: "4" or
// "4,sockets=2,cores=2,threads=1".
func (s SMP) String() string {
	if s.Sockets == 0 && s.Cores == 0 && s.Threads == 0 {
		return strconv.Itoa(s.CPUs)
	}
	return fmt.Sprintf("%d,sockets=%d,cores=%d,threads=%d",
		s.CPUs, orOne(s.Sockets), orOne(s.Cores), orOne(s.Threads))
}

// Apply copies s into c's SMP, Sockets, Cores and Threads.
func (s SMP) Apply(c *Config) {
	c.SMP, c.Sockets, c.Cores, c.Threads = s.CPUs, s.Sockets, s.Cores, s.Threads
}

// smp returns c's CPU fields as an SMP; c must have its defaults.
func (c Config) smp() SMP {
	return SMP{CPUs: c.SMP, Sockets: c.Sockets, Cores: c.Cores, Threads: c.Threads}
}

// checkSMP validates a CPU count and its topology.
func checkSMP(s SMP) error {
	if s.CPUs < 1 {
		return fmt.Errorf("qemu: -smp %d: need at least 1 CPU", s.CPUs)
	}
	if s.CPUs > MaxCPUs {
		return fmt.Errorf("qemu: -smp %d: at most %d CPUs (more need x2APIC with interrupt remapping)", s.CPUs, MaxCPUs)
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"sockets", s.Sockets}, {"cores", s.Cores}, {"threads", s.Threads}} {
		if f.n < 0 {
			return fmt.Errorf("qemu: -smp %d,%s=%d: %s must be at least 1", s.CPUs, f.name, f.n, f.name)
		}
	}
	if s.Sockets == 0 && s.Cores == 0 && s.Threads == 0 {
		return nil
	}
	if p := orOne(s.Sockets) * orOne(s.Cores) * orOne(s.Threads); p != s.CPUs {
		return fmt.Errorf("qemu: -smp %s: %d sockets × %d cores × %d threads = %d CPUs, not %d",
			s, orOne(s.Sockets), orOne(s.Cores), orOne(s.Threads), p, s.CPUs)
	}
	return nil
}
