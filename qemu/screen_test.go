package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smpgo/smpgo/kern/screen"
)

const banner = "smpgo: 4 CPU(s), 4090 MiB, 3127108 KiB free, tsc 2617 MHz, starting runtime"

func TestBanner(t *testing.T) {
	got, ok := Banner("smpgo: booting\r\nsmpgo: screen console 100x37\r\n" + banner + "\r\n=== RUN   X\r\n")
	require.True(t, ok)
	require.Equal(t, banner, got)
	_, ok = Banner("smpgo: booting\n")
	require.False(t, ok)
}

// ppm encodes im as QEMU's screendump does.
func ppm(im *screen.Image) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "P6\n%d %d\n255\n", im.W, im.H)
	for y := 0; y < im.H; y++ {
		for x := 0; x < im.W; x++ {
			c := im.At(x, y)
			b.Write([]byte{c.R, c.G, c.B})
		}
	}
	return b.Bytes()
}

func TestCheckStatusLine(t *testing.T) {
	want, err := screen.StatusLine(800, []byte(banner))
	require.NoError(t, err)
	// A whole 800x600 screen whose top row is the status line.
	full := screen.NewImage(800, 600)
	copy(full.Pix, want.Pix)
	im, err := ReadPPM(bytes.NewReader(ppm(full)))
	require.NoError(t, err)
	require.Equal(t, 800, im.W)
	require.Equal(t, 600, im.H)
	require.NoError(t, CheckStatusLine(im, banner))

	require.ErrorContains(t, CheckStatusLine(im, strings.Replace(banner, "4 CPU", "2 CPU", 1)),
		"status line differs from", "another banner differs")
	im.Pix[4*(3*800+10)+1] ^= 0xff // one pixel's green
	require.ErrorContains(t, CheckStatusLine(im, banner), "in 1 of 12800 pixels, first (10,3)")

	_, err = ReadPPM(strings.NewReader("P3\n1 1\n255\n0 0 0\n"))
	require.ErrorContains(t, err, "want P6")
	_, err = ReadPPM(strings.NewReader("P6\n2 2\n255\n\x00\x00"))
	require.ErrorContains(t, err, "PPM pixels")
	require.ErrorContains(t, CheckStatusLine(screen.NewImage(800, 10), banner), "lower than a text row")
}

// xpAnswer is how QEMU 7.2's monitor answers "xp /80hx 0xb8000": the
// echoed command (really drawn with terminal escapes), then eight words a
// line.
func xpAnswer(row []uint16) string {
	var b strings.Builder
	b.WriteString("xp /80hx 0xb8000\r\n")
	for i, w := range row {
		if i%8 == 0 {
			fmt.Fprintf(&b, "%016x:", 0xb8000+2*i)
		}
		fmt.Fprintf(&b, " 0x%04x", w)
		if i%8 == 7 {
			b.WriteString("\r\n")
		}
	}
	return b.String() + monitorPrompt
}

func TestVGAStatus(t *testing.T) {
	row := make([]uint16, 80)
	for x := range row {
		c := byte(' ')
		if x < len(banner) {
			c = banner[x]
		}
		row[x] = 0x70<<8 | uint16(c)
	}
	words := ParseVGAText("screendump /tmp/s.ppm\r\n" + monitorPrompt + xpAnswer(row))
	require.Equal(t, row, words)
	require.NoError(t, CheckVGAStatus(words, banner))

	bad := append([]uint16(nil), row...)
	bad[3] = 0x07<<8 | uint16('g')
	require.ErrorContains(t, CheckVGAStatus(bad, banner), `EGA status cell 3 is 'g' attribute 0x07, want 'g' attribute 0x70`)
	require.ErrorContains(t, CheckVGAStatus(row[:40], banner), "40 cells")
}

func TestCheckScreen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.ppm")
	want, err := screen.StatusLine(640, []byte(banner))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, ppm(want), 0o644))
	r := &Result{Output: "smpgo: framebuffer 640x480x32 RGB\n" + banner + "\n", Monitor: "screendump " + p + "\r\n" + monitorPrompt}
	require.NoError(t, CheckScreen(r, p))
	require.ErrorContains(t, CheckScreen(&Result{Output: banner, MonitorErr: os.ErrDeadlineExceeded}, p), "not captured")
	require.ErrorContains(t, CheckScreen(&Result{Output: "x"}, p), "no banner")
	ega := &Result{Output: "framebuffer 80x25 EGA text\n" + banner + "\n", Monitor: xpAnswer(make([]uint16, 80))}
	require.ErrorContains(t, CheckScreen(ega, p), "EGA status cell 0")
}

// TestQEMUMonitorAfter: the monitor commands run once the line appears,
// while the guest goes on, and their answers are in the Result.
func TestQEMUMonitorAfter(t *testing.T) {
	needQEMU(t)
	c := tinyConfig(tinyKernel(t, "booting\r\n", hang))
	c.Timeout = 5 * time.Second
	c.MonitorAfter, c.Monitor = "booting", []string{"xp /1wx 0x100000", "info status"}
	r, err := Run(context.Background(), c, nil)
	require.NoError(t, err)
	require.Equal(t, Timeout, r.Outcome)
	require.NoError(t, r.MonitorErr)
	require.Contains(t, r.Monitor, "0000000000100000:")
	require.Contains(t, r.Monitor, "VM status: running")
}

func TestMonitorConfigErrors(t *testing.T) {
	c := Config{Kernel: "k", Monitor: []string{"info status"}}
	require.EqualError(t, c.Validate(), "qemu: monitor commands need a line to wait for (MonitorAfter)")
	c.MonitorAfter, c.Interactive = "x", true
	require.EqualError(t, c.Validate(), "qemu: monitor commands: the monitor is on the terminal in an interactive run")
}
