package qemu

import (
	"strconv"
	"strings"
)

// Markers framing a kernel panic report on the serial console.
const (
	PanicBegin = "KERNEL PANIC:"
	PanicEnd   = "END KERNEL PANIC"
)

// PanicReport is one kernel panic report parsed from the serial console.
// Any part may be missing: the kernel prints what it can.
type PanicReport struct {
	// Message is the text after "KERNEL PANIC:".
	Message string
	// Fields holds every key=value of the report's register lines:
	// cpu, vector, error, cr2, rip, cs, rflags, rsp, ss, rax ... r15.
	Fields map[string]uint64
	// Code holds the bytes from the "code:" line, which start at CodeAddr
	// (normally rip). Empty if the line was absent or unreadable.
	CodeAddr uint64
	Code     []byte
	// StackTop is the address on the "stack:" line (normally rsp);
	// Stack holds the words dumped after it.
	StackTop uint64
	Stack    []StackWord
	// Complete is true if the report ended with "END KERNEL PANIC".
	Complete bool
	// Lines are the report's lines as printed, without carriage returns.
	Lines []string
}

// StackWord is one 8-byte word of a stack dump.
type StackWord struct {
	Addr, Value uint64
}

// Field returns the named field (cpu, vector, error, rip, rax, ...).
func (r *PanicReport) Field(name string) (uint64, bool) {
	v, ok := r.Fields[name]
	return v, ok
}

// Raw returns the report as printed.
func (r *PanicReport) Raw() string { return strings.Join(r.Lines, "\n") }

// ParsePanics returns every kernel panic report in output, in order. A
// report runs from a line containing "KERNEL PANIC:" to "END KERNEL
// PANIC", the next report, or the end of output. Lines it does not know
// are kept in Lines and otherwise ignored; carriage returns are dropped.
func ParsePanics(output string) []PanicReport {
	var out []PanicReport
	var cur *PanicReport
	finish := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	for _, line := range strings.Split(output, "\n") {
		line = strings.TrimRight(strings.ReplaceAll(line, "\r", ""), " \t")
		if i := strings.Index(line, PanicEnd); i >= 0 && cur != nil {
			cur.Lines = append(cur.Lines, line[i:])
			cur.Complete = true
			finish()
			continue
		}
		if i := strings.Index(line, PanicBegin); i >= 0 {
			finish()
			cur = &PanicReport{
				Message: strings.TrimSpace(line[i+len(PanicBegin):]),
				Fields:  map[string]uint64{},
				Lines:   []string{line[i:]},
			}
			continue
		}
		if cur == nil {
			continue
		}
		cur.Lines = append(cur.Lines, line)
		cur.parseLine(strings.TrimSpace(line))
	}
	finish()
	return out
}

// parseLine takes what it can from one line inside a report.
func (r *PanicReport) parseLine(line string) {
	switch {
	case strings.HasPrefix(line, "code:"):
		// code: 0xADDR: b0 b1 ...
		addr, rest, ok := hexColon(strings.TrimSpace(strings.TrimPrefix(line, "code:")))
		if !ok {
			return
		}
		r.CodeAddr = addr
		for _, tok := range strings.Fields(rest) {
			b, err := strconv.ParseUint(tok, 16, 8)
			if err != nil || len(tok) != 2 {
				break
			}
			r.Code = append(r.Code, byte(b))
		}
	case strings.HasPrefix(line, "stack:"):
		if v, ok := parseNum(strings.TrimSpace(strings.TrimPrefix(line, "stack:"))); ok {
			r.StackTop = v
		}
	case strings.HasPrefix(line, "0x"):
		// 0xADDR: 0xW0 0xW1 ...
		addr, rest, ok := hexColon(line)
		if !ok {
			return
		}
		for i, tok := range strings.Fields(rest) {
			v, ok := parseNum(tok)
			if !ok {
				break
			}
			r.Stack = append(r.Stack, StackWord{Addr: addr + 8*uint64(i), Value: v})
		}
	default:
		for _, tok := range strings.Fields(line) {
			k, v, ok := strings.Cut(tok, "=")
			if !ok || k == "" {
				continue
			}
			if n, ok := parseNum(v); ok {
				r.Fields[strings.ToLower(k)] = n
			}
		}
	}
}

// hexColon splits "0xADDR: rest" into ADDR and rest.
func hexColon(s string) (uint64, string, bool) {
	head, rest, ok := strings.Cut(s, ":")
	if !ok {
		return 0, "", false
	}
	v, ok := parseNum(strings.TrimSpace(head))
	return v, rest, ok
}

// parseNum parses "0x..." as hex and anything else as decimal.
func parseNum(s string) (uint64, bool) {
	base := 10
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		s, base = h, 16
	}
	v, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}
