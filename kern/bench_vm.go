package kern

import (
	"runtime"
	"time"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Physical page benchmarks: a page allocated, zeroed and freed, from the
// running CPU's domain and from the farthest other one. Under TCG remote
// memory costs the same as local (QEMU does not model NUMA latency), so
// the ratio shows allocator overhead only; on real hardware it shows the
// memory's distance.
func init() {
	RegisterBenchmark(Benchmark{Name: "VM/PageLocalVsRemote", Fn: benchPageDomains})
}

func pageLoop(p vm.Policy, n int) {
	for i := 0; i < n; i++ {
		pa, ok := vm.AllocPages(p, 0)
		if !ok {
			panic("vm bench: out of pages")
		}
		amd64.ZeroPage(pa)
		vm.FreePages(pa, 0)
	}
}

func benchPageDomains(b *B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	PinToCPU(0)
	defer Unpin()
	local := CPUDomain(0)
	remote := local
	for d := 0; d < vm.NumDomains(); d++ {
		if vm.Distance(local, d) > vm.Distance(local, remote) {
			remote = d
		}
	}
	t0 := time.Now()
	pageLoop(vm.Policy{Kind: vm.Bind, Domain: local}, b.N)
	loc := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	if remote == local {
		b.ReportMetric(0, "remote-domains")
		return
	}
	b.StopTimer()
	t0 = time.Now()
	pageLoop(vm.Policy{Kind: vm.Bind, Domain: remote}, b.N)
	rem := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	b.StartTimer()
	b.ReportMetric(rem, "remote-ns")
	b.ReportMetric(rem/loc, "remote/local")
	b.ReportMetric(float64(vm.Distance(local, remote)), "slit-distance")
}

// A page allocated, zeroed and freed above 4 GiB (the allocator's default
// when there is memory there) and below (Policy.Below = 4 GiB, a 32-bit
// DMA allocation): the same buddy code over another segment, so the
// ratio shows what the Below path's segment choice costs, and on real
// hardware any difference in the memory itself. Skipped without memory
// above 4 GiB.
func init() {
	RegisterBenchmark(Benchmark{Name: "VM/PageHighVsLow", Fn: benchPageHighLow})
}

func benchPageHighLow(b *B) {
	if vm.Boot.HighBytes == 0 {
		b.Skip("no memory above 4 GiB")
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	PinToCPU(0)
	defer Unpin()
	high := vm.Policy{}
	pa, ok := vm.AllocPages(high, 0)
	if ok {
		vm.FreePages(pa, 0)
	}
	if !ok || pa < vm.DMA32 {
		b.Skip("the allocator does not serve high memory first here (a domain without it)")
		return
	}
	t0 := time.Now()
	pageLoop(high, b.N)
	hi := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	b.StopTimer()
	t0 = time.Now()
	pageLoop(vm.Policy{Below: vm.DMA32}, b.N)
	lo := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	b.StartTimer()
	b.ReportMetric(lo, "low-ns")
	b.ReportMetric(lo/hi, "low/high")
}

// A kernel mapping weakened and restored (ProtectKernel read-only, then
// read-write): two page-table changes, each shot down on every CPU before
// it returns; and a lookup (the same system call path, no change, no
// shootdown) for scale.
func init() {
	RegisterBenchmark(Benchmark{Name: "VM/PmapProtectRoundTrip", Fn: benchPmapProtect})
}

const kvaBench uintptr = vm.KVABase + 3<<30

func benchPmapProtect(b *B) {
	pa, ok := vm.AllocPages(vm.Policy{}, 0)
	if !ok {
		b.Errorf("no page")
		return
	}
	defer vm.FreePages(pa, 0)
	if err := MapKernel(kvaBench, pa, vm.PageSize, vm.ProtWrite, vm.WB); err != nil {
		b.Errorf("map: %v", err)
		return
	}
	defer UnmapKernel(kvaBench, vm.PageSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ProtectKernel(kvaBench, vm.PageSize, vm.ProtRead)
		ProtectKernel(kvaBench, vm.PageSize, vm.ProtWrite)
	}
	b.StopTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		KernelLookup(kvaBench)
	}
	b.ReportMetric(float64(time.Since(t0).Nanoseconds())/float64(b.N), "lookup-ns")
	b.ReportMetric(float64(NumCPU()), "cpus")
}
