package qemu

import (
	"fmt"
	"slices"
	"strings"
)

// vectorNames names the x86 exception vectors.
var vectorNames = map[uint64]string{
	0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint",
	4: "#OF overflow", 5: "#BR bound range", 6: "#UD invalid opcode",
	7: "#NM device not available", 8: "#DF double fault",
	10: "#TS invalid TSS", 11: "#NP segment not present", 12: "#SS stack fault",
	13: "#GP general protection", 14: "#PF page fault", 16: "#MF x87 error",
	17: "#AC alignment check", 18: "#MC machine check", 19: "#XM SIMD error",
	20: "#VE virtualization", 21: "#CP control protection",
}

// VectorName names an exception vector ("#PF page fault"), or returns ""
// for an interrupt or a reserved vector.
func VectorName(v uint64) string { return vectorNames[v] }

// PageFaultError spells out a #PF error code: "not-present write
// kernel", with "reserved-bit", "fetch", "protection-key" and "shadow-stack"
// added when those bits are set.
func PageFaultError(code uint64) string {
	w := []string{"not-present", "read", "kernel"}
	if code&1 != 0 {
		w[0] = "protection"
	}
	if code&2 != 0 {
		w[1] = "write"
	}
	if code&4 != 0 {
		w[2] = "user"
	}
	for bit, name := range map[uint64]string{8: "reserved-bit", 16: "fetch", 32: "protection-key", 64: "shadow-stack"} {
		if code&bit != 0 {
			w = append(w, name)
		}
	}
	slices.Sort(w[3:])
	return strings.Join(w, " ")
}

// trapLine describes the report's cpu, vector, error code and cr2.
func trapLine(r *PanicReport) string {
	var parts []string
	if v, ok := r.Field("cpu"); ok {
		parts = append(parts, fmt.Sprintf("cpu %d", v))
	}
	vec, hasVec := r.Field("vector")
	if hasVec {
		s := fmt.Sprintf("vector %d", vec)
		if n := VectorName(vec); n != "" {
			s += " (" + n + ")"
		}
		parts = append(parts, s)
	}
	if e, ok := r.Field("error"); ok {
		s := fmt.Sprintf("error %#x", e)
		if hasVec && vec == 14 {
			s += " (" + PageFaultError(e) + ")"
		}
		parts = append(parts, s)
	}
	if v, ok := r.Field("cr2"); ok {
		parts = append(parts, fmt.Sprintf("cr2 %#x", v))
	}
	return strings.Join(parts, ", ")
}

// registerRows is the layout of the registers part of a report.
var registerRows = [][]string{
	{"rax", "rbx", "rcx", "rdx"},
	{"rsi", "rdi", "rbp", "rsp"},
	{"r8", "r9", "r10", "r11"},
	{"r12", "r13", "r14", "r15"},
	{"cs", "ss", "rflags"},
}

// shownElsewhere are fields that trapLine and the rip line print.
var shownElsewhere = map[string]bool{"cpu": true, "vector": true, "error": true, "cr2": true, "rip": true}

// registerLines formats the report's registers four to a line, then any
// other fields it had, sorted.
func registerLines(r *PanicReport) []string {
	var lines []string
	known := map[string]bool{}
	for _, row := range registerRows {
		var cells []string
		for _, name := range row {
			known[name] = true
			if v, ok := r.Field(name); ok {
				cells = append(cells, fmt.Sprintf("%-3s %#016x", name, v))
			}
		}
		if len(cells) > 0 {
			lines = append(lines, strings.Join(cells, "  "))
		}
	}
	var rest []string
	for name, v := range r.Fields {
		if !known[name] && !shownElsewhere[name] {
			rest = append(rest, fmt.Sprintf("%s=%#x", name, v))
		}
	}
	slices.Sort(rest)
	if len(rest) > 0 {
		lines = append(lines, strings.Join(rest, " "))
	}
	return lines
}
