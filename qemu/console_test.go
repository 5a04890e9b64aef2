package qemu

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConsoleForwardsWholeLines(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	c := newConsole(&mu, &out, false, nil)
	c.start = time.Now()
	require.False(t, c.gotAny)
	write(t, c, "boo")
	require.Equal(t, "", out.String())
	require.True(t, c.gotAny)
	write(t, c, "ting\nhal")
	require.Equal(t, "booting\n", out.String())
	write(t, c, "f\nmore\nand")
	require.Equal(t, "booting\nhalf\nmore\n", out.String())
	c.flush()
	require.Equal(t, "booting\nhalf\nmore\nand", out.String())
	require.Equal(t, "booting\nhalf\nmore\nand", string(c.buf))
	c.flush()
	require.Equal(t, "booting\nhalf\nmore\nand", out.String())
}

func TestConsoleRaw(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	c := newConsole(&mu, &out, true, nil)
	write(t, c, "login: ")
	require.Equal(t, "login: ", out.String())
}

func TestConsoleMarks(t *testing.T) {
	var mu sync.Mutex
	c := newConsole(&mu, &bytes.Buffer{}, false, []string{"smp: 4 CPUs", "ready", "never"})
	c.start = time.Now().Add(-time.Hour) // every mark is seen an hour in
	write(t, c, "boot\nsmp: 4")
	require.Empty(t, c.markTim)
	// The mark spans two writes but one line.
	write(t, c, " CPUs up\nre")
	require.Contains(t, c.markTim, "smp: 4 CPUs")
	first := c.markTim["smp: 4 CPUs"]
	require.GreaterOrEqual(t, first, time.Hour)
	write(t, c, "ady\nsmp: 4 CPUs again\n")
	require.Contains(t, c.markTim, "ready")
	require.Equal(t, first, c.markTim["smp: 4 CPUs"], "the first line counts")
	require.NotContains(t, c.markTim, "never")
	require.Len(t, c.markTim, 2)
}

func TestConsoleMarkDoesNotSpanLines(t *testing.T) {
	var mu sync.Mutex
	c := newConsole(&mu, &bytes.Buffer{}, false, []string{"ab"})
	write(t, c, "a\nb\n")
	require.Empty(t, c.markTim)
}

type brokenWriter struct{ n int }

func (w *brokenWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("broken")
}

func TestConsoleSurvivesBrokenOut(t *testing.T) {
	var mu sync.Mutex
	w := &brokenWriter{}
	c := newConsole(&mu, w, false, nil)
	write(t, c, "one\n")
	write(t, c, "two\n")
	c.flush()
	require.Equal(t, 1, w.n, "forwarding stops at the first error")
	require.Equal(t, "one\ntwo\n", string(c.buf), "but everything is kept")
}

func write(t *testing.T, c *console, s string) {
	t.Helper()
	n, err := c.Write([]byte(s))
	require.NoError(t, err)
	require.Equal(t, len(s), n)
}
