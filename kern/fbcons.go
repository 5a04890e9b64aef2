package kern

import (
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/boot/multiboot"
	"github.com/smpgo/smpgo/kern/screen"
)

// The screen console (package screen) on the boot loader's framebuffer:
// everything written to the serial console is drawn there too, and the
// boot banner is its status line, so a person at a real board sees the
// boot, the shell and any panic.

// VGA CRT controller (IBM VGA Technical Reference, CRT Controller
// Registers), colour addresses.
const (
	crtcIndex       = 0x3d4
	crtcData        = 0x3d5
	crtcCursorStart = 0x0a
	crtcCursorOff   = 1 << 5
)

// fbMemory is the framebuffer through the identity map.
type fbMemory struct{ base uintptr }

func (f *fbMemory) Store8(off uintptr, v uint8) { amd64.Store8(f.base+off, v) }
func (f *fbMemory) Store16(off uintptr, v uint16) {
	amd64.Store8(f.base+off, uint8(v))
	amd64.Store8(f.base+off+1, uint8(v>>8))
}
func (f *fbMemory) Store32(off uintptr, v uint32) { amd64.Store32(f.base+off, v) }

var (
	fbmem fbMemory
	scr   screen.Console // guarded by conLock (Boot runs alone before)
)

// screenInit starts the screen console when the loader gave a usable
// framebuffer below 4 GiB (the identity map), and says why not otherwise.
func screenInit() {
	if !bootHasFB {
		return
	}
	fb := &bootFB
	m := screen.Mode{Width: fb.Width, Height: fb.Height, Pitch: fb.Pitch, BPP: fb.BPP,
		RedPos: fb.RedPos, RedSize: fb.RedSize, GreenPos: fb.GreenPos, GreenSize: fb.GreenSize, BluePos: fb.BluePos, BlueSize: fb.BlueSize}
	var l kline
	switch fb.Type {
	case multiboot.FramebufferEGAText:
		m.Kind = screen.EGAText
	case multiboot.FramebufferRGB:
		m.Kind = screen.RGB
	default:
		l.s("smpgo: screen: indexed-colour framebuffer not supported: serial console only").nl().print()
		return
	}
	if end := fb.Addr + uint64(fb.Pitch)*uint64(fb.Height); end > 1<<32 || end < fb.Addr {
		l.s("smpgo: screen: framebuffer at ").x(fb.Addr).s(" is above the 4 GiB identity map: serial console only").nl().print()
		return
	}
	fbmem.base = uintptr(fb.Addr)
	if err := scr.Init(m, &fbmem); err != nil {
		l.s("smpgo: ").s(err.Error()).s(": serial console only").nl().print()
		return
	}
	if m.Kind == screen.EGAText {
		// Hide the adapter's hardware cursor (CRTC register 0Ah, Cursor
		// Start, bit 5: cursor off), which the firmware left where its
		// own output ended.
		amd64.Outb(crtcIndex, crtcCursorStart)
		amd64.Outb(crtcData, crtcCursorOff)
	}
	cols, rows := scr.Size()
	l.s("smpgo: screen console ").d(int64(cols)).s("x").d(int64(rows)).nl().print()
}

// screenStatus sets the screen's status line (the boot banner).
func screenStatus(b []byte) {
	conLock.Acquire(thisCPU())
	scr.SetStatus(b)
	conLock.Release()
}
