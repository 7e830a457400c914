package match_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cssc-project/cssc/internal/match"
)

// memSource is an in-memory vulnerability database: records indexed by
// (ecosystem, name) of each affected entry, coverage per ecosystem.
type memSource struct {
	byPkg    map[string][]*osvschema.Vulnerability
	coverage map[string]match.Coverage
	lookups  atomic.Int64
	fail     error
}

func newMemSource(t testing.TB, covered map[string]match.Coverage, records ...string) *memSource {
	t.Helper()
	s := &memSource{byPkg: map[string][]*osvschema.Vulnerability{}, coverage: covered}
	for _, r := range records {
		s.add(t, r)
	}
	return s
}

func (s *memSource) add(t testing.TB, record string) {
	t.Helper()
	v := &osvschema.Vulnerability{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(record), v); err != nil {
		t.Fatalf("parse OSV record: %v\n%s", err, record)
	}
	seen := map[string]bool{}
	for _, a := range v.GetAffected() {
		k := a.GetPackage().GetEcosystem() + "\x00" + a.GetPackage().GetName()
		if !seen[k] {
			s.byPkg[k] = append(s.byPkg[k], v)
			seen[k] = true
		}
	}
}

func (s *memSource) Vulnerabilities(_ context.Context, eco, name string) ([]*osvschema.Vulnerability, error) {
	s.lookups.Add(1)
	if s.fail != nil {
		return nil, s.fail
	}
	return s.byPkg[eco+"\x00"+name], nil
}

func (s *memSource) Coverage(eco string) match.Coverage {
	if c, ok := s.coverage[eco]; ok {
		return c
	}
	return match.Coverage{}
}

// covered is a coverage entry with fixed times.
func covered() match.Coverage {
	return match.Coverage{
		Covered:    true,
		ImportedAt: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		Newest:     time.Date(2026, 4, 30, 8, 0, 0, 0, time.UTC),
	}
}

// osv writes an OSV record for one package.
func osv(id string, fields map[string]any) string {
	rec := map[string]any{"schema_version": "1.6.0", "id": id, "modified": "2026-01-01T00:00:00Z"}
	for k, v := range fields {
		rec[k] = v
	}
	b, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// affected is one affected entry with one range of the given type and
// events ("i:x" introduced, "f:x" fixed, "l:x" last_affected).
func affected(eco, name, typ string, events ...string) map[string]any {
	var evs []map[string]string
	for _, e := range events {
		k := map[byte]string{'i': "introduced", 'f': "fixed", 'l': "last_affected", 'm': "limit"}[e[0]]
		evs = append(evs, map[string]string{k: e[2:]})
	}
	return map[string]any{
		"package": map[string]string{"ecosystem": eco, "name": name},
		"ranges":  []any{map[string]any{"type": typ, "events": evs}},
	}
}

// sameJSON fails the test when got and want differ, showing both as JSON.
func sameJSON(t *testing.T, got, want any) {
	t.Helper()
	g, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
		line := 0
		for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
			line++
		}
		t.Errorf("mismatch at line %d:\n got: %s\nwant: %s\n--- got ---\n%s\n--- want ---\n%s", line+1,
			at(gl, line), at(wl, line), g, w)
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return fmt.Sprintf("<end after %d lines>", len(lines))
}
