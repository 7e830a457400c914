package policy

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func TestSettingsFromData(t *testing.T) {
	const rego = "package cssc.decision\n\ndeny := set()\n"
	tests := []struct {
		name string
		data string
		want Settings
		err  string
	}{
		{"none", `{}`, Settings{}, ""},
		{"strip and attached SBOM", `{"cssc": {"settings": {"use_attached_sbom": true, "strip": {"labels": ["com.example.debug*"], "env": ["DEBUG"]}}}}`,
			Settings{UseAttachedSBOM: true, Strip: Strip{Labels: []string{"com.example.debug*"}, Env: []string{"DEBUG"}}}, ""},
		{"typo", `{"cssc": {"settings": {"use_attached_sbmo": true}}}`, Settings{}, "use_attached_sbmo"},
		{"strip everything", `{"cssc": {"settings": {"strip": {"env": ["*"]}}}}`, Settings{}, "would strip everything"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"p.rego": rego, "data.json": tc.data})
			e, err := Load(context.Background(), dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Settings(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("settings = %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, m := range []struct {
		names []string
		name  string
		want  bool
	}{
		{[]string{"DEBUG"}, "DEBUG", true},
		{[]string{"DEBUG"}, "DEBUG_LEVEL", false},
		{[]string{"com.example.debug*"}, "com.example.debug.build-host", true},
		{[]string{"com.example.debug*"}, "com.example.release", false},
	} {
		if got := Matches(m.names, m.name); got != m.want {
			t.Errorf("Matches(%v, %q) = %v", m.names, m.name, got)
		}
	}
}
