package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/cssc-project/cssc/internal/config"
)

type settings struct {
	dataDir string
	port    int
	grace   time.Duration
	verbose bool
	allow   []string
	config  string
}

func flags(s *settings) *pflag.FlagSet {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.StringVar(&s.dataDir, "data-dir", "default-dir", "data directory")
	fs.IntVar(&s.port, "port", 5000, "port")
	fs.DurationVar(&s.grace, "gc-grace", time.Hour, "grace")
	fs.BoolVar(&s.verbose, "verbose", false, "verbose")
	fs.StringSliceVar(&s.allow, "allow", []string{"default"}, "allowed")
	fs.StringVar(&s.config, "config", "", "config file")
	return fs
}

func writeYAML(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cssc.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{"data-dir": "CSSC_DATA_DIR", "port": "CSSC_PORT", "gc-grace": "CSSC_GC_GRACE"} {
		if got := config.EnvName(flag); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		args []string
		want settings
	}{
		{
			name: "defaults",
			want: settings{dataDir: "default-dir", port: 5000, grace: time.Hour, allow: []string{"default"}},
		},
		{
			name: "yaml over defaults",
			yaml: "data-dir: /yaml\nport: 6000\ngc-grace: 5m\nverbose: true\nallow: [a, b]\n",
			want: settings{dataDir: "/yaml", port: 6000, grace: 5 * time.Minute, verbose: true, allow: []string{"a", "b"}},
		},
		{
			name: "env over yaml",
			yaml: "data-dir: /yaml\nport: 6000\nallow: [a, b]\n",
			env:  map[string]string{"CSSC_DATA_DIR": "/env", "CSSC_GC_GRACE": "2m", "CSSC_ALLOW": "x,y"},
			want: settings{dataDir: "/env", port: 6000, grace: 2 * time.Minute, allow: []string{"x", "y"}},
		},
		{
			name: "env over yaml scalar for a list flag",
			yaml: "allow: a\n",
			env:  map[string]string{"CSSC_ALLOW": "x"},
			want: settings{dataDir: "default-dir", port: 5000, grace: time.Hour, allow: []string{"x"}},
		},
		{
			name: "cli over env and yaml",
			yaml: "data-dir: /yaml\nport: 6000\nverbose: false\nallow: [a]\n",
			env:  map[string]string{"CSSC_DATA_DIR": "/env", "CSSC_PORT": "7000", "CSSC_VERBOSE": "false", "CSSC_ALLOW": "e"},
			args: []string{"--data-dir=/cli", "--verbose", "--allow=c", "--allow=d"},
			want: settings{dataDir: "/cli", port: 7000, grace: time.Hour, verbose: true, allow: []string{"c", "d"}},
		},
		{
			name: "cli equal to default still wins",
			yaml: "port: 6000\n",
			env:  map[string]string{"CSSC_PORT": "7000"},
			args: []string{"--port=5000"},
			want: settings{dataDir: "default-dir", port: 5000, grace: time.Hour, allow: []string{"default"}},
		},
		{
			name: "env only",
			env:  map[string]string{"CSSC_PORT": "8000", "UNRELATED": "x"},
			want: settings{dataDir: "default-dir", port: 8000, grace: time.Hour, allow: []string{"default"}},
		},
		{
			name: "skipped flag not read from yaml or env",
			yaml: "config: /from/yaml\n",
			env:  map[string]string{"CSSC_CONFIG": "/from/env"},
			want: settings{dataDir: "default-dir", port: 5000, grace: time.Hour, allow: []string{"default"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got settings
			fs := flags(&got)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			path := ""
			if tc.yaml != "" {
				path = writeYAML(t, tc.yaml)
			}
			if err := config.Apply(fs, path, lookup(tc.env), "config"); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr string
	}{
		{"unknown yaml key", "data-dir: /x\nno-such-setting: 1\n", nil, `unknown setting "no-such-setting"`},
		{"list for a scalar flag", "port: [1, 2]\n", nil, "not a list"},
		{"mapping for a flag", "data-dir:\n  a: b\n", nil, "not a mapping"},
		{"bad yaml value", "port: many\n", nil, "port"},
		{"bad yaml syntax", "port: [\n", nil, "config"},
		{"bad env value", "", map[string]string{"CSSC_PORT": "many"}, "CSSC_PORT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s settings
			fs := flags(&s)
			path := ""
			if tc.yaml != "" {
				path = writeYAML(t, tc.yaml)
			}
			err := config.Apply(fs, path, lookup(tc.env), "config")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	// A missing file is an error, not silently ignored.
	var s settings
	err := config.Apply(flags(&s), filepath.Join(t.TempDir(), "absent.yaml"), lookup(nil))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestListValueForSliceFlag(t *testing.T) {
	var s settings
	fs := flags(&s)
	path := writeYAML(t, "allow:\n  - quarantine/*\n  - golden/*\n  - 42\n")
	if err := config.Apply(fs, path, lookup(nil)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"quarantine/*", "golden/*", "42"}; !reflect.DeepEqual(s.allow, want) {
		t.Fatalf("allow = %v, want %v", s.allow, want)
	}
	// An empty list empties the flag.
	s = settings{}
	fs = flags(&s)
	if err := config.Apply(fs, writeYAML(t, "allow: []\n"), lookup(nil)); err != nil {
		t.Fatal(err)
	}
	if len(s.allow) != 0 {
		t.Fatalf("allow = %v, want empty", s.allow)
	}
}
