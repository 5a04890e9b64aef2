package screen

import "encoding/binary"

// Image is a framebuffer in ordinary memory, 32 bits per pixel
// (x8r8g8b8, as QEMU's and most UEFI displays): what tests and the QEMU
// harness draw into.
type Image struct {
	W, H int
	Pix  []byte
}

// NewImage returns a black w×h image.
func NewImage(w, h int) *Image { return &Image{W: w, H: h, Pix: make([]byte, 4*w*h)} }

// Mode is the image's mode for Console.Init.
func (im *Image) Mode() Mode {
	return Mode{Kind: RGB, Width: uint32(im.W), Height: uint32(im.H), Pitch: uint32(4 * im.W), BPP: 32,
		RedPos: 16, RedSize: 8, GreenPos: 8, GreenSize: 8, BluePos: 0, BlueSize: 8}
}

// Store8 implements Memory.
func (im *Image) Store8(off uintptr, v uint8) { im.Pix[off] = v }

// Store16 implements Memory.
func (im *Image) Store16(off uintptr, v uint16) { binary.LittleEndian.PutUint16(im.Pix[off:], v) }

// Store32 implements Memory.
func (im *Image) Store32(off uintptr, v uint32) { binary.LittleEndian.PutUint32(im.Pix[off:], v) }

// At returns the colour of pixel (x, y).
func (im *Image) At(x, y int) Color {
	p := im.Pix[4*(y*im.W+x):]
	return Color{R: p[2], G: p[1], B: p[0]}
}

// StatusLine renders the status line a console on a display width pixels
// wide shows for text: the top CellH rows of the display.
func StatusLine(width int, text []byte) (*Image, error) {
	im := NewImage(width, 2*CellH)
	var c Console
	if err := c.Init(im.Mode(), im); err != nil {
		return nil, err
	}
	c.SetStatus(text)
	im.H = CellH
	im.Pix = im.Pix[:4*width*CellH]
	return im, nil
}
