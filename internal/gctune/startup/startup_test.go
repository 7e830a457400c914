package startup

import (
	"os"
	"runtime/debug"
	"strconv"
	"testing"
)

func TestCollectorOffUntilDone(t *testing.T) {
	// init ran before the test: the collector is off, unless GOGC is set,
	// which is then left alone.
	want := -1
	if v := os.Getenv("GOGC"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			n = -1 // GOGC=off
		}
		want = n
	}
	before := debug.SetGCPercent(-1)
	debug.SetGCPercent(before)
	if before != want {
		t.Fatalf("GC percent %d before Done, want %d", before, want)
	}
	Done()
	after := debug.SetGCPercent(100)
	if os.Getenv("GOGC") == "" && after != 100 {
		t.Fatalf("GC percent %d after Done, want 100", after)
	}
	if os.Getenv("GOGC") != "" && after != want {
		t.Fatalf("GC percent %d after Done with GOGC set, want it untouched (%d)", after, want)
	}
}
