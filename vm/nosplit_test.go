package vm

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The domain locks' sections must not grow a goroutine stack (phys.go: a
// stack growth under the lock demand-faults, and the fault path takes the
// address-space lock and then a domain lock: the ABBA this package's lock
// order forbids, or a self-deadlock on one CPU). The compiler puts a
// morestack check in every function's prologue unless it is nosplit, so
// this test reads the sources: every function that takes a domain lock
// (calls lockIntr), and every function of vm and kern/spin it calls,
// directly or not, must carry //go:nosplit. Calls through function
// values (CPUID, Fatal, spin.OnSpin) are the kernel's trap-safe hooks and
// assembly is NOSPLIT; the linker then checks that the nosplit chain fits
// the stack the section starts on.

// world holds the type-checked sources of vm and kern/spin, so calls
// resolve to the exact function or method.
type world struct {
	fset  *token.FileSet
	decls map[types.Object]*ast.FuncDecl
	info  *types.Info
}

func parseDir(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var files []*ast.File
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments)
		require.NoError(t, err)
		files = append(files, f)
	}
	return files
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

func load(t *testing.T) *world {
	w := &world{fset: token.NewFileSet(), decls: map[types.Object]*ast.FuncDecl{}}
	w.info = &types.Info{Defs: map[*ast.Ident]types.Object{}, Uses: map[*ast.Ident]types.Object{}, Selections: map[*ast.SelectorExpr]*types.Selection{}}
	src := importer.ForCompiler(w.fset, "source", nil)
	spinFiles := parseDir(t, w.fset, "../kern/spin")
	spin, err := (&types.Config{Importer: src}).Check("github.com/smpgo/smpgo/kern/spin", w.fset, spinFiles, w.info)
	require.NoError(t, err)
	imp := importerFunc(func(path string) (*types.Package, error) {
		if path == spin.Path() {
			return spin, nil
		}
		return src.Import(path)
	})
	vmFiles := parseDir(t, w.fset, ".")
	_, err = (&types.Config{Importer: imp}).Check("github.com/smpgo/smpgo/vm", w.fset, vmFiles, w.info)
	require.NoError(t, err)
	for _, f := range append(spinFiles, vmFiles...) {
		for _, decl := range f.Decls {
			if fd, ok := decl.(*ast.FuncDecl); ok {
				w.decls[w.info.Defs[fd.Name]] = fd
			}
		}
	}
	return w
}

func nosplit(fd *ast.FuncDecl) bool {
	if fd.Doc == nil {
		return false
	}
	for _, c := range fd.Doc.List {
		if c.Text == "//go:nosplit" {
			return true
		}
	}
	return false
}

// callees returns the functions and methods of vm and kern/spin that fd
// calls (nil for a func literal: it cannot be nosplit). Calls into other
// packages (assembly, atomics) and through function values are left out.
func (w *world) callees(fd *ast.FuncDecl) []*ast.FuncDecl {
	var out []*ast.FuncDecl
	if fd.Body == nil {
		return nil
	}
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		if _, ok := n.(*ast.FuncLit); ok {
			out = append(out, nil)
			return false
		}
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		var id *ast.Ident
		switch f := call.Fun.(type) {
		case *ast.Ident:
			id = f
		case *ast.SelectorExpr:
			id = f.Sel
		}
		if id != nil {
			if c, ok := w.decls[w.info.Uses[id]]; ok {
				out = append(out, c)
			}
		}
		return true
	})
	return out
}

func TestDomainLockSectionsAreNosplit(t *testing.T) {
	w := load(t)
	// The roots: every function that calls lockIntr (it holds the lock
	// from there on), and reservedLocked (the address-space lock's one
	// goroutine-context holder). Their goroutine-context callers run
	// gEnter first (glock.go: pinned, stack reserved and touched).
	var roots []*ast.FuncDecl
	for _, fd := range w.decls {
		if fd.Name.Name == "CrashHoldingDomainLock" {
			continue // the deliberate crash=vmorder
		}
		for _, c := range w.callees(fd) {
			if c != nil && c.Name.Name == "lockIntr" {
				roots = append(roots, fd)
				break
			}
		}
		if fd.Name.Name == "reservedLocked" {
			roots = append(roots, fd)
		}
	}
	var names []string
	for _, r := range roots {
		names = append(names, r.Name.Name)
	}
	sort.Strings(names)
	require.Contains(t, names, "take", "the allocation path takes the lock")
	require.Contains(t, names, "give", "the free path takes the lock")

	seen := map[*ast.FuncDecl]bool{}
	var bad []string
	var visit func(fd *ast.FuncDecl, path string)
	visit = func(fd *ast.FuncDecl, path string) {
		if fd == nil {
			bad = append(bad, path+" -> a func literal (cannot be nosplit)")
			return
		}
		if seen[fd] {
			return
		}
		seen[fd] = true
		path += " -> " + fd.Name.Name
		if fd.Body == nil {
			return // assembly: NOSPLIT in its TEXT line
		}
		if !nosplit(fd) {
			bad = append(bad, path+" ("+w.fset.Position(fd.Pos()).String()+")")
		}
		for _, c := range w.callees(fd) {
			visit(c, path)
		}
	}
	for _, r := range roots {
		visit(r, "")
	}
	require.Empty(t, bad, "functions running with a domain lock held that can grow the stack (roots %v)", names)
	require.Greater(t, len(seen), 15, "the walk reached the buddy allocator and the spin lock")
}
