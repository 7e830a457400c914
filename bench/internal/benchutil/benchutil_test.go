package benchutil

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), tc.in...)
		if got := Median(in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("Median changed its input: %v", in)
			}
		}
	}
}

func TestParallel(t *testing.T) {
	var n atomic.Int64
	errBoom := errors.New("boom")
	err := Parallel(4, func() error {
		if n.Add(1) == 2 {
			return errBoom
		}
		return nil
	})
	if n.Load() != 4 || !errors.Is(err, errBoom) {
		t.Fatalf("ran %d times, err %v; want 4 and boom", n.Load(), err)
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in     string
		rss    int64
		cpu    time.Duration
		hasErr bool
	}{
		{"35000 1.20 0.30\n", 35000 << 10, 1500 * time.Millisecond, false},
		{"Command exited with non-zero status 1\n2048 0.00 0.01\n", 2 << 20, 10 * time.Millisecond, false},
		{"", 0, 0, true},
		{"Command terminated by signal 9\n", 0, 0, true},
		{"12 x 0.1\n", 0, 0, true},
	} {
		rss, cpu, err := ParseTime(tc.in)
		if rss != tc.rss || cpu != tc.cpu || (err != nil) != tc.hasErr {
			t.Errorf("ParseTime(%q) = %d, %v, %v; want %d, %v, error %v", tc.in, rss, cpu, err, tc.rss, tc.cpu, tc.hasErr)
		}
	}
}
