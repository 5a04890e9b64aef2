//go:build !nowitness

package witness

import (
	"fmt"
	"strings"
	"testing"

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
