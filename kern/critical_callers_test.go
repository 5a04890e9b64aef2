package kern

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCriticalEnterCPUCallers: every function that calls the inlinable
// CriticalEnterCPU is //go:nosplit (see CriticalEnterCPU: an asynchronous
// preemption between its load of g.m and the increment of m.locks would
// corrupt two Ms' counts), or is listed here with the reason it is safe.
func TestCriticalEnterCPUCallers(t *testing.T) {
	pinned := map[string]string{
		"kern.checkRuntimeLayout": "runs between procPin and procUnpin: m.locks > 0, no asynchronous preemption",
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	fset := token.NewFileSet()
	callers := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n != "." && (strings.HasPrefix(n, ".") || n == "build" || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil || !callsEnterCPU(fn.Body) {
				continue
			}
			callers++
			name := f.Name.Name + "." + fn.Name.Name
			if pinned[name] != "" {
				continue
			}
			nosplit := false
			if fn.Doc != nil {
				for _, c := range fn.Doc.List {
					nosplit = nosplit || c.Text == "//go:nosplit"
				}
			}
			assert.True(t, nosplit, "%s (%s) calls CriticalEnterCPU but is not //go:nosplit: use CriticalEnterCPUCall",
				name, fset.Position(fn.Pos()))
		}
		return nil
	})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, callers, 3, "the uma fast paths and CriticalEnterCPUCall call it")
}

func callsEnterCPU(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		switch f := call.Fun.(type) {
		case *ast.Ident:
			found = found || f.Name == "CriticalEnterCPU"
		case *ast.SelectorExpr:
			found = found || f.Sel.Name == "CriticalEnterCPU"
		}
		return !found
	})
	return found
}
