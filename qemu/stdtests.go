package qemu

import (
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// stdTestsFile is the list of standard-library packages tested inside the
// kernel, with their skips and reasons.
//
//go:embed stdtests.txt
var stdTestsFile string

// StdTest is one standard-library package of stdtests.txt.
type StdTest struct {
	Package string
	SMP     int
	Tier    Tier
	Tags    string
	Timeout time.Duration
	Skips   []StdSkip
	Files   []StdFile // more files for its file system (TestFS)
}

// StdSkip is a test left out, and why.
type StdSkip struct {
	Test, Reason string
}

// TestFlags is the test binary's command line: -test.short -test.v and
// the skips joined into one -test.skip.
func (s StdTest) TestFlags() []string {
	flags := []string{"-test.short", "-test.v"}
	if len(s.Skips) > 0 {
		names := make([]string, len(s.Skips))
		for i, k := range s.Skips {
			names[i] = k.Test
		}
		flags = append(flags, "-test.skip=^("+strings.Join(names, "|")+")$")
	}
	return flags
}

// StdTests returns the list in stdtests.txt.
func StdTests() []StdTest {
	l, err := ParseStdTests(stdTestsFile)
	if err != nil {
		panic("qemu: stdtests.txt: " + err.Error()) // checked by a host test
	}
	return l
}

// ParseStdTests parses the stdtests.txt format.
func ParseStdTests(text string) ([]StdTest, error) {
	var out []StdTest
	index := map[string]int{}
	for n, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("line %d: %s", n+1, fmt.Sprintf(format, args...))
		}
		switch f[0] {
		case "std":
			if len(f) < 2 {
				return nil, bad("std: want a package")
			}
			if _, dup := index[f[1]]; dup {
				return nil, bad("std %s: listed twice", f[1])
			}
			s := StdTest{Package: f[1], SMP: 4, Tier: Full, Timeout: 5 * time.Minute}
			for _, kv := range f[2:] {
				k, v, _ := strings.Cut(kv, "=")
				var err error
				switch k {
				case "smp":
					s.SMP, err = strconv.Atoi(v)
					if err == nil && (s.SMP < 1 || s.SMP > MaxCPUs) {
						err = fmt.Errorf("out of range")
					}
				case "tier":
					s.Tier, err = ParseTier(v)
				case "tags":
					s.Tags = v
				case "timeout":
					s.Timeout, err = time.ParseDuration(v)
				default:
					err = fmt.Errorf("unknown key")
				}
				if err != nil {
					return nil, bad("std %s: %s: %v", f[1], kv, err)
				}
			}
			index[f[1]] = len(out)
			out = append(out, s)
		case "skip":
			if len(f) < 4 {
				return nil, bad("skip: want a package, a test name and a reason")
			}
			i, ok := index[f[1]]
			if !ok {
				return nil, bad("skip %s: no std line for it above", f[1])
			}
			if strings.Contains(f[2], "/") {
				return nil, bad("skip %s %s: a top-level test name, no /", f[1], f[2])
			}
			if _, err := regexp.Compile(f[2]); err != nil {
				return nil, bad("skip %s %s: %v", f[1], f[2], err)
			}
			out[i].Skips = append(out[i].Skips, StdSkip{Test: f[2], Reason: strings.Join(f[3:], " ")})
		case "file":
			if len(f) != 4 {
				return nil, bad("file: want a package, a path in the guest and where its bytes come from")
			}
			i, ok := index[f[1]]
			if !ok {
				return nil, bad("file %s: no std line for it above", f[1])
			}
			if !strings.HasPrefix(f[2], "/") && !strings.HasPrefix(f[2], "$GOROOT/") {
				return nil, bad("file %s %s: want an absolute path or $GOROOT/PATH", f[1], f[2])
			}
			if k, v, _ := strings.Cut(f[3], ":"); (k != "zoneinfo" && k != "host" && k != "goroot") || v == "" {
				return nil, bad("file %s %s %s: want zoneinfo:NAME, goroot:PATH or host:PATH", f[1], f[2], f[3])
			}
			out[i].Files = append(out[i].Files, StdFile{Path: f[2], From: f[3]})
		default:
			return nil, bad("unknown directive %q", f[0])
		}
	}
	return out, nil
}

// GoTestCounts counts the top-level "--- PASS", "--- FAIL" and "--- SKIP"
// lines of go test -v output (subtests, indented, are not counted).
func GoTestCounts(output string) (passed, failed, skipped int) {
	for _, line := range strings.Split(output, "\n") {
		switch {
		case strings.HasPrefix(line, "--- PASS: "):
			passed++
		case strings.HasPrefix(line, "--- FAIL: "):
			failed++
		case strings.HasPrefix(line, "--- SKIP: "):
			skipped++
		}
	}
	return passed, failed, skipped
}
