package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		live, floor uint64
		base, want  int
	}{
		{live: 2 * mib, floor: 64 * mib, base: 100, want: 3101},  // goal 2 MiB × 32 = 64 MiB
		{live: 32 * mib, floor: 64 * mib, base: 100, want: 100},  // 32 MiB × 2 reaches the floor
		{live: 200 * mib, floor: 64 * mib, base: 100, want: 100}, // a big heap: the runtime's own rule
		{live: 10 << 10, floor: 64 * mib, base: 100, want: 5000}, // capped
		{live: 0, floor: 64 * mib, base: 100, want: 5000},        // nothing live yet
		{live: 16 * mib, floor: 64 * mib, base: 200, want: 301},  // GOGC=200 raised just enough
		{live: 16 * mib, floor: 64 * mib, base: -1, want: -1},    // GOGC=off stays off
	} {
		if got := Percent(tt.live, tt.floor, tt.base); got != tt.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", tt.live, tt.floor, tt.base, got, tt.want)
		}
		if tt.base > 0 && tt.live > 0 {
			goal := tt.live * uint64(100+Percent(tt.live, tt.floor, tt.base)) / 100
			if goal < tt.floor && Percent(tt.live, tt.floor, tt.base) < maxPercent {
				t.Errorf("live %d: goal %d below the floor %d", tt.live, goal, tt.floor)
			}
		}
	}
}

func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// After a collection with a small live heap, the GC percentage is raised;
// stop restores it.
func TestStartRaisesAndStopRestores(t *testing.T) {
	t.Setenv("GOGC", "") // Start must see no GOGC of the user's
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	stop := Start(256 << 20)
	raised := 0
	for range 100 { // the finalizer runs shortly after a cycle
		runtime.GC()
		if raised = gcPercent(); raised > 100 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	if raised <= 100 {
		t.Fatalf("GC percent %d after collections with a small heap and a 256 MiB floor, want it raised", raised)
	}
	if p := gcPercent(); p != 100 {
		t.Errorf("after stop: GC percent %d, want the original 100", p)
	}
}

func TestUserGOGCIsLeftAlone(t *testing.T) {
	t.Setenv("GOGC", "100")
	before := gcPercent()
	stop := Start(256 << 20)
	defer stop()
	for range 5 {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if p := gcPercent(); p != before {
		t.Errorf("GOGC set by the user: percent changed from %d to %d", before, p)
	}
}
