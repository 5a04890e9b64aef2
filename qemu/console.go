package qemu

import (
	"bytes"
	"io"
	"sync"
	"time"
)

// console receives one of QEMU's output streams. It keeps everything,
// notes when the first byte and each mark arrived, and forwards the
// stream to out: whole lines as they complete, or every chunk at once
// when raw (an interactive console, whose prompts end no line).
type console struct {
	mu    *sync.Mutex // guards out, which stdout and stderr share
	out   io.Writer
	raw   bool
	start time.Time

	buf     []byte // everything received
	sent    int    // bytes of buf forwarded to out
	outErr  error  // first error from out; forwarding stops there
	first   time.Duration
	gotAny  bool
	marks   []string
	markTim map[string]time.Duration
	onMark  func(mark string) // called (from Write) when a mark is first seen
}

func newConsole(mu *sync.Mutex, out io.Writer, raw bool, marks []string) *console {
	return &console{mu: mu, out: out, raw: raw, marks: marks, markTim: map[string]time.Duration{}}
}

// Write never fails, so that QEMU's pipe is always drained even when out
// is broken.
func (c *console) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	t := time.Since(c.start)
	if !c.gotAny {
		c.gotAny, c.first = true, t
	}
	lineStart := bytes.LastIndexByte(c.buf, '\n') + 1
	c.buf = append(c.buf, p...)
	for _, m := range c.marks {
		if _, ok := c.markTim[m]; !ok && bytes.Contains(c.buf[lineStart:], []byte(m)) {
			c.markTim[m] = t
			if c.onMark != nil {
				c.onMark(m)
			}
		}
	}
	end := len(c.buf)
	if !c.raw {
		end = bytes.LastIndexByte(c.buf, '\n') + 1
	}
	c.forward(end)
	return len(p), nil
}

// flush forwards what is left: an unfinished last line.
func (c *console) flush() { c.forward(len(c.buf)) }

func (c *console) forward(end int) {
	if end <= c.sent {
		return
	}
	if c.outErr == nil {
		c.mu.Lock()
		_, c.outErr = c.out.Write(c.buf[c.sent:end])
		c.mu.Unlock()
	}
	c.sent = end
}
