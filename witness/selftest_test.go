//go:build !nowitness

package witness

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelftestMatrix(t *testing.T) {
	var out strings.Builder
	ok, failed := RunSelftests(func(f string, a ...any) { fmt.Fprintf(&out, f, a...) })
	t.Log("\n" + out.String())
	require.Zero(t, failed, out.String())
	require.Greater(t, ok, 150)
	require.Contains(t, out.String(), "A-B-B-C-C-A deadlock:  ok  |  ok  |")
	require.Contains(t, out.String(), "Good, all")
}

func TestVerdict(t *testing.T) {
	rev := []Report{{Kind: ReportReversal, Count: 2}}
	ok, detail := Verdict(nil, ExpectNone, "", nil)
	assert.True(t, ok, detail)
	ok, detail = Verdict(rev, ReportReversal, "", nil)
	assert.True(t, ok, detail)
	ok, detail = Verdict(rev, ExpectNone, "", nil)
	assert.False(t, ok)
	assert.Equal(t, "want no report, got [lock order reversal (x2)]", detail)
	ok, _ = Verdict(nil, ReportReversal, "", nil)
	assert.False(t, ok, "a wanted report that never came")
	ok, _ = Verdict(append(rev, Report{Kind: ReportRecursion, Count: 1}), ReportReversal, "", nil)
	assert.False(t, ok, "an extra report of another kind")
	ok, detail = Verdict(nil, ExpectNone, "boom", nil)
	assert.False(t, ok)
	assert.Equal(t, "panic: boom", detail)
	ok, _ = Verdict(rev, ReportReversal, "", func([]Report) bool { return false })
	assert.False(t, ok, "check refused")
}
