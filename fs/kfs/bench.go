package kfs

import (
	"os"
	"syscall"

	"github.com/smpgo/smpgo/kern"
)

// Files/ benchmarks: the cost of a call served by the file-system
// provider (two thread switches through a worker) against the same
// kind of call served in trap context.
func init() {
	kern.RegisterBenchmark(kern.Benchmark{Name: "Files/Fstat", Fn: benchFstat})
	kern.RegisterBenchmark(kern.Benchmark{Name: "Files/Pread4K", Fn: benchPread})
	kern.RegisterBenchmark(kern.Benchmark{Name: "Files/TrapGetpid", Fn: func(b *kern.B) {
		for range b.N {
			syscall.Getpid()
		}
	}})
}

func benchFile(b *kern.B) *os.File {
	f, err := os.CreateTemp("", "bench")
	if err != nil {
		b.Errorf("CreateTemp: %v", err)
		return nil
	}
	if _, err := f.Write(make([]byte, 4096)); err != nil {
		b.Errorf("Write: %v", err)
		return nil
	}
	return f
}

func benchFstat(b *kern.B) {
	f := benchFile(b)
	if f == nil {
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	var st syscall.Stat_t
	fd := int(f.Fd())
	b.ResetTimer()
	for range b.N {
		_ = syscall.Fstat(fd, &st)
	}
}

func benchPread(b *kern.B) {
	f := benchFile(b)
	if f == nil {
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	b.ResetTimer()
	for range b.N {
		_, _ = f.ReadAt(buf, 0)
	}
}
