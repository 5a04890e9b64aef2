package inet

import (
	"fmt"
	"io"
	"net/netip"
	"sync"
	"testing"

	"github.com/smpgo/smpgo/net/memlink"
)

// BenchmarkRequestResponse measures 64-byte request/response transactions
// between two stacks over a memlink, fine-grained against Giant, with 1
// and 8 concurrent connections: the same workload under the two locking
// designs (DESIGN.md §6: compared on an in-memory link, not on QEMU NICs).
//
//	go test -run XXX -bench RequestResponse ./net/inet
func BenchmarkRequestResponse(b *testing.B) {
	for _, giant := range []bool{false, true} {
		for _, conns := range []int{1, 8} {
			name := fmt.Sprintf("fine/conns=%d", conns)
			if giant {
				name = fmt.Sprintf("giant/conns=%d", conns)
			}
			b.Run(name, func(b *testing.B) { benchRR(b, giant, conns) })
		}
	}
}

func benchRR(b *testing.B, giant bool, conns int) {
	l, err := memlink.New(memlink.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	mk := func(seed int64) *Stack {
		st, err := New(Config{Seed: seed, Giant: giant, TCP: TCPConfig{NoDelayedAck: true}})
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	a, s := mk(1), mk(2)
	defer a.Close()
	defer s.Close()
	if err := a.AddInterface(l.A); err != nil {
		b.Fatal(err)
	}
	if err := s.AddInterface(l.B); err != nil {
		b.Fatal(err)
	}
	_ = a.SetAddr(l.A, addrA, 24)
	_ = s.SetAddr(l.B, addrB, 24)
	lis, err := s.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 7), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	cs := make([]*TCPConn, conns)
	for i := range cs {
		if cs[i], err = a.DialTCP(b.Context(), netip.AddrPortFrom(addrB.Netip(), 7)); err != nil {
			b.Fatal(err)
		}
		defer cs[i].Close()
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/conns + 1
	for _, c := range cs {
		wg.Add(1)
		go func(c *TCPConn) {
			defer wg.Done()
			buf := make([]byte, 64)
			for i := 0; i < per; i++ {
				if _, err := c.Write(buf); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Error(err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*conns)/b.Elapsed().Seconds(), "trans/s")
}
