// Package gctune keeps the Go garbage collector from running too often
// when the live heap is small: a server that holds a few megabytes but
// allocates a few kilobytes per request would otherwise collect every few
// hundred requests (the runtime's minimum heap goal is 4 MiB), and spend
// more time marking and returning memory to the OS than serving.
//
// Start sets a floor under the heap goal: while the live heap is below
// half the floor, the GC percentage is raised so the next collection
// starts only when the heap reaches the floor; above that, the runtime's
// own setting (GOGC, 100 by default) applies unchanged. A GOGC set in the
// environment is left alone, and GOMEMLIMIT keeps working as a ceiling.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// maxPercent bounds the raised GC percentage (a live heap of a few
// hundred kilobytes would otherwise ask for absurd values).
const maxPercent = 5000

// Start keeps the heap goal at least floor bytes; it returns a function
// that stops tuning and restores the GC percentage. It does nothing (and
// returns a no-op) when floor is 0 or GOGC is set in the environment.
func Start(floor uint64) (stop func()) {
	if floor == 0 || os.Getenv("GOGC") != "" {
		return func() {}
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	t := &tuner{floor: floor, base: base, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
		debug.SetGCPercent(t.base)
	}
}

type tuner struct {
	floor  uint64
	base   int
	sample []metrics.Sample

	mu      sync.Mutex // adjust (after a GC) and stop
	current int
	stopped bool
}

// sentinel is garbage whose finalizer runs after each collection.
type sentinel struct{ t *tuner }

func (t *tuner) arm() {
	s := &sentinel{t: t}
	runtime.SetFinalizer(s, func(s *sentinel) {
		if s.t.adjust() {
			s.t.arm()
		}
	})
}

// adjust sets the GC percentage for the live heap the last cycle left;
// false once stopped.
func (t *tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return false // this runtime does not report the live heap
	}
	if p := Percent(t.sample[0].Value.Uint64(), t.floor, t.base); p != t.current {
		t.current = p
		debug.SetGCPercent(p)
	}
	return true
}

// Percent is the GC percentage that puts the next heap goal,
// live × (1 + percent/100), at floor when live is small, and base (the
// configured percentage) once that goal is above the floor anyway.
func Percent(live, floor uint64, base int) int {
	if base <= 0 {
		return base // GOGC=off, or the caller's choice: untouched
	}
	if live == 0 {
		live = 1
	}
	if live*uint64(100+base)/100 >= floor {
		return base
	}
	p := int((floor-live)*100/live) + 1
	return min(max(p, base), maxPercent)
}
