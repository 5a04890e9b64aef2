// Command primes counts the primes below N with a segmented sieve of
// Eratosthenes spread over every CPU, and checks the count twice: against
// a plain single-goroutine sieve and, for powers of ten, against the known
// values of π(N). It is an smpgo application: the blank import below links
// the kernel, and
//
//	go run github.com/smpgo/smpgo/cmd/smpgo run -smp 4 ./examples/primes -- -n 2000000
//
// boots it under QEMU. It exits 0 when the counts agree, 1 when they do not.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	_ "github.com/smpgo/smpgo"
)

// pi holds π(N), the number of primes below N, for powers of ten.
var pi = map[int]int{10: 4, 100: 25, 1000: 168, 10000: 1229, 100000: 9592,
	1000000: 78498, 10000000: 664579, 100000000: 5761455}

func main() {
	n := flag.Int("n", 1000000, "count the primes below `N`")
	seg := flag.Int("segment", 32768, "numbers per segment")
	workers := flag.Int("workers", runtime.NumCPU(), "sieving goroutines")
	flag.Parse()
	if *n < 2 || *seg < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "primes: -n must be at least 2, -segment and -workers at least 1")
		os.Exit(2)
	}
	fmt.Printf("primes: %d CPU(s), GOMAXPROCS %d, %d workers, N = %d\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), *workers, *n)

	start := time.Now()
	par, perWorker := parallelCount(*n, *seg, *workers)
	tPar := time.Since(start)
	start = time.Now()
	ser := serialCount(*n)
	tSer := time.Since(start)

	fmt.Printf("primes: parallel sieve: %d primes below %d in %v (segments per worker %v)\n", par, *n, tPar.Round(time.Millisecond), perWorker)
	fmt.Printf("primes: serial sieve:   %d primes below %d in %v\n", ser, *n, tSer.Round(time.Millisecond))
	ok := par == ser
	if want, known := pi[*n]; known {
		fmt.Printf("primes: pi(%d) = %d\n", *n, want)
		ok = ok && par == want
	}
	if !ok {
		fmt.Println("primes: MISMATCH")
		os.Exit(1)
	}
	fmt.Println("primes: counts agree")
}

// serialCount is the textbook sieve: composite[i] for i < n.
func serialCount(n int) int {
	composite := make([]bool, n)
	count := 0
	for i := 2; i < n; i++ {
		if composite[i] {
			continue
		}
		count++
		for j := i * i; j < n; j += i {
			composite[j] = true
		}
	}
	return count
}

// parallelCount sieves [2, n) in segments of seg numbers handed out over a
// channel to workers goroutines, each crossing off multiples of the base
// primes (those below √n) in its own buffer. It returns the count and how
// many segments each worker took.
func parallelCount(n, seg, workers int) (int, []int) {
	limit := 1
	for limit*limit < n {
		limit++
	}
	var base []int
	small := make([]bool, limit+1)
	for i := 2; i <= limit; i++ {
		if !small[i] {
			base = append(base, i)
			for j := i * i; j <= limit; j += i {
				small[j] = true
			}
		}
	}

	segments := make(chan int)
	go func() {
		for lo := 2; lo < n; lo += seg {
			segments <- lo
		}
		close(segments)
	}()
	counts := make([]int, workers)
	perWorker := make([]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			composite := make([]bool, seg)
			for lo := range segments {
				hi := min(lo+seg, n)
				clear(composite)
				for _, p := range base {
					if p*p >= hi {
						break
					}
					first := max(p*p, (lo+p-1)/p*p)
					for j := first; j < hi; j += p {
						composite[j-lo] = true
					}
				}
				for i := lo; i < hi; i++ {
					if !composite[i-lo] {
						counts[w]++
					}
				}
				perWorker[w]++
			}
		})
	}
	wg.Wait()
	total := 0
	for _, c := range counts {
		total += c
	}
	return total, perWorker
}
