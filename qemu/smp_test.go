package qemu

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSMP(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SMP
		str  string
	}{
		{"1", SMP{CPUs: 1}, "1"},
		{"4", SMP{CPUs: 4}, "4"},
		{"cpus=8", SMP{CPUs: 8}, "8"},
		{"sockets=2,cores=2", SMP{CPUs: 4, Sockets: 2, Cores: 2}, "4,sockets=2,cores=2,threads=1"},
		{"sockets=2,cores=2,threads=2", SMP{CPUs: 8, Sockets: 2, Cores: 2, Threads: 2}, "8,sockets=2,cores=2,threads=2"},
		{"4,sockets=2,cores=2", SMP{CPUs: 4, Sockets: 2, Cores: 2}, "4,sockets=2,cores=2,threads=1"},
		{"cpus=2,threads=2", SMP{CPUs: 2, Threads: 2}, "2,sockets=1,cores=1,threads=2"},
		{" 2 , cores = 2 ", SMP{CPUs: 2, Cores: 2}, "2,sockets=1,cores=2,threads=1"},
	} {
		got, err := ParseSMP(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
		require.Equal(t, tc.str, got.String(), tc.in)
	}
}

func TestParseSMPErrors(t *testing.T) {
	for in, want := range map[string]string{
		"0":                    "qemu: -smp 0: need at least 1 CPU",
		"-1":                   "qemu: -smp -1: need at least 1 CPU",
		"":                     `qemu: -smp : cpus="" is not a number`,
		"four":                 `qemu: -smp four: cpus="four" is not a number`,
		"256":                  "qemu: -smp 256: at most 255 CPUs (more need x2APIC with interrupt remapping)",
		"4,2":                  `qemu: -smp 4,2: "2" is not key=value`,
		"4,cpus=4":             "qemu: -smp 4,cpus=4: cpus given twice",
		"sockets=0":            "qemu: -smp sockets=0: sockets must be at least 1",
		"dies=2":               `qemu: -smp dies=2: unknown key "dies" (want cpus, sockets, cores or threads)`,
		"4,sockets=3":          "qemu: -smp 4,sockets=3,cores=1,threads=1: 3 sockets × 1 cores × 1 threads = 3 CPUs, not 4",
		"sockets=16,cores=16,": `qemu: -smp sockets=16,cores=16,: "" is not key=value`,
		"sockets=16,cores=17":  "qemu: -smp 272: at most 255 CPUs (more need x2APIC with interrupt remapping)",
	} {
		_, err := ParseSMP(in)
		require.EqualError(t, err, want, in)
	}
}

func TestSMPApply(t *testing.T) {
	var c Config
	SMP{CPUs: 8, Sockets: 2, Cores: 4}.Apply(&c)
	require.Equal(t, Config{SMP: 8, Sockets: 2, Cores: 4}, c)
	require.Equal(t, SMP{CPUs: 8, Sockets: 2, Cores: 4}, c.smp())
}
