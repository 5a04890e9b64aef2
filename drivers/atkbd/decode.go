package atkbd

// Decoder turns scan code set 1 bytes (what an i8042 with translation on
// delivers: a make code, or the make code with bit 7 set for a break,
// 0xE0 before extended keys, 0xE1 before Pause) into the bytes a serial
// terminal would send for the same keys: ASCII, ^X for Ctrl+letter, 0x7F
// for Backspace, '\r' for Enter, ANSI escape sequences for the cursor
// keys. It keeps the modifier state; its zero value is ready.
type Decoder struct {
	shift, ctrl, alt, caps bool
	lshift, rshift         bool
	lctrl, rctrl           bool
	e0                     bool
	e1                     int // Pause: bytes of the sequence still to skip

	Unknown uint64 // make codes with no mapping (ignored)
}

// Set 1 make codes (IBM PC AT keyboard, 0x01–0x39); unshifted and shifted
// (US layout). Zero: no character (modifiers, function keys).
var (
	plain = [0x3a]byte{
		0x01: 0x1b, 0x02: '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '-', '=', 0x7f,
		0x0f: '\t', 'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p', '[', ']', '\r',
		0x1e: 'a', 's', 'd', 'f', 'g', 'h', 'j', 'k', 'l', ';', '\'', '`',
		0x2b: '\\', 'z', 'x', 'c', 'v', 'b', 'n', 'm', ',', '.', '/',
		0x37: '*', 0x39: ' ',
	}
	shifted = [0x3a]byte{
		0x01: 0x1b, 0x02: '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '_', '+', 0x7f,
		0x0f: '\t', 'Q', 'W', 'E', 'R', 'T', 'Y', 'U', 'I', 'O', 'P', '{', '}', '\r',
		0x1e: 'A', 'S', 'D', 'F', 'G', 'H', 'J', 'K', 'L', ':', '"', '~',
		0x2b: '|', 'Z', 'X', 'C', 'V', 'B', 'N', 'M', '<', '>', '?',
		0x37: '*', 0x39: ' ',
	}
	// keypad with Num Lock off is treated as digits (Num Lock is on at
	// boot on most machines; the cursor functions come from the E0 keys).
	keypad = [0x54]byte{
		0x47: '7', '8', '9', '-', '4', '5', '6', '+', '1', '2', '3', '0', '.',
	}
)

// Set 1 codes of the modifiers and lock keys.
const (
	scLCtrl  = 0x1d
	scLShift = 0x2a
	scRShift = 0x36
	scAlt    = 0x38
	scCaps   = 0x3a
)

// escape sequences of the E0-prefixed keys (VT100/xterm, as a serial
// terminal sends them).
var extended = map[byte]string{
	0x1c: "\r",     // keypad Enter
	0x35: "/",      // keypad /
	0x47: "\x1b[H", // Home
	0x48: "\x1b[A", // Up
	0x49: "\x1b[5~",
	0x4b: "\x1b[D", // Left
	0x4d: "\x1b[C", // Right
	0x4f: "\x1b[F", // End
	0x50: "\x1b[B", // Down
	0x51: "\x1b[6~",
	0x52: "\x1b[2~", // Insert
	0x53: "\x1b[3~", // Delete
	0x37: "",        // Print Screen
	0x5b: "",        // left GUI
	0x5c: "",        // right GUI
	0x5d: "",        // Menu
	0x46: "",        // Ctrl+Break
}

// Feed decodes one scan code byte, appending what it produces to out.
func (d *Decoder) Feed(b byte, out []byte) []byte {
	switch {
	case d.e1 > 0:
		d.e1--
		return out
	case b == 0xe1:
		d.e1 = 5 // E1 1D 45 E1 9D C5: Pause, no character
		return out
	case b == 0xe0:
		d.e0 = true
		return out
	case b == 0xfa || b == 0xfe || b == 0xee || b == 0x00 || b == 0xff || b == 0xaa && !d.e0 && !d.lshift:
		// ACK, resend, echo, overrun/error, self-test passed: not keys.
		// (0xAA is also the break of left Shift: released only if held.)
		return out
	}
	ext := d.e0
	d.e0 = false
	code, up := b&0x7f, b&0x80 != 0
	switch {
	case code == scLShift && !ext:
		d.lshift = !up
	case code == scRShift && !ext:
		d.rshift = !up
	case code == scLCtrl:
		if ext {
			d.rctrl = !up
		} else {
			d.lctrl = !up
		}
	case code == scAlt:
		d.alt = !up
	case code == scCaps && !ext:
		if !up {
			d.caps = !d.caps
		}
	case code == 0x2a || code == 0x36: // E0 2A / E0 B7 fake shifts (Print Screen)
	default:
		if up {
			return out
		}
		return d.key(code, ext, out)
	}
	d.shift = d.lshift || d.rshift
	d.ctrl = d.lctrl || d.rctrl
	return out
}

func (d *Decoder) key(code byte, ext bool, out []byte) []byte {
	if ext {
		if s, ok := extended[code]; ok {
			return append(out, s...)
		}
		d.Unknown++
		return out
	}
	if int(code) < len(keypad) && keypad[code] != 0 {
		return append(out, keypad[code])
	}
	if int(code) >= len(plain) || plain[code] == 0 {
		if code < 0x3b || code > 0x58 { // F1–F12 and friends: no character, not unknown
			d.Unknown++
		}
		return out
	}
	c := plain[code]
	upper := d.shift
	if c >= 'a' && c <= 'z' && d.caps {
		upper = !upper
	}
	if upper {
		c = shifted[code]
	}
	if d.ctrl {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			c &= 0x1f
		case c == '[':
			c = 0x1b
		case c == '\\':
			c = 0x1c
		case c == ' ' || c == '@' || c == '2':
			c = 0
		}
	}
	if d.alt {
		out = append(out, 0x1b) // Meta as ESC prefix, like xterm
	}
	return append(out, c)
}

// Encode returns the set 1 scan codes that type s on a US keyboard (make
// and break, with Shift around shifted characters): what the self-test
// feeds the controller and the host tests feed the decoder.
func Encode(s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' {
			c = '\r'
		}
		code, shift := byte(0), false
		for k := range plain {
			if plain[k] == c && c != 0 {
				code = byte(k)
				break
			}
			if shifted[k] == c && c != 0 {
				code, shift = byte(k), true
				break
			}
		}
		if code == 0 {
			continue
		}
		if shift {
			out = append(out, scLShift)
		}
		out = append(out, code, code|0x80)
		if shift {
			out = append(out, scLShift|0x80)
		}
	}
	return out
}
