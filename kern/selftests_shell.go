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
