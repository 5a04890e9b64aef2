// Command qemubench runs the kernel's in-kernel benchmarks (bench=REGEXP)
// in one boot per CPU count and prints them side by side with ratios, plus
// boot times (QEMU start to the runtime, to main, to the shell prompt) per
// firmware. It never fails on timing: the ratios are for reading.
//
//	go run ./qemu/cmd/qemubench [-smp 1,2,4] [-bench REGEXP] [-kernel build/kernel.img] [-nic virtio] [-net MiB]
//
// The boots have a NIC (default virtio, on restricted user networking) so
// the drivers' benchmarks have a device; -nic none leaves it out. Then,
// on that NIC (e1000 with -nic none), it measures TCP throughput between
// host programs and the kernel's services through hostfwd (host→guest,
// guest→host, echo), fine-grained and Giant, per CPU count.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smpgo/smpgo/qemu"
)

var benchLine = regexp.MustCompile(`^Benchmark(\S+)-(\d+)\s+(\d+)\s+([\d.e+]+) ns/op(.*)$`)

type result struct {
	nsPerOp float64
	metrics map[string]float64
	line    string
}

func main() {
	smpList := flag.String("smp", "1,2,4", "CPU counts to boot, comma-separated")
	bench := flag.String("bench", ".", "benchmarks to run (kernel bench= pattern)")
	kernel := flag.String("kernel", "build/kernel.img", "kernel image")
	timeout := flag.Duration("timeout", 10*time.Minute, "per boot")
	verbose := flag.Bool("v", false, "stream the serial console")
	kargs := flag.String("args", "", "more kernel options, e.g. witness=off")
	nic := flag.String("nic", qemu.NICVirtio, "network device for the driver benchmarks (none, e1000, virtio)")
	netMiB := flag.Int("net", 8, "MiB per direction for the TCP measurements through hostfwd and over a tap (0: skip them)")
	offloadOnly := flag.Bool("offload-only", false, "only the tap rows of queues and offloads: TSO, checksums only, none (-net MiB each)")
	flag.Parse()
	if *offloadOnly {
		offloadBench(*kernel, *kargs, max(*netMiB, 1)<<20, io.Discard)
		return
	}
	var cpus []int
	for _, f := range strings.Split(*smpList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "qemubench: bad -smp %q\n", *smpList)
			os.Exit(2)
		}
		cpus = append(cpus, n)
	}
	out := io.Discard
	if *verbose {
		out = os.Stdout
	}
	fmt.Printf("host: %d cores; QEMU TCG; kernel %s %s\n\n", runtime.NumCPU(), *kernel, *kargs)
	bootTimes(*kernel, out)

	results := map[int]map[string]result{}
	benchFailures := 0
	for _, n := range cpus {
		r, err := qemu.Run(context.Background(), qemu.Config{SMP: n, Kernel: *kernel, NIC: *nic, Append: strings.TrimSpace("bench=" + *bench + " " + *kargs), Timeout: *timeout}, out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "qemubench:", err)
			os.Exit(1)
		}
		fmt.Printf("== -smp %d: %s\n", n, r.Summary())
		results[n] = map[string]result{}
		for _, l := range strings.Split(r.Output, "\n") {
			l = strings.TrimSpace(l)
			m := benchLine.FindStringSubmatch(l)
			if m == nil {
				if strings.HasPrefix(l, "--- SKIP: Benchmark") {
					fmt.Println(l)
				}
				if strings.HasPrefix(l, "--- FAIL: Benchmark") {
					fmt.Println(l)
					benchFailures++
				}
				continue
			}
			fmt.Println(l)
			ns, _ := strconv.ParseFloat(m[4], 64)
			res := result{nsPerOp: ns, metrics: map[string]float64{}, line: l}
			f := strings.Fields(m[5])
			for i := 0; i+1 < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i], 64)
				if err == nil {
					res.metrics[f[i+1]] = v
				}
			}
			results[n][m[1]] = res
		}
		fmt.Println()
	}
	ratios(cpus, results)
	defer func() {
		if benchFailures > 0 {
			fmt.Fprintf(os.Stderr, "qemubench: %d benchmark run(s) failed (--- FAIL lines above)\n", benchFailures)
			os.Exit(1)
		}
	}()
	if *netMiB > 0 {
		fmt.Println()
		netNIC := *nic
		if netNIC == qemu.NICNone {
			netNIC = qemu.NICE1000
		}
		netBench(*kernel, netNIC, cpus, *kargs, *netMiB<<20, out)
		offloadBench(*kernel, *kargs, *netMiB<<20, out)
	}
}

// ratios prints each benchmark's ns/op at N CPUs relative to the first
// CPU count: for SMP/ParallelCompute that is the speedup.
func ratios(cpus []int, results map[int]map[string]result) {
	base := cpus[0]
	var names []string
	for name := range results[base] {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Printf("ratios: ns/op at -smp %d divided by ns/op at -smp N (>1: faster with more CPUs)\n", base)
	fmt.Printf("%-28s", "benchmark")
	for _, n := range cpus {
		fmt.Printf(" %10s", fmt.Sprintf("smp%d", n))
	}
	fmt.Println()
	for _, name := range names {
		fmt.Printf("%-28s", name)
		b := results[base][name].nsPerOp
		for _, n := range cpus {
			r, ok := results[n][name]
			if !ok || r.nsPerOp == 0 || b == 0 {
				fmt.Printf(" %10s", "-")
				continue
			}
			fmt.Printf(" %10.2f", b/r.nsPerOp)
		}
		fmt.Println()
	}
}

// bootTimes boots to the shell (no options) with each firmware and reports
// when the kernel started the runtime and when the prompt appeared.
func bootTimes(kernel string, out io.Writer) {
	marks := []string{"smpgo: booting", "starting runtime", "Type 'help'"}
	for _, bios := range []string{"qboot", "seabios"} {
		r, _ := qemu.Run(context.Background(), qemu.Config{SMP: 1, Kernel: kernel, BIOS: bios, Timeout: 4 * time.Second, Marks: marks}, out)
		if r == nil {
			continue
		}
		fmt.Printf("boot (%s, -smp 1):", bios)
		for _, m := range marks {
			if d, ok := r.Marks[m]; ok {
				fmt.Printf("  %q at %v", m, d.Round(time.Millisecond))
			} else {
				fmt.Printf("  %q not seen", m)
			}
		}
		fmt.Println()
	}
	fmt.Println()
}
