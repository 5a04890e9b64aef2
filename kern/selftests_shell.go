package kern

import (
	"fmt"
	"strings"
)

// The debug shell's commands and views, each run into a buffer: every one
// prints something and none is unknown; cpus lists every CPU twice (the
// counter table and the IPI table).
func init() {
	RegisterTest(Test{Name: "Kern/ShellCommands", Fn: testShellCommands})
}

func testShellCommands(t *T) {
	cmdMu.Lock()
	lines := []string{"help", "show"}
	for n := range commands {
		if n != "halt" && n != "help" {
			lines = append(lines, n)
		}
	}
	for n := range shows {
		lines = append(lines, "show "+n)
	}
	cmdMu.Unlock()
	for _, l := range lines {
		var b strings.Builder
		if !RunCommand(&b, l) {
			t.Errorf("%q ended the shell", l)
		}
		out := b.String()
		if strings.TrimSpace(out) == "" {
			t.Errorf("%q printed nothing", l)
		}
		if strings.Contains(out, "unknown command") {
			t.Errorf("%q: %s", l, out)
		}
	}
	bt := func(l string) string {
		var b strings.Builder
		RunCommand(&b, l)
		return b.String()
	}
	if out := bt("bt self"); !strings.Contains(out, "kern.testShellCommands") {
		t.Errorf("bt self: no testShellCommands frame:\n%s", out)
	}
	if out := bt("bt"); !strings.Contains(out, "goroutine 1 [") || !strings.Contains(out, "kern.testShellCommands") {
		t.Errorf("bt: not every goroutine:\n%.2000s", out)
	}
	if out := bt("bt 1"); !strings.HasPrefix(out, "goroutine 1 [") || strings.Contains(out, "\ngoroutine ") {
		t.Errorf("bt 1: want goroutine 1 alone:\n%.2000s", out)
	}
	if out := bt("bt x"); !strings.Contains(out, "not a goroutine number") {
		t.Errorf("bt x: %s", out)
	}
	if out := bt("panic"); !strings.Contains(out, "panic yes") {
		t.Errorf("panic without yes: %s", out)
	}
	var b strings.Builder
	RunCommand(&b, "no-such-command")
	if !strings.Contains(b.String(), "unknown command") {
		t.Errorf("unknown command not reported: %q", b.String())
	}
	b.Reset()
	RunCommand(&b, "cpus")
	out := b.String()
	if !strings.Contains(out, "IPIs received") {
		t.Errorf("cpus: no IPI table:\n%s", out)
	}
	for i := 0; i < NumCPU(); i++ {
		if n := strings.Count(out, fmt.Sprintf("\n%3d ", i)); n < 2 {
			t.Errorf("cpus: CPU %d in %d tables, want at least 2:\n%s", i, n, out)
		}
	}
	t.Logf("%d commands and views ran", len(lines))
}
