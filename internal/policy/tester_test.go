package policy

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultPolicyRegoTests(t *testing.T) {
	rs, err := RunTests(context.Background(), "")
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if len(rs) < 25 {
		t.Errorf("%d Rego tests ran, want at least 25", len(rs))
	}
	for _, r := range rs {
		if !r.Pass {
			t.Errorf("%s %s (%s) failed: %s", r.Package, r.Name, r.Location, r.Error)
		}
	}
	if !rs.Passed() {
		t.Error("Passed() = false")
	}
}

func TestRunTests(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"p.rego":      "package cssc.decision\ndeny contains \"big\" if input.size > data.cssc.limit\n",
		"p_test.rego": "package cssc.decision_test\nimport data.cssc.decision\ntest_big if { decision.deny == {\"big\"} with input as {\"size\": 11} }\ntest_wrong if { decision.deny == {\"big\"} with input as {\"size\": 1} }\n",
		"data.json":   `{"cssc":{"limit":10}}`,
	})
	rs, err := RunTests(context.Background(), dir)
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Name+"="+map[bool]string{true: "pass", false: "fail"}[r.Pass])
	}
	if want := []string{"test_big=pass", "test_wrong=fail"}; !reflect.DeepEqual(got, want) {
		t.Errorf("results %v, want %v", got, want)
	}
	if rs.Passed() {
		t.Error("Passed() = true with a failing test")
	}
	if (TestResults{}).Passed() {
		t.Error("Passed() = true with no tests")
	}
	broken := writeFiles(t, map[string]string{"p_test.rego": "package x\ntest_a if {"})
	if _, err := RunTests(context.Background(), broken); err == nil || !strings.Contains(err.Error(), "p_test.rego") {
		t.Errorf("RunTests on a syntax error: %v", err)
	}
}
