package kfs

import (
	"archive/tar"
	"bytes"
	"fmt"
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
	kern.RegisterBenchmark(kern.Benchmark{Name: "Files/InitfsUnpack4M", Fn: benchUnpack})
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

// benchUnpack: a 4 MiB tar archive (64 files of 64 KiB in 8 directories)
// unpacked into the kernel's file system, as a boot module is, then
// removed: MB/s of archive.
func benchUnpack(b *kern.B) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := make([]byte, 64<<10)
	for i := range body {
		body[i] = byte(i * 7)
	}
	for i := range 64 {
		name := fmt.Sprintf("d%d/f%d", i%8, i)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			b.Errorf("tar: %v", err)
			return
		}
		_, _ = tw.Write(body)
	}
	_ = tw.Close()
	archive := buf.Bytes()
	b.ResetTimer()
	for i := range b.N {
		dir := fmt.Sprintf("/tmp/bench-unpack-%d", i)
		if _, err := FS.Unpack(dir, archive); err != nil {
			b.Errorf("Unpack: %v", err)
			return
		}
		b.StopTimer()
		if err := os.RemoveAll(dir); err != nil {
			b.Errorf("RemoveAll: %v", err)
			return
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(len(archive))*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
}
