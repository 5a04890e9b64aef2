package atkbd

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func feed(d *Decoder, codes ...byte) string {
	var out []byte
	for _, b := range codes {
		out = d.Feed(b, out)
	}
	return string(out)
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, s := range []string{
		"help\r",
		"Hello, World! 0123456789",
		"show locks\r",
		"!@#$%^&*()_+-=[]{};':\",./<>?\\|`~\t",
	} {
		var d Decoder
		require.Equal(t, s, feed(&d, Encode(s)...), "%q", s)
		require.Zero(t, d.Unknown)
		require.False(t, d.shift, "shift released at the end")
	}
}

func TestModifiers(t *testing.T) {
	var d Decoder
	// Caps Lock inverts letters only; Shift inverts it back.
	require.Equal(t, "Ab1", feed(&d, 0x3a, 0xba, 0x1e, 0x9e, scLShift, 0x30, 0x30|0x80, scLShift|0x80, 0x02, 0x82))
	d = Decoder{}
	// Ctrl+C, Ctrl+[ (ESC), right Ctrl (E0 1D) too.
	require.Equal(t, "\x03\x1b\x04", feed(&d, 0x1d, 0x2e, 0xae, 0x1a, 0x9d, 0xe0, 0x1d, 0x20, 0xe0, 0x9d, 0xa0))
	require.False(t, d.ctrl)
	// Alt sends an ESC prefix.
	d = Decoder{}
	require.Equal(t, "\x1bx", feed(&d, 0x38, 0x2d, 0xad, 0xb8))
	// Right shift.
	d = Decoder{}
	require.Equal(t, "Q", feed(&d, 0x36, 0x10, 0x90, 0xb6))
}

func TestExtendedKeys(t *testing.T) {
	var d Decoder
	require.Equal(t, "\x1b[A\x1b[B\x1b[D\x1b[C\x1b[3~\r/",
		feed(&d, 0xe0, 0x48, 0xe0, 0xc8, 0xe0, 0x50, 0xe0, 0xd0, 0xe0, 0x4b, 0xe0, 0x4d, 0xe0, 0x53, 0xe0, 0x1c, 0xe0, 0x35))
	// Pause (E1 1D 45 E1 9D C5) produces nothing and does not eat the next key.
	require.Equal(t, "a", feed(&d, 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5, 0x1e, 0x9e))
	// Print Screen's fake shifts (E0 2A E0 37 … E0 B7 E0 AA) leave Shift alone.
	require.Equal(t, "a", feed(&d, 0xe0, 0x2a, 0xe0, 0x37, 0xe0, 0xb7, 0xe0, 0xaa, 0x1e, 0x9e))
	require.False(t, d.shift)
	// Keypad digits, Backspace as DEL, function keys silent.
	require.Equal(t, "78\x7f", feed(&d, 0x47, 0xc7, 0x48, 0xc8, 0x0e, 0x8e, 0x3b, 0xbb, 0x58, 0xd8))
	require.Zero(t, d.Unknown)
}

func TestControllerBytesAreNotKeys(t *testing.T) {
	var d Decoder
	// ACK, resend, self-test passed (0xAA with no Shift held), overrun.
	require.Equal(t, "", feed(&d, 0xfa, 0xfe, 0xaa, 0x00, 0xff))
	// 0xAA while left Shift is held is its release.
	require.Equal(t, "Aa", feed(&d, scLShift, 0x1e, 0x9e, 0xaa, 0x1e, 0x9e))
}

func TestUnknownCountedNotFatal(t *testing.T) {
	var d Decoder
	require.Equal(t, "a", feed(&d, 0xe0, 0x10, 0x1e))
	require.Equal(t, uint64(1), d.Unknown)
}
