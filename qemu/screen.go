package qemu

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/smpgo/smpgo/kern/screen"
)

// Checking the kernel's screen console (kern/screen): the boot banner the
// kernel prints on the serial console is also its screen's status line.
// On an RGB framebuffer the harness compares QEMU's screendump of that
// line pixel for pixel with the same text drawn on the host by the
// kernel's own screen code; in EGA text mode it reads the text buffer
// (0xB8000) through the monitor.

// BannerMark is in the banner line, the status line's text.
const BannerMark = "starting runtime"

// ScreenCommands are the monitor commands that capture the screen once
// the banner is out: a screendump to ppm, and the first EGA text row.
func ScreenCommands(ppm string) []string {
	return []string{"screendump " + ppm, "xp /80hx 0xb8000"}
}

// Banner returns the banner line of a kernel's serial output.
func Banner(output string) (string, bool) {
	for _, l := range strings.Split(output, "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.HasPrefix(l, "smpgo: ") && strings.Contains(l, BannerMark) {
			return l, true
		}
	}
	return "", false
}

// ReadPPM decodes a binary PPM (P6, maxval 255), what QEMU's screendump
// writes, into an image.
func ReadPPM(r io.Reader) (*screen.Image, error) {
	br := bufio.NewReader(r)
	var magic string
	var w, h, maxval int
	if _, err := fmt.Fscan(br, &magic, &w, &h, &maxval); err != nil {
		return nil, fmt.Errorf("qemu: PPM header: %w", err)
	}
	if magic != "P6" || maxval != 255 || w <= 0 || h <= 0 || w*h > 1<<26 {
		return nil, fmt.Errorf("qemu: PPM %s %dx%d maxval %d: want P6 with maxval 255", magic, w, h, maxval)
	}
	if _, err := br.ReadByte(); err != nil { // the whitespace after maxval
		return nil, fmt.Errorf("qemu: PPM: %w", err)
	}
	rgb := make([]byte, 3*w*h)
	if _, err := io.ReadFull(br, rgb); err != nil {
		return nil, fmt.Errorf("qemu: PPM pixels: %w", err)
	}
	im := screen.NewImage(w, h)
	for i := 0; i < w*h; i++ {
		im.Pix[4*i+2], im.Pix[4*i+1], im.Pix[4*i] = rgb[3*i], rgb[3*i+1], rgb[3*i+2]
	}
	return im, nil
}

// CheckStatusLine compares the top screen.CellH rows of a screendump
// with the status line the kernel's screen code draws for banner.
func CheckStatusLine(im *screen.Image, banner string) error {
	if im.H < screen.CellH {
		return fmt.Errorf("qemu: screendump %dx%d is lower than a text row", im.W, im.H)
	}
	want, err := screen.StatusLine(im.W, []byte(banner))
	if err != nil {
		return err
	}
	bad, first := 0, ""
	for y := 0; y < screen.CellH; y++ {
		for x := 0; x < im.W; x++ {
			if g, w := im.At(x, y), want.At(x, y); g != w {
				if bad == 0 {
					first = fmt.Sprintf("(%d,%d) is %v, want %v", x, y, g, w)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("qemu: status line differs from %q in %d of %d pixels, first %s", banner, bad, im.W*screen.CellH, first)
	}
	return nil
}

var xpLine = regexp.MustCompile(`(?m)^[0-9a-f]+:((?: 0x[0-9a-f]{4})+)`)

// ParseVGAText decodes the monitor's answer to "xp /Nhx 0xb8000": the
// text buffer's words, character in the low byte, attribute in the high.
func ParseVGAText(monitor string) []uint16 {
	var words []uint16
	for _, m := range xpLine.FindAllStringSubmatch(strings.ReplaceAll(monitor, "\r", ""), -1) {
		for _, f := range strings.Fields(m[1]) {
			v, err := strconv.ParseUint(strings.TrimPrefix(f, "0x"), 16, 16)
			if err == nil {
				words = append(words, uint16(v))
			}
		}
	}
	return words
}

// CheckVGAStatus checks an EGA text row: banner (cut to the row) then
// blanks, all black on light grey (attribute 0x70).
func CheckVGAStatus(row []uint16, banner string) error {
	if len(row) < 80 {
		return fmt.Errorf("qemu: EGA text row has %d cells, want 80", len(row))
	}
	for x, w := range row[:80] {
		want := byte(' ')
		if x < len(banner) {
			want = banner[x]
		}
		if byte(w) != want || w>>8 != 0x70 {
			return fmt.Errorf("qemu: EGA status cell %d is %q attribute %#02x, want %q attribute 0x70 (row %q)", x, byte(w), w>>8, want, rowText(row))
		}
	}
	return nil
}

func rowText(row []uint16) string {
	var b []byte
	for _, w := range row {
		b = append(b, byte(w))
	}
	return string(bytes.TrimRight(b, " "))
}

// CheckScreen checks a boot's screen: the banner of r.Output on the
// status line, in the EGA text buffer (r.Monitor) when the kernel
// reported EGA text, else in the screendump at ppm.
func CheckScreen(r *Result, ppm string) error {
	banner, ok := Banner(r.Output)
	if !ok {
		return errors.New("qemu: no banner line in the output")
	}
	if r.Monitor == "" {
		return fmt.Errorf("qemu: the screen was not captured (monitor: %v)", r.MonitorErr)
	}
	if strings.Contains(r.Output, "EGA text") {
		return CheckVGAStatus(ParseVGAText(r.Monitor), banner)
	}
	f, err := os.Open(ppm)
	if err != nil {
		return fmt.Errorf("qemu: screendump: %w", err)
	}
	defer f.Close()
	im, err := ReadPPM(f)
	if err != nil {
		return err
	}
	return CheckStatusLine(im, banner)
}
