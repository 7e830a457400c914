package benchutil

import (
	"errors"
	"sync/atomic"
	"testing"
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
