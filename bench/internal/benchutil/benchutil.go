// Package benchutil holds what the benchmark programs under bench/ share.
package benchutil

import (
	"errors"
	"slices"
	"sync"
)

// Median is the median of v (the mean of the two middle values when v has
// an even length); v is not changed.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

// Parallel runs fn in n goroutines and returns their errors joined.
func Parallel(n int, fn func() error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn() }()
	}
	wg.Wait()
	return errors.Join(errs...)
}
