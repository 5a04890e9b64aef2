// Package screen is the kernel's text console on a display, for a person
// at a real board: the boot loader's framebuffer (Multiboot2 §3.6.12,
// boot/multiboot) is either
//
//   - EGA text: 80x25 cells of a character byte and an attribute byte
//     (IBM VGA Technical Reference, "Alphanumeric modes"), drawn by the
//     adapter's own font, or
//   - a linear RGB framebuffer (UEFI GOP, VBE), drawn here with a built-in
//     6x13 bitmap font (font.go: X11 misc-fixed, public domain) in 8x16
//     cells.
//
// Row 0 is a status line (the boot banner, inverse colours) that never
// scrolls; the rows below scroll. On an RGB framebuffer the console
// scrolls by half its height at a time and redraws from its cell shadow,
// so it never reads the framebuffer (slow on real hardware) and redraws
// rarely.
//
// The package is pure Go without unsafe and does not allocate: the
// kernel draws from trap context under its console lock, through Memory
// (its implementation stores to the identity-mapped framebuffer); tests
// and the QEMU harness draw into byte slices, so the harness compares a
// QEMU screendump with pixels this very code produced.
package screen

import "errors"

// Kinds of display.
const (
	EGAText = 1
	RGB     = 2
)

// Cell size on an RGB framebuffer, and the glyph's place in the cell.
const (
	CellW  = 8
	CellH  = 16
	glyphX = 1
	glyphY = 2
)

// Limits of the cell shadow: larger displays use their top-left part.
const (
	MaxCols = 240
	MaxRows = 100
)

// Colours (VGA palette entries 7 and 0) and EGA attributes.
const (
	attrText   = 0x07 // light grey on black
	attrStatus = 0x70 // black on light grey
	grey       = 0xAA
)

// Color is an 8-bit-per-channel colour.
type Color struct{ R, G, B uint8 }

// The console's colours on an RGB framebuffer, as on EGA text.
var (
	TextFG   = Color{grey, grey, grey}
	TextBG   = Color{0, 0, 0}
	StatusFG = TextBG
	StatusBG = TextFG
)

// Mode describes the framebuffer: for EGAText, Width and Height are in
// cells; for RGB, in pixels, with BPP bits per pixel and each channel's
// bit position and size.
type Mode struct {
	Kind                int
	Width, Height       uint32
	Pitch               uint32 // bytes per line (per row of cells for EGAText)
	BPP                 uint8
	RedPos, RedSize     uint8
	GreenPos, GreenSize uint8
	BluePos, BlueSize   uint8
}

// Memory is the framebuffer, addressed by byte offset.
type Memory interface {
	Store8(off uintptr, v uint8)
	Store16(off uintptr, v uint16)
	Store32(off uintptr, v uint32)
}

// Mode errors.
var (
	ErrKind  = errors.New("screen: neither EGA text nor RGB")
	ErrSize  = errors.New("screen: framebuffer too small for two rows of text")
	ErrPitch = errors.New("screen: pitch smaller than a line")
	ErrBPP   = errors.New("screen: unsupported bits per pixel")
)

// Console is a text console on one framebuffer. The zero value is off;
// Init turns it on. The caller serialises calls.
type Console struct {
	mode       Mode
	mem        Memory
	cols, rows int // cells; row 0 is the status line
	x, y       int // cursor; 1 <= y < rows
	jump       int // rows scrolled at a time
	esc        int // 0, or inside an escape sequence: 1 after ESC, 2 after ESC [
	on         bool

	fg, bg, sfg, sbg uint32 // pixel values of the colours

	cells  [MaxRows][MaxCols]byte // shadow of rows 1.., what the screen shows
	status [MaxCols]byte
}

// Init checks m, clears the screen and puts the cursor under the status
// line.
func (c *Console) Init(m Mode, mem Memory) error {
	// Field by field: a composite literal of the whole Console would be
	// built on the stack first, and the kernel's boot stack is small.
	c.on, c.mode, c.mem, c.esc = false, m, mem, 0
	switch m.Kind {
	case EGAText:
		c.cols, c.rows = int(m.Width), int(m.Height)
		if m.Pitch < 2*m.Width {
			return ErrPitch
		}
		c.jump = 1
	case RGB:
		switch m.BPP {
		case 15, 16, 24, 32:
		default:
			return ErrBPP
		}
		if uint64(m.Pitch) < uint64(m.Width)*uint64((m.BPP+7)/8) {
			return ErrPitch
		}
		c.cols, c.rows = int(m.Width/CellW), int(m.Height/CellH)
		c.fg, c.bg = m.pixel(TextFG), m.pixel(TextBG)
		c.sfg, c.sbg = m.pixel(StatusFG), m.pixel(StatusBG)
	default:
		return ErrKind
	}
	c.cols, c.rows = min(c.cols, MaxCols), min(c.rows, MaxRows)
	if c.cols < 1 || c.rows < 2 {
		return ErrSize
	}
	if m.Kind == RGB {
		c.jump = max(1, (c.rows-1)/2)
	}
	for i := range c.status[:c.cols] {
		c.status[i] = ' '
	}
	for y := 0; y < c.rows; y++ {
		for x := range c.cols {
			c.cells[y][x] = ' '
		}
	}
	c.on = true
	c.redraw(0, c.rows)
	c.x, c.y = 0, 1
	return nil
}

// On reports whether Init succeeded.
func (c *Console) On() bool { return c.on }

// Size returns the text area in cells, status line included.
func (c *Console) Size() (cols, rows int) { return c.cols, c.rows }

// pixel encodes col in the mode's channel layout.
func (m *Mode) pixel(col Color) uint32 {
	ch := func(v, pos, size uint8) uint32 {
		if size == 0 {
			return 0
		}
		if size < 8 {
			v >>= 8 - size
		}
		return uint32(v) << pos
	}
	return ch(col.R, m.RedPos, m.RedSize) | ch(col.G, m.GreenPos, m.GreenSize) | ch(col.B, m.BluePos, m.BlueSize)
}

// SetStatus writes s (cut to the width) on the status line.
func (c *Console) SetStatus(s []byte) {
	if !c.on {
		return
	}
	for i := range c.status[:c.cols] {
		c.status[i] = ' '
		if i < len(s) && s[i] >= ' ' && s[i] < 0x7f {
			c.status[i] = s[i]
		}
	}
	c.redraw(0, 1)
}

// Write draws p at the cursor: printable ASCII, '\n', '\r', '\t', '\b';
// ANSI escape sequences are skipped and other bytes drawn as '?'.
func (c *Console) Write(p []byte) {
	if !c.on {
		return
	}
	for _, b := range p {
		switch {
		case c.esc == 1:
			c.esc = 0
			if b == '[' {
				c.esc = 2
			}
			continue
		case c.esc == 2:
			if b >= 0x40 && b <= 0x7e {
				c.esc = 0
			}
			continue
		}
		switch b {
		case 0x1b:
			c.esc = 1
		case '\n':
			c.x = 0
			c.newline()
		case '\r':
			c.x = 0
		case '\t':
			for {
				c.put(' ')
				if c.x%8 == 0 {
					break
				}
			}
		case '\b':
			if c.x > 0 {
				c.x--
			}
		default:
			if b < ' ' || b >= 0x7f {
				b = '?'
			}
			c.put(b)
		}
	}
}

// put draws b at the cursor and advances, wrapping at the right edge.
func (c *Console) put(b byte) {
	if c.x == c.cols {
		c.x = 0
		c.newline()
	}
	c.cells[c.y][c.x] = b
	c.drawCell(c.x, c.y, b)
	c.x++
}

// newline moves the cursor down, scrolling by c.jump rows at the bottom.
func (c *Console) newline() {
	if c.y+1 < c.rows {
		c.y++
		return
	}
	n := min(c.jump, c.rows-1)
	copy(c.cells[1:c.rows-n], c.cells[1+n:c.rows])
	for y := c.rows - n; y < c.rows; y++ {
		for x := range c.cols {
			c.cells[y][x] = ' '
		}
	}
	c.redraw(1, c.rows)
	c.y = c.rows - n
}

// redraw draws rows [from, to) from the shadow.
func (c *Console) redraw(from, to int) {
	for y := from; y < to; y++ {
		for x := range c.cols {
			if y == 0 {
				c.drawCell(x, 0, c.status[x])
			} else {
				c.drawCell(x, y, c.cells[y][x])
			}
		}
	}
}

// drawCell draws character b in cell (x, y); row 0 in status colours.
func (c *Console) drawCell(x, y int, b byte) {
	m := &c.mode
	if m.Kind == EGAText {
		attr := uint16(attrText)
		if y == 0 {
			attr = attrStatus
		}
		c.mem.Store16(uintptr(y)*uintptr(m.Pitch)+uintptr(x)*2, attr<<8|uint16(b))
		return
	}
	fg, bg := c.fg, c.bg
	if y == 0 {
		fg, bg = c.sfg, c.sbg
	}
	g := glyph(b)
	bpp := uintptr(m.BPP+7) / 8
	for row := 0; row < CellH; row++ {
		var bits uint8
		if gr := row - glyphY; gr >= 0 && gr < GlyphH {
			bits = g[gr]
		}
		line := uintptr(y*CellH+row)*uintptr(m.Pitch) + uintptr(x*CellW)*bpp
		for col := 0; col < CellW; col++ {
			v := bg
			if gc := col - glyphX; gc >= 0 && gc < GlyphW && bits&(0x80>>gc) != 0 {
				v = fg
			}
			c.store(line+uintptr(col)*bpp, v)
		}
	}
}

func (c *Console) store(off uintptr, v uint32) {
	switch c.mode.BPP {
	case 32:
		c.mem.Store32(off, v)
	case 24:
		c.mem.Store8(off, uint8(v))
		c.mem.Store8(off+1, uint8(v>>8))
		c.mem.Store8(off+2, uint8(v>>16))
	default:
		c.mem.Store16(off, uint16(v))
	}
}

// glyph returns the bitmap of b (bit 7 is the leftmost pixel), the
// replacement glyph for bytes outside printable ASCII.
func glyph(b byte) *[GlyphH]uint8 {
	if b < ' ' || b >= 0x7f {
		return &font[len(font)-1]
	}
	return &font[b-' ']
}
