// Command wordfreq counts word frequencies in a generated text with a
// map-reduce over goroutines: a producer cuts the text into chunks, mappers
// (one per CPU) count each chunk into their own map and send it over a
// channel, a reducer merges them; a deadline (context and time) bounds the
// whole job. The result is checked against a single-goroutine count. It is
// an smpgo application:
//
//	go run github.com/smpgo/smpgo/cmd/smpgo run -smp 4 ./examples/wordfreq -- -words 200000
//
// It exits 0 when the counts agree, 1 when they differ, 3 when the
// deadline expired.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	_ "github.com/smpgo/smpgo"
)

var vocabulary = strings.Fields(`the of and to in is was that for on with as by at from
it his an were are which this be or has had first one their its new after but who
not they have her she two been other when there all during into school time may
years more most only over city some world would where later up such used many can
state about national out known university united then made`)

func main() {
	words := flag.Int("words", 200000, "words of text to generate")
	chunk := flag.Int("chunk", 4096, "words per chunk")
	mappers := flag.Int("mappers", runtime.NumCPU(), "counting goroutines")
	seed := flag.Uint64("seed", 1, "text generator seed")
	deadline := flag.Duration("deadline", time.Minute, "give up after this long")
	flag.Parse()
	if *words < 1 || *chunk < 1 || *mappers < 1 {
		fmt.Fprintln(os.Stderr, "wordfreq: -words, -chunk and -mappers must be positive")
		os.Exit(2)
	}
	text := generate(*words, *seed)
	fmt.Printf("wordfreq: %d words, %d mappers on %d CPU(s)\n", len(text), *mappers, runtime.NumCPU())

	ctx, cancel := context.WithTimeout(context.Background(), *deadline)
	defer cancel()
	start := time.Now()
	got, err := mapReduce(ctx, text, *chunk, *mappers)
	if err != nil {
		fmt.Println("wordfreq:", err)
		os.Exit(3)
	}
	elapsed := time.Since(start)
	want := map[string]int{}
	for _, w := range text {
		want[w]++
	}

	top := topN(got, 5)
	fmt.Printf("wordfreq: %d distinct words in %v; top 5:", len(got), elapsed.Round(time.Millisecond))
	for _, w := range top {
		fmt.Printf(" %s=%d", w, got[w])
	}
	fmt.Println()
	if !mapsEqual(got, want) {
		fmt.Println("wordfreq: MISMATCH with the serial count")
		os.Exit(1)
	}
	fmt.Println("wordfreq: counts agree")
}

// generate returns n words drawn from the vocabulary with a Zipf-like
// skew (word i about twice as likely as word 2i), reproducibly from seed.
func generate(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	z := rand.NewZipf(r, 1.2, 1, uint64(len(vocabulary)-1))
	out := make([]string, n)
	for i := range out {
		out[i] = vocabulary[z.Uint64()]
	}
	return out
}

// mapReduce counts text's words: chunks go to mappers over one channel,
// partial counts come back over another.
func mapReduce(ctx context.Context, text []string, chunk, mappers int) (map[string]int, error) {
	chunks := make(chan []string)
	partials := make(chan map[string]int, mappers)
	go func() {
		defer close(chunks)
		for lo := 0; lo < len(text); lo += chunk {
			select {
			case chunks <- text[lo:min(lo+chunk, len(text))]:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range mappers {
		wg.Go(func() {
			m := map[string]int{}
			for c := range chunks {
				for _, w := range c {
					m[w]++
				}
			}
			partials <- m
		})
	}
	go func() { wg.Wait(); close(partials) }()

	total := map[string]int{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case m, ok := <-partials:
			if !ok {
				return total, ctx.Err()
			}
			for w, n := range m {
				total[w] += n
			}
		case <-tick.C:
			fmt.Println("wordfreq: still counting")
		case <-ctx.Done():
			return nil, fmt.Errorf("deadline: %w", ctx.Err())
		}
	}
}

func topN(m map[string]int, n int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	return keys[:min(n, len(keys))]
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
