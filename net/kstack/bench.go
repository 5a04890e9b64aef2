package kstack

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/net/inet"
	"github.com/smpgo/smpgo/net/netisr"
)

// The Net/ benchmarks: the same workloads on two stacks over a memlink,
// fine-grained against Giant and direct against queued netisr dispatch,
// in the same boot (qemubench runs them at -smp 1, 2 and 4 and prints the
// ratios across CPU counts; the Giant/fine ratio is read across lines).
// The memlink, not a QEMU NIC, keeps the kernel the bottleneck
// (DESIGN.md §6).
func init() {
	for _, lk := range []string{"fine", "giant"} {
		for _, d := range []string{"direct", "queued"} {
			giant, queued := lk == "giant", d == "queued"
			kern.RegisterBenchmark(kern.Benchmark{Name: fmt.Sprintf("Net/RR/%s/%s", lk, d),
				Fn: func(b *kern.B) {
					benchRR(b, PairConfig{Giant: giant, Queued: queued, Policy: netisr.PolicySource}, rrConns)
				}})
		}
		giant := lk == "giant"
		kern.RegisterBenchmark(kern.Benchmark{Name: fmt.Sprintf("Net/Bulk/%s", lk),
			Fn: func(b *kern.B) { benchBulk(b, PairConfig{Giant: giant}, bulkConns) }})
	}
}

const (
	rrConns   = 8     // concurrent request/response connections
	rrMsg     = 64    // request and response size
	bulkConns = 4     // concurrent bulk streams
	bulkChunk = 16384 // bytes per operation
)

// benchRR: b.N transactions of rrMsg bytes each way, spread over conns
// connections, each a goroutine doing write-then-read; reports trans/s.
func benchRR(b *kern.B, cfg PairConfig, conns int) {
	b.StopTimer()
	cfg.TCP = inet.TCPConfig{NoDelayedAck: true}
	p, err := NewPair(cfg)
	if err != nil {
		b.Errorf("NewPair: %v", err)
		return
	}
	defer p.Close()
	l, err := p.B.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 7), conns)
	if err != nil {
		b.Errorf("listen: %v", err)
		return
	}
	defer l.Close()
	go echoServer(l, rrMsg)
	cs := make([]*inet.TCPConn, conns)
	for i := range cs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cs[i], err = p.A.DialTCP(ctx, netip.AddrPortFrom(AddrB.Netip(), 7))
		cancel()
		if err != nil {
			b.Errorf("dial: %v", err)
			return
		}
		defer cs[i].Close()
	}
	per := (b.N + conns - 1) / conns
	var wg sync.WaitGroup
	b.StartTimer()
	for _, c := range cs {
		wg.Add(1)
		go func(c *inet.TCPConn) {
			defer wg.Done()
			buf := make([]byte, rrMsg)
			for i := 0; i < per; i++ {
				if _, err := c.Write(buf); err != nil {
					b.Errorf("transaction %d: write: %v", i, err)
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Errorf("transaction %d: read: %v", i, err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*conns)/b.Elapsed().Seconds(), "trans/s")
}

// benchBulk: b.N chunks of bulkChunk bytes streamed from A to a discard
// server on B over conns connections; reports MB/s.
func benchBulk(b *kern.B, cfg PairConfig, conns int) {
	b.StopTimer()
	p, err := NewPair(cfg)
	if err != nil {
		b.Errorf("NewPair: %v", err)
		return
	}
	defer p.Close()
	l, err := p.B.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 9), conns)
	if err != nil {
		b.Errorf("listen: %v", err)
		return
	}
	defer l.Close()
	cs := make([]*inet.TCPConn, conns)
	for i := range cs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cs[i], err = p.A.DialTCP(ctx, netip.AddrPortFrom(AddrB.Netip(), 9))
		cancel()
		if err != nil {
			b.Errorf("dial: %v", err)
			return
		}
	}
	// The discard side: one reader per accepted connection.
	var got sync.WaitGroup
	var received atomic.Int64
	for range conns {
		c, err := l.Accept()
		if err != nil {
			b.Errorf("accept: %v", err)
			return
		}
		got.Add(1)
		go func() {
			defer got.Done()
			defer c.Close()
			n, err := io.Copy(io.Discard, c)
			received.Add(n)
			if err != nil {
				b.Errorf("receive: %v", err)
			}
		}()
	}
	per := (b.N + conns - 1) / conns
	var wg sync.WaitGroup
	b.StartTimer()
	for _, c := range cs {
		wg.Add(1)
		go func(c *inet.TCPConn) {
			defer wg.Done()
			buf := make([]byte, bulkChunk)
			for i := 0; i < per; i++ {
				if _, err := c.Write(buf); err != nil {
					b.Errorf("chunk %d: write: %v", i, err)
					break
				}
			}
			if err := c.CloseWrite(); err != nil {
				b.Errorf("close write: %v", err)
			}
		}(c)
	}
	wg.Wait()
	got.Wait() // every byte read by the receiver
	b.StopTimer()
	for _, c := range cs {
		c.Close()
	}
	if want := int64(per * conns * bulkChunk); received.Load() != want {
		b.Errorf("received %d bytes, sent %d", received.Load(), want)
	}
	b.ReportMetric(float64(per*conns*bulkChunk)/1e6/b.Elapsed().Seconds(), "MB/s")
}
