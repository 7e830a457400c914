package main

import (
	"fmt"
	"time"
)

// record is the part of an acquisition record (GET
// /api/v1/acquisitions/{id}, cssc acquire --wait --format json) the bench
// reads; the JSON names are the API's contract (internal/acquire.Record).
type record struct {
	ID        string       `json:"id"`
	State     string       `json:"state"`
	Source    string       `json:"source"`
	Reasons   []string     `json:"reasons"`
	Error     string       `json:"error"`
	Steps     []stepResult `json:"steps"`
	CreatedAt time.Time    `json:"created_at"`
}

// stepResult is a finished step of a record.
type stepResult struct {
	Step     string    `json:"step"`
	Outcome  string    `json:"outcome"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// The end states of an acquisition.
const (
	statePromoted = "promoted"
	stateBlocked  = "blocked"
	stateFailed   = "failed"
)

// final reports whether the acquisition has ended.
func (r *record) final() bool {
	return r.State == statePromoted || r.State == stateBlocked || r.State == stateFailed
}

// phase is a group of pipeline steps reported together.
type phase struct {
	Name  string
	Steps []string
}

// phases are the breakdown's columns; every step is in exactly one.
var phases = []phase{
	{"import", []string{"import"}},
	{"verify", []string{"verify-signatures", "verify-metadata"}},
	{"analyse", []string{"analyse"}},
	{"score+decide", []string{"score", "decide"}},
	{"enrich+sign+promote", []string{"enrich", "sign", "promote"}},
	{"notify", []string{"notify"}},
}

// breakdown is where one acquisition's time went on the server, from
// its record.
type breakdown struct {
	// Queued is from submission to the start of the first step.
	Queued time.Duration
	// Phases are the summed durations of each phase's steps, by name.
	Phases map[string]time.Duration
	// Between is the rest: saving each step, picking the next.
	Between time.Duration
	// Total is from submission to the end of the last step.
	Total time.Duration
}

// breakdownOf reads rec's steps. The record must be final and its steps
// in order.
func breakdownOf(rec *record) (breakdown, error) {
	if !rec.final() {
		return breakdown{}, fmt.Errorf("acquisition %s is %s, not final", rec.ID, rec.State)
	}
	if len(rec.Steps) == 0 {
		return breakdown{}, fmt.Errorf("acquisition %s has no steps", rec.ID)
	}
	of := map[string]string{}
	for _, p := range phases {
		for _, s := range p.Steps {
			of[s] = p.Name
		}
	}
	b := breakdown{Phases: map[string]time.Duration{}}
	var inSteps time.Duration
	prev := rec.CreatedAt
	for _, s := range rec.Steps {
		p, ok := of[s.Step]
		if !ok {
			return breakdown{}, fmt.Errorf("acquisition %s: unknown step %q", rec.ID, s.Step)
		}
		if s.Started.Before(prev) || s.Finished.Before(s.Started) {
			return breakdown{}, fmt.Errorf("acquisition %s: step %s from %s to %s is out of order", rec.ID, s.Step, s.Started, s.Finished)
		}
		d := s.Finished.Sub(s.Started)
		b.Phases[p] += d
		inSteps += d
		prev = s.Finished
	}
	b.Queued = rec.Steps[0].Started.Sub(rec.CreatedAt)
	b.Total = prev.Sub(rec.CreatedAt)
	b.Between = b.Total - b.Queued - inSteps
	return b, nil
}
