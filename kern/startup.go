package kern

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// Subsystem options and start-up hooks: packages that kern cannot import
// (drivers, the network stack) add their own command-line options
// (net=, net.ip=, ...) and the work they do once at every normal boot
// (probe PCI, configure interfaces, start services) here, from their init
// functions.

// OptionSpec is a subsystem's command-line option.
type OptionSpec struct {
	Name  string             // the key before '=' ("net.ip")
	Help  string             // one line: values and meaning
	Check func(string) error // validates a value; nil accepts any
	// List: the value is a comma-separated list and the option may be
	// repeated; its values are joined with commas ("net.dns=A
	// net.dns=B" is "net.dns=A,B"). Check sees each value as given.
	// Without List a repeated option's last value wins.
	List bool
}

// Startup is work a subsystem does once at boot, after the command line
// is parsed and before the self-tests, the benchmarks, the shell or the
// application's main run.
type Startup struct {
	Name string
	Fn   func()
	// Always: the hook runs even when the start-up work does not (a
	// program booted without a "--", whose words are all its own:
	// RunAlwaysStartup), with the options' defaults. The boot modules'
	// file system is such work: a program finds its files whatever its
	// command line.
	Always bool
}

var (
	subMu    sync.Mutex
	subOpts  = map[string]OptionSpec{}
	startups []Startup
	hookRan  []bool  // (subMu) per startups entry: taken to run
	bootOpts Options // (subMu) set by SetBootOptions
	started  bool    // (subMu)
	isApp    bool    // (subMu) set by SetApp
)

// SetApp records that the running image is an application (package smpgo
// saw a "--" on the command line: a program's main runs after start-up),
// not the kernel's own image. Subsystems read it to pick defaults that
// leave the machine to the program (the network services stay off, so
// that its net.Listen(":80") finds the port free).
func SetApp(v bool) {
	subMu.Lock()
	isApp = v
	subMu.Unlock()
}

// App reports whether the running image is an application (SetApp).
func App() bool {
	subMu.Lock()
	defer subMu.Unlock()
	return isApp
}

// RegisterOption adds a subsystem option that ParseOptions accepts.
func RegisterOption(o OptionSpec) {
	subMu.Lock()
	defer subMu.Unlock()
	if _, dup := subOpts[o.Name]; dup {
		panic("kern.RegisterOption: option " + o.Name + " registered twice")
	}
	subOpts[o.Name] = o
}

// RegisterStartup adds boot-time work; hooks run in registration order.
func RegisterStartup(s Startup) {
	subMu.Lock()
	startups = append(startups, s)
	subMu.Unlock()
}

func lookupOption(name string) (OptionSpec, bool) {
	subMu.Lock()
	defer subMu.Unlock()
	o, ok := subOpts[name]
	return o, ok
}

// subOptionNames lists the registered subsystem options, sorted, for
// error messages.
func subOptionNames() string {
	subMu.Lock()
	defer subMu.Unlock()
	var names []string
	for n := range subOpts {
		names = append(names, n+"=")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// SetBootOptions records the parsed command line for BootOption.
func SetBootOptions(o Options) {
	subMu.Lock()
	bootOpts = o
	subMu.Unlock()
}

// BootOption returns a subsystem option's value from the boot command
// line and whether it was given.
func BootOption(name string) (string, bool) {
	subMu.Lock()
	defer subMu.Unlock()
	v, ok := bootOpts.Sub[name]
	return v, ok
}

// RunStartup runs the start-up hooks, once, in registration order,
// leaving out those RunAlwaysStartup already ran; later calls do nothing.
func RunStartup() {
	subMu.Lock()
	if started {
		subMu.Unlock()
		return
	}
	started = true
	subMu.Unlock()
	runHooks(false)
}

// RunAlwaysStartup runs the hooks registered with Always that have not
// run yet: for a program booted without a "--", which gets no other
// start-up work (and whose words are not kernel options, so the hooks
// see the options' defaults).
func RunAlwaysStartup() {
	runHooks(true)
}

// runHooks runs the hooks not yet taken (only the Always ones when
// always is set), each once, a panic reported and the next run.
func runHooks(always bool) {
	subMu.Lock()
	var list []Startup
	for i, s := range startups {
		for len(hookRan) <= i {
			hookRan = append(hookRan, false)
		}
		if hookRan[i] || (always && !s.Always) {
			continue
		}
		hookRan[i] = true
		list = append(list, s)
	}
	subMu.Unlock()
	for _, s := range list {
		func() {
			defer func() {
				if r := recover(); r != nil {
					fmt.Printf("smpgo: start-up %s: panic: %v\n", s.Name, r)
				}
			}()
			s.Fn()
		}()
	}
}

// WriteOptionHelp lists the subsystem options.
func WriteOptionHelp(w io.Writer) {
	subMu.Lock()
	var list []OptionSpec
	for _, o := range subOpts {
		list = append(list, o)
	}
	subMu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	for _, o := range list {
		fmt.Fprintf(w, "  %-14s %s\n", o.Name+"=", o.Help)
	}
}
