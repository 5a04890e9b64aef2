package kern

import (
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/kern/spin"
)

// The serial console: COM1, 16550 (PC16550D datasheet §8: THR at +0, LSR
// at +5 with THRE bit 5). This is the trap-context writer (polled, no
// allocation, raw spin lock); goroutine-context drivers use tamago's
// soc/intel/uart on the same port.
const (
	com1    = 0x3f8
	lsr     = 5
	lsrTHRE = 1 << 5
	lsrDR   = 1 << 0
)

var conLock spin.Lock

func conInit() {
	amd64.Outb(com1+1, 0x00) // IER: no interrupts
	amd64.Outb(com1+3, 0x80) // LCR: DLAB
	amd64.Outb(com1+0, 0x01) // 115200 baud
	amd64.Outb(com1+1, 0x00)
	amd64.Outb(com1+3, 0x03) // 8N1
	amd64.Outb(com1+2, 0xC7) // FCR: FIFO on, clear, 14-byte threshold
	amd64.Outb(com1+4, 0x0B) // MCR: DTR, RTS, OUT2
}

func conPutc(c byte) {
	for i := 0; i < 100000 && amd64.Inb(com1+lsr)&lsrTHRE == 0; i++ {
		amd64.Pause()
	}
	amd64.Outb(com1, c)
}

// conWrite writes b to the serial port and the screen console.
func conWrite(b []byte) {
	for _, c := range b {
		if c == '\n' {
			conPutc('\r')
		}
		conPutc(c)
	}
	scr.Write(b)
}

// conGetc returns a received byte, if any: one a device queued with
// ConsoleInputTrap first, else one from COM1.
func conGetc() (byte, bool) {
	if b, ok := injectGetc(); ok {
		return b, true
	}
	if amd64.Inb(com1+lsr)&lsrDR == 0 {
		return 0, false
	}
	return amd64.Inb(com1), true
}

// kline builds one console line on the stack, without allocation, for
// trap context: var l kline; l.s("x=").x(v).nl().print().
type kline struct {
	buf [512]byte
	n   int
}

func (l *kline) s(str string) *kline {
	l.n += copy(l.buf[l.n:], str)
	return l
}

func (l *kline) b(p []byte) *kline {
	l.n += copy(l.buf[l.n:], p)
	return l
}

func (l *kline) d(v int64) *kline {
	var t [24]byte
	return l.b(fmtInt(t[:], v))
}

func (l *kline) u(v uint64) *kline {
	var t [24]byte
	return l.b(fmtUint(t[:], v))
}

// x writes 0x and 16 hex digits.
func (l *kline) x(v uint64) *kline {
	var t [24]byte
	return l.b(fmtHex(t[:], v, 16))
}

// x2 writes two hex digits.
func (l *kline) x2(v uint8) *kline {
	var t [24]byte
	return l.b(fmtHex(t[:], uint64(v), 2)[2:])
}

func (l *kline) nl() *kline { return l.s("\n") }

// print writes the line under the console lock.
func (l *kline) print() {
	conLock.Acquire(thisCPU())
	conWrite(l.buf[:l.n])
	conLock.Release()
	l.n = 0
}

func fmtUint(buf []byte, v uint64) []byte {
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return buf[i:]
		}
	}
}

func fmtInt(buf []byte, v int64) []byte {
	if v >= 0 {
		return fmtUint(buf, uint64(v))
	}
	b := fmtUint(buf[1:], uint64(-v))
	i := len(buf) - len(b) - 1
	buf[i] = '-'
	return buf[i:]
}

func fmtHex(buf []byte, v uint64, digits int) []byte {
	const hexdig = "0123456789abcdef"
	i := len(buf)
	for d := 0; d < digits; d++ {
		i--
		buf[i] = hexdig[v&15]
		v >>= 4
	}
	i -= 2
	buf[i], buf[i+1] = '0', 'x'
	return buf[i:]
}
