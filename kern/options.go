package kern

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/smpgo/smpgo/witness"
)

// Options are the kernel's command-line options (argv after the kernel
// path; environment words were split off by SplitCmdline).
type Options struct {
	Test     string // test=REGEXP
	Bench    string // bench=REGEXP
	Crash    string // crash=NAME
	Exit     int    // exit=N, -1 if absent
	ACPIDump bool   // acpidump=1: print the ACPI tables and exit
	Witness  string // witness=off|warn|panic, "" = the default (warn)
	// Sub holds subsystem options (RegisterOption) by name; nil when
	// none was given.
	Sub map[string]string
}

var crashNames = map[string]bool{"ud2": true, "kfault": true, "divzero": true, "appanic": true, "wtext": true, "stackoverflow": true, "vmorder": true}

// ParseOptions parses the command line, rejecting unknown or malformed
// options with an error naming them.
func ParseOptions(args []string) (Options, error) {
	o := Options{Exit: -1}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return o, fmt.Errorf("bad option %q: want key=value", a)
		}
		switch k {
		case "test":
			o.Test = v
		case "bench":
			o.Bench = v
		case "crash":
			if !crashNames[v] {
				return o, fmt.Errorf("bad option %q: crash is one of ud2, kfault, divzero, appanic, wtext, stackoverflow, vmorder", a)
			}
			o.Crash = v
		case "acpidump":
			if v != "1" {
				return o, fmt.Errorf("bad option %q: acpidump=1", a)
			}
			o.ACPIDump = true
		case "witness":
			if _, err := witness.ParseMode(v); err != nil {
				return o, fmt.Errorf("bad option %q: witness is one of off, warn, panic", a)
			}
			o.Witness = v
		case "exit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 126 {
				return o, fmt.Errorf("bad option %q: exit status is 0..126", a)
			}
			o.Exit = n
		default:
			spec, ok := lookupOption(k)
			if !ok {
				known := "test=, bench=, crash=, exit=, acpidump=, witness="
				if sub := subOptionNames(); sub != "" {
					known += ", " + sub
				}
				return o, fmt.Errorf("unknown option %q (known: %s)", a, known)
			}
			if spec.Check != nil {
				if err := spec.Check(v); err != nil {
					return o, fmt.Errorf("bad option %q: %v", a, err)
				}
			}
			if o.Sub == nil {
				o.Sub = map[string]string{}
			}
			if prev, seen := o.Sub[k]; seen && spec.List {
				v = prev + "," + v
			}
			o.Sub[k] = v
		}
	}
	return o, nil
}
