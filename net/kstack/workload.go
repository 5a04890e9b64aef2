package kstack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/smpgo/smpgo/net/inet"
)

// Workloads shared by the self-tests and the benchmarks.

// pattern returns n deterministic pseudo-random bytes for seed.
func pattern(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// Transfer server protocol, per connection: the client sends a header
// (size uint32, seed uint32) and size bytes of pattern(seed); the server
// checks them byte for byte, answers with the SHA-256 of what it read,
// then sends size bytes of pattern(seed+1), which the client checks.

const xferHdr = 8

// serveTransfer accepts connections on l until it is closed, each handled
// as above in its own goroutine (counted in wg). Errors go to errs
// (non-blocking).
func serveTransfer(l *inet.TCPListener, errs chan<- error, wg *sync.WaitGroup) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			if err := serveOne(c); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
}

func serveOne(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(90 * time.Second))
	var hdr [xferHdr]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return fmt.Errorf("server: header: %w", err)
	}
	size, seed := int(binary.BigEndian.Uint32(hdr[:4])), int64(binary.BigEndian.Uint32(hdr[4:]))
	got := make([]byte, size)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("server: body: %w", err)
	}
	if want := pattern(seed, size); !bytes.Equal(got, want) {
		return fmt.Errorf("server: %d bytes differ from the pattern (first at %d)", size, firstDiff(got, want))
	}
	sum := sha256.Sum256(got)
	if _, err := c.Write(sum[:]); err != nil {
		return fmt.Errorf("server: sum: %w", err)
	}
	if _, err := c.Write(pattern(seed+1, size)); err != nil {
		return fmt.Errorf("server: reply: %w", err)
	}
	return nil
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// transferOne runs one connection of the transfer protocol from st to
// dst: size bytes each way, content checked exactly at both ends.
func transferOne(st *inet.Stack, dst netip.AddrPort, size int, seed int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := st.DialTCP(ctx, dst)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(90 * time.Second))
	out := pattern(seed, size)
	var hdr [xferHdr]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(size))
	binary.BigEndian.PutUint32(hdr[4:], uint32(seed))
	werr := make(chan error, 1)
	go func() {
		if _, err := c.Write(hdr[:]); err != nil {
			werr <- err
			return
		}
		_, err := c.Write(out)
		werr <- err
	}()
	var sum [sha256.Size]byte
	if _, err := io.ReadFull(c, sum[:]); err != nil {
		return fmt.Errorf("client: sum: %w", err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("client: write: %w", err)
	}
	if sum != sha256.Sum256(out) {
		return errors.New("client: server's SHA-256 differs from what was sent")
	}
	got := make([]byte, size)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("client: reply: %w", err)
	}
	if want := pattern(seed+1, size); !bytes.Equal(got, want) {
		return fmt.Errorf("client: reply differs from the pattern (first at %d)", firstDiff(got, want))
	}
	return nil
}

// Transfer runs conns concurrent connections from p.A to a transfer
// server on p.B, each moving size bytes each way with exact content.
func (p *Pair) Transfer(port uint16, conns, size int, seed int64) error {
	l, err := p.B.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), port), conns)
	if err != nil {
		return err
	}
	defer l.Close()
	errs := make(chan error, conns+1)
	var served sync.WaitGroup
	go serveTransfer(l, errs, &served)
	// The server's handlers close their connections before Transfer
	// returns (and the caller closes the stacks).
	defer served.Wait()
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := transferOne(p.A, netip.AddrPortFrom(AddrB.Netip(), port), size, seed+int64(i)*2); err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// echoServer serves msg-sized echo on l until it is closed.
func echoServer(l *inet.TCPListener, msg int) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, msg)
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
}
