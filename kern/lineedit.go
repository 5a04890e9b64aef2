package kern

import (
	"bufio"
	"io"
)

// The shell's line editor (ddb's db_readline in spirit): the console is a
// raw byte stream (QEMU's stdio and a serial terminal echo nothing, the
// keyboard driver sends terminal bytes), so the shell echoes what is
// typed and offers the usual editing keys:
//
//	Backspace/DEL, Ctrl-H   erase before the cursor
//	Delete (ESC [3~), Ctrl-D erase at the cursor
//	Left/Right, Ctrl-B/F    move; Home/End, Ctrl-A/E: line start/end
//	Up/Down, Ctrl-P/N       history (the last histMax lines)
//	Ctrl-U                  erase the line; Ctrl-C: abandon it
//
// lineEditor is pure logic: Feed takes one input byte and returns what to
// echo, so host tests drive it byte by byte.
type lineEditor struct {
	buf  []byte
	cur  int // cursor position in buf
	esc  []byte
	hist []string
	hpos int    // position in hist while browsing (len(hist): the new line)
	save []byte // the new line while browsing history
}

const histMax = 32

// Feed consumes b; it appends the echo to out and, when b ends a line,
// returns the line and done. A line abandoned with Ctrl-C returns "" and
// done.
func (e *lineEditor) Feed(b byte, out []byte) (_ []byte, line string, done bool) {
	if e.esc != nil {
		e.esc = append(e.esc, b)
		return e.escape(out)
	}
	switch b {
	case '\r', '\n':
		line = string(e.buf)
		e.remember(line)
		e.reset()
		return append(out, '\n'), line, true
	case 0x03: // Ctrl-C
		e.reset()
		return append(out, "^C\n"...), "", true
	case 0x1b:
		e.esc = []byte{b}
		return out, "", false
	case 0x7f, 0x08:
		if e.cur > 0 {
			e.cur--
			out = append(out, '\b')
			out = e.erase(out)
		}
	case 0x04: // Ctrl-D: delete at the cursor
		out = e.erase(out)
	case 0x01: // Ctrl-A
		out = e.move(out, 0)
	case 0x05: // Ctrl-E
		out = e.move(out, len(e.buf))
	case 0x02: // Ctrl-B
		out = e.move(out, e.cur-1)
	case 0x06: // Ctrl-F
		out = e.move(out, e.cur+1)
	case 0x10: // Ctrl-P
		out = e.browse(out, -1)
	case 0x0e: // Ctrl-N
		out = e.browse(out, +1)
	case 0x15: // Ctrl-U
		out = e.replace(out, nil)
	default:
		if b >= 0x20 && b < 0x7f || b == '\t' {
			if b == '\t' {
				b = ' '
			}
			e.buf = append(e.buf, 0)
			copy(e.buf[e.cur+1:], e.buf[e.cur:])
			e.buf[e.cur] = b
			out = append(out, e.buf[e.cur:]...)
			e.cur++
			out = backspaces(out, len(e.buf)-e.cur)
		}
	}
	return out, "", false
}

// escape handles a CSI sequence (ESC [ ... final byte) or drops an ESC
// followed by anything else.
func (e *lineEditor) escape(out []byte) ([]byte, string, bool) {
	s := e.esc
	if len(s) == 2 && s[1] != '[' && s[1] != 'O' {
		e.esc = nil
		return out, "", false
	}
	last := s[len(s)-1]
	if len(s) < 3 || (last >= '0' && last <= '9') || last == ';' {
		if len(s) > 8 {
			e.esc = nil // not a sequence we know: drop it
		}
		return out, "", false
	}
	e.esc = nil
	switch string(s[2:]) {
	case "A":
		out = e.browse(out, -1)
	case "B":
		out = e.browse(out, +1)
	case "C":
		out = e.move(out, e.cur+1)
	case "D":
		out = e.move(out, e.cur-1)
	case "H", "1~", "7~":
		out = e.move(out, 0)
	case "F", "4~", "8~":
		out = e.move(out, len(e.buf))
	case "3~":
		out = e.erase(out)
	}
	return out, "", false
}

// erase deletes the byte at the cursor and redraws the tail.
func (e *lineEditor) erase(out []byte) []byte {
	if e.cur >= len(e.buf) {
		return out
	}
	e.buf = append(e.buf[:e.cur], e.buf[e.cur+1:]...)
	out = append(out, e.buf[e.cur:]...)
	out = append(out, ' ')
	return backspaces(out, len(e.buf)-e.cur+1)
}

// move puts the cursor at pos (clamped).
func (e *lineEditor) move(out []byte, pos int) []byte {
	pos = max(0, min(pos, len(e.buf)))
	if pos < e.cur {
		out = backspaces(out, e.cur-pos)
	} else {
		out = append(out, e.buf[e.cur:pos]...)
	}
	e.cur = pos
	return out
}

// replace swaps the whole line for s on screen and in the buffer.
func (e *lineEditor) replace(out []byte, s []byte) []byte {
	out = e.move(out, len(e.buf))
	old := len(e.buf)
	out = backspaces(out, old)
	out = append(out, s...)
	if pad := old - len(s); pad > 0 {
		for i := 0; i < pad; i++ {
			out = append(out, ' ')
		}
		out = backspaces(out, pad)
	}
	e.buf = append(e.buf[:0], s...)
	e.cur = len(e.buf)
	return out
}

// browse moves through the history by d (-1 older, +1 newer).
func (e *lineEditor) browse(out []byte, d int) []byte {
	n := e.hpos + d
	if n < 0 || n > len(e.hist) {
		return out
	}
	if e.hpos == len(e.hist) {
		e.save = append(e.save[:0], e.buf...)
	}
	e.hpos = n
	if n == len(e.hist) {
		return e.replace(out, e.save)
	}
	return e.replace(out, []byte(e.hist[n]))
}

func (e *lineEditor) remember(line string) {
	if line != "" && (len(e.hist) == 0 || e.hist[len(e.hist)-1] != line) {
		e.hist = append(e.hist, line)
		if len(e.hist) > histMax {
			e.hist = e.hist[len(e.hist)-histMax:]
		}
	}
}

func (e *lineEditor) reset() {
	e.buf, e.cur, e.esc, e.hpos = e.buf[:0], 0, nil, len(e.hist)
}

func backspaces(out []byte, n int) []byte {
	for i := 0; i < n; i++ {
		out = append(out, '\b')
	}
	return out
}

// ReadLine reads one edited line from r, echoing to w; at the end of
// input it returns what was typed with the error.
func (e *lineEditor) ReadLine(r *bufio.Reader, w io.Writer) (string, error) {
	var echo []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			line := string(e.buf)
			e.reset()
			return line, err
		}
		var line string
		var done bool
		echo, line, done = e.Feed(b, echo[:0])
		if len(echo) > 0 {
			w.Write(echo)
		}
		if done {
			return line, nil
		}
	}
}
