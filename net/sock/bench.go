package sock

import (
	"io"
	"net"

	"github.com/smpgo/smpgo/kern"
)

// Sock/ benchmarks: AF_UNIX stream sockets against loopback TCP through
// the same provider path and the same net package, in one boot (make
// bench): bulk transfer (64 KiB writes, MB/s) and a one-byte ping-pong
// (round-trip time).
func init() {
	for _, nw := range []string{"unix", "tcp"} {
		kern.RegisterBenchmark(kern.Benchmark{Name: "Sock/Bulk64K/" + nw, Fn: func(b *kern.B) { benchBulk(b, nw) }})
		kern.RegisterBenchmark(kern.Benchmark{Name: "Sock/PingPong/" + nw, Fn: func(b *kern.B) { benchPingPong(b, nw) }})
	}
}

// benchPair returns the two ends of a connection over network nw
// ("unix" or "tcp" on loopback), or nil after b.Errorf.
func benchPair(b *kern.B, nw string) (net.Conn, net.Conn, func()) {
	addr := "127.0.0.1:0"
	if nw == "unix" {
		addr = "@smpgo-bench"
	}
	l, err := net.Listen(nw, addr)
	if err != nil {
		b.Errorf("Listen: %v", err)
		return nil, nil, nil
	}
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		acc <- c
	}()
	c, err := net.Dial(nw, l.Addr().String())
	if err != nil {
		l.Close()
		b.Errorf("Dial: %v", err)
		return nil, nil, nil
	}
	s := <-acc
	l.Close()
	if s == nil {
		c.Close()
		b.Errorf("Accept failed")
		return nil, nil, nil
	}
	return c, s, func() { c.Close(); s.Close() }
}

// benchBulk: b.N writes of 64 KiB from one goroutine, read by another.
func benchBulk(b *kern.B, nw string) {
	c, s, done := benchPair(b, nw)
	if c == nil {
		return
	}
	defer done()
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	total := int64(b.N) * chunk
	read := make(chan error, 1)
	b.ResetTimer()
	go func() {
		_, err := io.CopyN(io.Discard, s, total)
		read <- err
	}()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Errorf("Write: %v", err)
			return
		}
	}
	if err := <-read; err != nil {
		b.Errorf("read: %v", err)
		return
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds()/1e6, "MB/s")
}

// benchPingPong: one byte each way, b.N times.
func benchPingPong(b *kern.B, nw string) {
	c, s, done := benchPair(b, nw)
	if c == nil {
		return
	}
	defer done()
	go func() {
		_, _ = io.Copy(s, s) // echo until c closes
	}()
	one := []byte{1}
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(one); err != nil {
			b.Errorf("Write: %v", err)
			return
		}
		if _, err := io.ReadFull(c, one); err != nil {
			b.Errorf("Read: %v", err)
			return
		}
	}
}
