package kern

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// typeLine feeds s and returns the echo and the finished lines.
func typeLine(e *lineEditor, s string) (echo string, lines []string) {
	var out []byte
	for i := 0; i < len(s); i++ {
		var line string
		var done bool
		out, line, done = e.Feed(s[i], out)
		if done {
			lines = append(lines, line)
		}
	}
	return string(out), lines
}

// shown replays echo on a one-line terminal (printable, \b, \n) and
// returns what is shown on the last line.
func shown(echo string) string {
	var line []byte
	cur := 0
	for i := 0; i < len(echo); i++ {
		switch c := echo[i]; c {
		case '\n':
			line, cur = line[:0], 0
		case '\b':
			cur--
		default:
			if cur == len(line) {
				line = append(line, c)
			} else {
				line[cur] = c
			}
			cur++
		}
	}
	return strings.TrimRight(string(line), " ")
}

func TestLineEditorEchoAndEnter(t *testing.T) {
	var e lineEditor
	echo, lines := typeLine(&e, "show locks\r")
	require.Equal(t, []string{"show locks"}, lines)
	require.Equal(t, "show locks\n", echo)
}

func TestLineEditorErase(t *testing.T) {
	var e lineEditor
	echo, lines := typeLine(&e, "cpuz\x7fs")
	require.Empty(t, lines)
	require.Equal(t, "cpus", shown(echo))
	_, lines = typeLine(&e, "\n")
	require.Equal(t, []string{"cpus"}, lines)

	// Ctrl-U erases everything; Ctrl-C abandons the line.
	echo, lines = typeLine(&e, "garbage\x15mem")
	require.Equal(t, "mem", shown(echo))
	require.Empty(t, lines)
	echo, lines = typeLine(&e, "\x03")
	require.Equal(t, []string{""}, lines)
	require.True(t, strings.HasSuffix(echo, "^C\n"))
}

func TestLineEditorCursorKeys(t *testing.T) {
	var e lineEditor
	// Left twice, insert, Home, Delete (ESC [3~), End, append.
	echo, lines := typeLine(&e, "thrads\x1b[D\x1b[D\x1b[De\x1b[H\x1b[3~T\x1b[F!\r")
	require.Equal(t, []string{"Threads!"}, lines)
	require.Equal(t, "Threads!", shown(strings.TrimSuffix(echo, "\n")))
	// Ctrl-A / Ctrl-E / Ctrl-B / Ctrl-F / Ctrl-D.
	_, lines = typeLine(&e, "bc\x01a\x05d\x02\x02\x04\x06\x06x\n")
	require.Equal(t, []string{"abdx"}, lines)
	// Unknown sequences and lone ESCs are dropped, not typed.
	_, lines = typeLine(&e, "a\x1b[99Zb\x1bxc\x1bOCd\n")
	require.Equal(t, []string{"abcd"}, lines)
}

func TestLineEditorHistory(t *testing.T) {
	var e lineEditor
	typeLine(&e, "cpus\nmem\nmem\n\n")
	require.Equal(t, []string{"cpus", "mem"}, e.hist, "no empty or repeated entries")
	echo, lines := typeLine(&e, "par\x1b[A\x1b[A")
	require.Empty(t, lines)
	require.Equal(t, "cpus", shown(echo))
	// Down twice comes back to the line being typed, kept as it was.
	echo2, _ := typeLine(&e, "\x1b[B\x1b[B")
	require.Equal(t, "par", shown(echo+echo2))
	// Up past the oldest stays there; Ctrl-P works too.
	_, lines = typeLine(&e, "\x10\x10\x10\r")
	require.Equal(t, []string{"cpus"}, lines)
	for i := 0; i < 2*histMax; i++ {
		typeLine(&e, string(rune('a'+i%26))+strings.Repeat("x", i)+"\n")
	}
	require.Len(t, e.hist, histMax)
}

func TestLineEditorReadLine(t *testing.T) {
	var e lineEditor
	r := bufio.NewReader(strings.NewReader("help\rcpus"))
	var w bytes.Buffer
	line, err := e.ReadLine(r, &w)
	require.NoError(t, err)
	require.Equal(t, "help", line)
	line, err = e.ReadLine(r, &w)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, "cpus", line, "what was typed before the end of input")
	require.Equal(t, "help\ncpus", w.String())
}
