// Package startup turns the garbage collector off while the program's
// packages initialise: cssc links about 450 packages whose initialisers
// allocate some 10 MB of tables and compiled expressions that stay live,
// and the two collections that run meanwhile free almost nothing but cost
// every command about a tenth of its start-up time (2 of some 22 ms,
// measured with `cssc version`). Import it from package main only; main
// calls Done first thing.
//
// Packages are initialised in import-path order as their own imports
// become ready, so this package, which needs only the runtime, runs before
// the bulk of them (everything under golang.org, google.golang.org,
// modernc.org, oras.land and the rest of github.com/[c-z]…).
package startup

import (
	"os"
	"runtime/debug"
)

func init() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(-1)
	}
}

// Done turns the collector back on (GOGC's default, 100), unless GOGC is
// set in the environment, in which case it was never touched.
func Done() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(100)
	}
}
