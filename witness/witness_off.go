//go:build nowitness

package witness

// Built with -tags nowitness: every entry point is an empty function that
// the compiler inlines away, and Object is zero-sized, so locks pay nothing
// for witness (the Go runtime's lockrank_off.go pattern). The types, Order
// and Blessed stay, so the lock package compiles unchanged.

// Enabled reports whether witness is compiled in.
const Enabled = false

// MaxClasses bounds the number of lock classes.
const MaxClasses = 1024

// Witness is empty without witness.
type Witness struct{}

// Class is empty without witness.
type Class struct{}

// Object is empty without witness.
type Object struct{}

// Default is the kernel's (empty) witness.
var Default = &Witness{}

const disabled = "witness: not compiled in (built with -tags nowitness)\n"

// New returns an empty witness.
func New() *Witness { return &Witness{} }

func (w *Witness) SetMode(Mode)                                       {}
func (w *Witness) Mode() Mode                                         { return Off }
func (w *Witness) SetPrinter(Printer)                                 {}
func (w *Witness) SetPanicHook(PanicHook)                             {}
func (w *Witness) SetSymbolizer(Symbolizer)                           {}
func (w *Witness) SetHooks(Hooks)                                     {}
func (w *Witness) NewClass(string, Kind, ClassFlags) *Class           { return &Class{} }
func (w *Witness) LookupClass(string) *Class                          { return nil }
func (w *Witness) AddOrder(...string) error                           { return nil }
func (w *Witness) Bless(a, b string)                                  {}
func (w *Witness) CheckOrder(uint64, *Object, Flags)                  {}
func (w *Witness) Lock(uint64, *Object, Flags, []uintptr)             {}
func (w *Witness) TryLock(uint64, *Object, Flags, []uintptr)          {}
func (w *Witness) Unlock(uint64, *Object, Flags)                      {}
func (w *Witness) Upgrade(uint64, *Object)                            {}
func (w *Witness) Downgrade(uint64, *Object)                          {}
func (w *Witness) Destroy(uint64, *Object)                            {}
func (w *Witness) CriticalEnter(uint64)                               {}
func (w *Witness) CriticalExit(uint64)                                {}
func (w *Witness) WarnSleep(uint64, string) int                       { return 0 }
func (w *Witness) WarnSleepExcept(uint64, *Object, Flags, string) int { return 0 }
func (w *Witness) ThreadExit(uint64)                                  {}
func (w *Witness) Reports() []Report                                  { return nil }
func (w *Witness) Stats() Stats                                       { return Stats{} }
func (w *Witness) ShowLocks(uint64) string                            { return "" }
func (w *Witness) ShowAllLocks() string                               { return "" }
func (w *Witness) ShowGraph() string                                  { return disabled }
func (w *Witness) ShowBadStacks() string                              { return disabled }
func (c *Class) Init(*Object, string)                                 {}
func (c *Class) Name() string                                         { return "" }
func (c *Class) Kind() Kind                                           { return 0 }
func (c *Class) Flags() ClassFlags                                    { return 0 }
func (o *Object) Name() string                                        { return "" }
func (o *Object) Class() *Class                                       { return nil }
func SetMode(Mode)                                                    {}
func CurrentMode() Mode                                               { return Off }
func NewClass(string, Kind, ClassFlags) *Class                        { return &Class{} }
func CheckOrder(uint64, *Object, Flags)                               {}
func Lock(uint64, *Object, Flags, []uintptr)                          {}
func TryLock(uint64, *Object, Flags, []uintptr)                       {}
func Unlock(uint64, *Object, Flags)                                   {}
func Upgrade(uint64, *Object)                                         {}
func Downgrade(uint64, *Object)                                       {}
func Destroy(uint64, *Object)                                         {}
func CriticalEnter(uint64)                                            {}
func CriticalExit(uint64)                                             {}
func WarnSleep(uint64, string) int                                    { return 0 }
func WarnSleepExcept(uint64, *Object, Flags, string) int              { return 0 }
func ThreadExit(uint64)                                               {}
func Reports() []Report                                               { return nil }
func ShowLocks(uint64) string                                         { return "" }
func ShowAllLocks() string                                            { return "" }
func ShowGraph() string                                               { return disabled }
func ShowBadStacks() string                                           { return disabled }
func GetStats() Stats                                                 { return Stats{} }

// RunSelftests reports that there is nothing to test.
func RunSelftests(printf func(string, ...any)) (ok, failed int) {
	printf("%s", disabled)
	return 0, 0
}
