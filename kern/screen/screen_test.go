package screen

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ega is an EGA text buffer in memory.
type ega struct{ b []byte }

func (e *ega) Store8(off uintptr, v uint8)   { e.b[off] = v }
func (e *ega) Store16(off uintptr, v uint16) { binary.LittleEndian.PutUint16(e.b[off:], v) }
func (e *ega) Store32(off uintptr, v uint32) { binary.LittleEndian.PutUint32(e.b[off:], v) }

// row returns the characters of EGA row y and checks their attribute.
func (e *ega) row(t *testing.T, y int, attr byte) string {
	t.Helper()
	var s []byte
	for x := 0; x < 80; x++ {
		s = append(s, e.b[y*160+2*x])
		require.Equal(t, attr, e.b[y*160+2*x+1], "attribute of (%d,%d)", x, y)
	}
	return strings.TrimRight(string(s), " ")
}

var egaMode = Mode{Kind: EGAText, Width: 80, Height: 25, Pitch: 160, BPP: 16}

func TestEGAText(t *testing.T) {
	e := &ega{b: make([]byte, 4000)}
	var c Console
	require.NoError(t, c.Init(egaMode, e))
	c.SetStatus([]byte("smpgo: 4 CPU(s)"))
	c.Write([]byte("hello\r\nworld\tx\b\by\n\x1b[1;31mred\x1b[0m \x01\xff"))
	require.Equal(t, "smpgo: 4 CPU(s)", e.row(t, 0, attrStatus))
	require.Equal(t, "hello", e.row(t, 1, attrText))
	require.Equal(t, "world  yx", e.row(t, 2, attrText), "tab to column 8, two backspaces")
	require.Equal(t, "red ??", e.row(t, 3, attrText), "escape sequences skipped, control bytes shown as ?")
}

func TestEGAScrollKeepsStatus(t *testing.T) {
	e := &ega{b: make([]byte, 4000)}
	var c Console
	require.NoError(t, c.Init(egaMode, e))
	c.SetStatus([]byte("banner"))
	for i := range 30 {
		c.Write([]byte("line " + string(rune('a'+i%26)) + "\n"))
	}
	require.Equal(t, "banner", e.row(t, 0, attrStatus))
	// 30 lines and a newline each on 24 rows, scrolling one row at a time:
	// the last line written is on the second-to-last row, the cursor on
	// the last.
	require.Equal(t, "line d", e.row(t, 23, attrText))
	require.Equal(t, "", e.row(t, 24, attrText))
	require.Equal(t, "line h", e.row(t, 1, attrText))
}

func TestEGAWrap(t *testing.T) {
	e := &ega{b: make([]byte, 4000)}
	var c Console
	require.NoError(t, c.Init(egaMode, e))
	c.Write([]byte(strings.Repeat("x", 85)))
	require.Equal(t, strings.Repeat("x", 80), e.row(t, 1, attrText))
	require.Equal(t, "xxxxx", e.row(t, 2, attrText))
}

// text reads back what an RGB console shows in cell (x, y) by matching
// its pixels against every glyph: the drawing is exact, so one matches.
func cellText(t *testing.T, im *Image, x, y int, fg, bg Color) byte {
	t.Helper()
	for ch := byte(' '); ch < 0x7f; ch++ {
		g := glyph(ch)
		ok := true
		for r := 0; r < CellH && ok; r++ {
			for col := 0; col < CellW && ok; col++ {
				want := bg
				if gr, gc := r-glyphY, col-glyphX; gr >= 0 && gr < GlyphH && gc >= 0 && gc < GlyphW && g[gr]&(0x80>>gc) != 0 {
					want = fg
				}
				ok = im.At(x*CellW+col, y*CellH+r) == want
			}
		}
		if ok {
			return ch
		}
	}
	t.Fatalf("cell (%d,%d) matches no glyph", x, y)
	return 0
}

func rowText(t *testing.T, im *Image, y int) string {
	fg, bg := TextFG, TextBG
	if y == 0 {
		fg, bg = StatusFG, StatusBG
	}
	var s []byte
	for x := 0; x < im.W/CellW; x++ {
		s = append(s, cellText(t, im, x, y, fg, bg))
	}
	return strings.TrimRight(string(s), " ")
}

func TestRGB32(t *testing.T) {
	im := NewImage(800, 600)
	var c Console
	require.NoError(t, c.Init(im.Mode(), im))
	cols, rows := c.Size()
	require.Equal(t, 100, cols)
	require.Equal(t, 37, rows)
	c.SetStatus([]byte("smpgo: banner"))
	c.Write([]byte("Hello, {world}!\n~|_"))
	require.Equal(t, "smpgo: banner", rowText(t, im, 0))
	require.Equal(t, "Hello, {world}!", rowText(t, im, 1))
	require.Equal(t, "~|_", rowText(t, im, 2))
	require.Equal(t, "", rowText(t, im, 3))
	require.Equal(t, TextBG, im.At(799, 599), "the unused strip below the last row stays black")
}

// TestRGBScrollByHalf: at the bottom the console scrolls half the text
// area at once and redraws from its shadow.
func TestRGBScrollByHalf(t *testing.T) {
	im := NewImage(160, 5*CellH) // 20 columns, status + 4 rows
	var c Console
	require.NoError(t, c.Init(im.Mode(), im))
	c.SetStatus([]byte("top"))
	for _, l := range []string{"one", "two", "three", "four", "five"} {
		c.Write([]byte(l + "\n"))
	}
	// Rows 1-4 held one..four with the cursor past the end; "four\n" at
	// the bottom scrolled 2 rows: three, four, then five, cursor.
	require.Equal(t, "top", rowText(t, im, 0))
	require.Equal(t, "three", rowText(t, im, 1))
	require.Equal(t, "four", rowText(t, im, 2))
	require.Equal(t, "five", rowText(t, im, 3))
	require.Equal(t, "", rowText(t, im, 4))
}

// TestRGBLayouts draws the same text in 16, 24 and 32 bits per pixel and
// in a BGR layout and decodes each back to the console colours.
func TestRGBLayouts(t *testing.T) {
	for _, m := range []Mode{
		{Kind: RGB, Width: 64, Height: 32, Pitch: 128, BPP: 16, RedPos: 11, RedSize: 5, GreenPos: 5, GreenSize: 6, BluePos: 0, BlueSize: 5},
		{Kind: RGB, Width: 64, Height: 32, Pitch: 200, BPP: 24, RedPos: 16, RedSize: 8, GreenPos: 8, GreenSize: 8, BluePos: 0, BlueSize: 8},
		{Kind: RGB, Width: 64, Height: 32, Pitch: 256, BPP: 32, RedPos: 0, RedSize: 8, GreenPos: 8, GreenSize: 8, BluePos: 16, BlueSize: 8},
	} {
		e := &ega{b: make([]byte, int(m.Pitch)*int(m.Height))}
		var c Console
		require.NoError(t, c.Init(m, e))
		c.SetStatus([]byte("A"))
		bpp := int(m.BPP+7) / 8
		px := func(x, y int) uint32 {
			var v uint32
			for i := 0; i < bpp; i++ {
				v |= uint32(e.b[y*int(m.Pitch)+x*bpp+i]) << (8 * i)
			}
			return v
		}
		g := glyph('A')
		for r := 0; r < CellH; r++ {
			for col := 0; col < CellW; col++ {
				want := m.pixel(StatusBG)
				if gr, gc := r-glyphY, col-glyphX; gr >= 0 && gr < GlyphH && gc >= 0 && gc < GlyphW && g[gr]&(0x80>>gc) != 0 {
					want = m.pixel(StatusFG)
				}
				require.Equal(t, want, px(col, r), "bpp %d pixel (%d,%d)", m.BPP, col, r)
			}
		}
		require.Equal(t, m.pixel(TextBG), px(63, 31))
	}
	m := Mode{RedPos: 11, RedSize: 5, GreenPos: 5, GreenSize: 6, BluePos: 0, BlueSize: 5}
	require.Equal(t, uint32(0xAA>>3)<<11|uint32(0xAA>>2)<<5|uint32(0xAA>>3), m.pixel(TextFG))
}

func TestModeErrors(t *testing.T) {
	var c Console
	im := NewImage(8, 8)
	require.ErrorIs(t, c.Init(Mode{Kind: 7}, im), ErrKind)
	require.ErrorIs(t, c.Init(Mode{Kind: RGB, Width: 64, Height: 64, Pitch: 256, BPP: 8}, im), ErrBPP)
	require.ErrorIs(t, c.Init(Mode{Kind: RGB, Width: 64, Height: 64, Pitch: 100, BPP: 32}, im), ErrPitch)
	require.ErrorIs(t, c.Init(Mode{Kind: RGB, Width: 64, Height: 16, Pitch: 256, BPP: 32}, im), ErrSize)
	require.ErrorIs(t, c.Init(Mode{Kind: EGAText, Width: 80, Height: 25, Pitch: 80}, im), ErrPitch)
	require.False(t, c.On())
	c.Write([]byte("ignored while off"))
	c.SetStatus([]byte("ignored"))
}

func TestStatusLine(t *testing.T) {
	im, err := StatusLine(800, []byte("smpgo: 4 CPU(s)"))
	require.NoError(t, err)
	require.Equal(t, CellH, im.H)
	require.Equal(t, "smpgo: 4 CPU(s)", rowText(t, im, 0))
}

// TestWriteDoesNotAllocate: the kernel draws in trap context.
func TestWriteDoesNotAllocate(t *testing.T) {
	im := NewImage(320, 200)
	var c Console
	require.NoError(t, c.Init(im.Mode(), im))
	line := []byte("--- PASS: Boot/Info (0.01s)\n")
	allocs := testing.AllocsPerRun(50, func() {
		c.Write(line)
		c.SetStatus(line)
	})
	require.Zero(t, allocs)
}
