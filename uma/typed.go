package uma

import (
	"fmt"
	"reflect"
	"unsafe"
)

// Zone[T] is a typed view of a zone of T. Zone memory is invisible to the
// garbage collector, so T must hold no Go pointers: a pointer stored only
// in an item would not keep its target alive. NewTyped refuses such
// types.
type Zone[T any] struct {
	z *RawZone
}

// TypedArgs are the typed zone's options; the item functions get *T.
type TypedArgs[T any] struct {
	Ctor, Dtor, Init, Fini func(*T)
	Flags                  ZoneFlags
	Limit                  int
}

// NewTyped creates a zone of T. It fails if T contains a pointer, slice,
// map, string, interface, channel, function or unsafe.Pointer anywhere
// (fields and array elements included).
func NewTyped[T any](name string, a TypedArgs[T]) (*Zone[T], error) {
	var zero T
	t := reflect.TypeOf(&zero).Elem()
	if path, ok := pointerPath(t, t.String()); ok {
		return nil, fmt.Errorf("%w: zone %q: type %s holds a Go pointer at %s; zone memory is not scanned by the garbage collector",
			ErrBadArgs, name, t, path)
	}
	wrap := func(f func(*T)) func(uintptr) {
		if f == nil {
			return nil
		}
		return func(p uintptr) { f((*T)(ptr(p))) }
	}
	size := int(t.Size())
	if size == 0 {
		size = 1
	}
	z, err := NewZone(name, Args{
		Size: size, Align: max(t.Align(), 8),
		Ctor: wrap(a.Ctor), Dtor: wrap(a.Dtor), Init: wrap(a.Init), Fini: wrap(a.Fini),
		Flags: a.Flags, Limit: a.Limit,
	})
	if err != nil {
		return nil, err
	}
	return &Zone[T]{z: z}, nil
}

// pointerPath returns where t holds a Go pointer (a field path), if it does.
func pointerPath(t reflect.Type, at string) (string, bool) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.String, reflect.Interface,
		reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return at + " (" + t.Kind().String() + ")", true
	case reflect.Array:
		if t.Len() == 0 {
			return "", false
		}
		return pointerPath(t.Elem(), at+"[]")
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if p, ok := pointerPath(f.Type, at+"."+f.Name); ok {
				return p, true
			}
		}
	}
	return "", false
}

// Alloc returns a new *T (see RawZone.Alloc); nil with the error on failure.
func (tz *Zone[T]) Alloc(flags Flags) (*T, error) {
	p, err := tz.z.Alloc(flags)
	if err != nil {
		return nil, err
	}
	return (*T)(ptr(p)), nil
}

// Free returns p to the zone.
func (tz *Zone[T]) Free(p *T) { tz.z.Free(addrOf(p)) }

// PhysAddr returns p's physical address.
func (tz *Zone[T]) PhysAddr(p *T) uintptr { return tz.z.PhysAddr(addrOf(p)) }

func addrOf[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

// RawZone returns the untyped zone (statistics, Drain, Trim).
func (tz *Zone[T]) Raw() *RawZone { return tz.z }
