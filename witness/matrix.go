package witness

import (
	"fmt"
	"strings"
)

// The self-test matrix, after Linux's lib/locking-selftest.c: scenarios
// (rows, in sections separated by a rule) run against each lock kind
// (column), each case on a fresh Witness, and the verdict (a report of
// the expected kind, or none) is checked. Two matrices use it: witness's
// own on bare Objects (selftest_on.go) and package lock's on the real
// lock types (lock/matrix.go).

// MatrixColumn is a lock kind under test: its witness kind, and whether
// the scenario's locks are taken shared.
type MatrixColumn struct {
	Name   string
	Kind   Kind
	Shared bool
}

// MatrixColumns are the matrix's columns.
var MatrixColumns = []MatrixColumn{
	{"spin", Spin, false}, {"mutex", Sleep, false},
	{"sx-x", SX, false}, {"sx-s", SX, true},
	{"rw-w", RW, false}, {"rw-r", RW, true},
}

// Verdicts besides a ReportKind: no report at all, or the scenario does
// not apply to the column.
const (
	ExpectNone ReportKind = 0
	NotApplied ReportKind = 255
)

// Expect gives a scenario's verdict per column.
type Expect func(MatrixColumn) ReportKind

// ExpectAll expects k in every column.
func ExpectAll(k ReportKind) Expect { return func(MatrixColumn) ReportKind { return k } }

// ExpectBlocking expects k for the blocking kinds and spin for the spin
// column.
func ExpectBlocking(k, spin ReportKind) Expect {
	return func(c MatrixColumn) ReportKind {
		if c.Kind == Spin {
			return spin
		}
		return k
	}
}

// ExpectSharedOnly expects k in the shared columns; the others do not
// apply.
func ExpectSharedOnly(k ReportKind) Expect {
	return func(c MatrixColumn) ReportKind {
		if c.Shared {
			return k
		}
		return NotApplied
	}
}

// ExpectExclusiveSXRW expects k in the exclusive sx and rw columns.
func ExpectExclusiveSXRW(k ReportKind) Expect {
	return func(c MatrixColumn) ReportKind {
		if c.Kind.Shareable() && !c.Shared {
			return k
		}
		return NotApplied
	}
}

// ExpectByKind gives a verdict per lock kind (both columns of sx and rw).
func ExpectByKind(spin, mutex, sx, rw ReportKind) Expect {
	return func(c MatrixColumn) ReportKind {
		return map[Kind]ReportKind{Spin: spin, Sleep: mutex, SX: sx, RW: rw}[c.Kind]
	}
}

// MatrixRow is one scenario as the matrix runs it: Run runs it in a
// column and judges it (see Verdict).
type MatrixRow struct {
	Name   string
	Expect Expect
	Run    func(col MatrixColumn) (ok bool, detail string)
}

// Verdict judges one case from the reports its Witness made: each of the
// kind wanted (at least one, or none at all for ExpectNone), a case that
// panicked (panicked names the panic) fails, and check, if not nil, must
// hold too. detail says what was wanted and got.
func Verdict(rs []Report, want ReportKind, panicked string, check func([]Report) bool) (ok bool, detail string) {
	var got []string
	ok = panicked == ""
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s (x%d)", r.Kind, r.Count))
		ok = ok && r.Kind == want
	}
	if want == ExpectNone {
		ok = ok && len(rs) == 0
	} else {
		ok = ok && len(rs) > 0
	}
	if check != nil {
		ok = ok && check(rs)
	}
	if panicked != "" {
		return ok, "panic: " + panicked
	}
	wantS := "no report"
	if want != ExpectNone {
		wantS = want.String()
	}
	return ok, fmt.Sprintf("want %s, got [%s]", wantS, strings.Join(got, ", "))
}

// RunMatrix runs every row in every column where it applies and prints
// the matrix through printf like locking-selftest.c (a row per scenario,
// "ok", "FAILED" or "-"), titled title, then the failures in detail, and
// returns the passed and failed cases. noun names the cases in the
// summary line ("witness", "lock").
func RunMatrix(printf func(string, ...any), title, noun string, sections [][]MatrixRow) (passed, failed int) {
	rule := "  " + strings.Repeat("-", 76)
	var hdr strings.Builder
	hdr.WriteString(strings.Repeat(" ", 33) + "|")
	for _, c := range MatrixColumns {
		fmt.Fprintf(&hdr, "%-6s|", fmt.Sprintf("%*s", 3+len(c.Name)/2, c.Name))
	}
	for _, l := range []string{rule, "  | " + title + ":", rule, hdr.String(), rule} {
		printf("%s\n", l)
	}
	var failures []string
	for _, sec := range sections {
		for _, r := range sec {
			var row strings.Builder
			fmt.Fprintf(&row, "%33s:", r.Name)
			for _, col := range MatrixColumns {
				if r.Expect(col) == NotApplied {
					row.WriteString("  -   |")
					continue
				}
				if ok, detail := r.Run(col); ok {
					passed++
					row.WriteString("  ok  |")
				} else {
					failed++
					row.WriteString("FAILED|")
					failures = append(failures, fmt.Sprintf("%s/%s: %s", r.Name, col.Name, detail))
				}
			}
			printf("%s\n", row.String())
		}
		printf("%s\n", rule)
	}
	if failed == 0 {
		printf("Good, all %d %s self-tests passed!\n", passed, noun)
	} else {
		printf("BUG: %d unexpected failures (out of %d):\n", failed, passed+failed)
		for _, f := range failures {
			printf("  %s\n", f)
		}
	}
	return passed, failed
}
