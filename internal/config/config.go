// Package config layers settings over a command's flags: built-in defaults,
// then a YAML file, then CSSC_* environment variables, then the flags given
// on the command line, each overriding the one before.
//
// The flags are the schema: a YAML key or an environment variable is the
// flag's name (--data-dir is data-dir: in YAML and CSSC_DATA_DIR), so a
// setting is documented once, in the flag's help.
package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// EnvName is the environment variable of a flag: CSSC_ and the name in
// upper case with dashes as underscores.
func EnvName(flag string) string {
	return "CSSC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Apply fills the flags of fs that were not given on the command line from
// the YAML file at path (if path is not empty) and then from the
// environment (lookup, e.g. os.LookupEnv). Flags named in skip (such as
// --config itself) are left alone.
func Apply(fs *pflag.FlagSet, path string, lookup func(string) (string, bool), skip ...string) error {
	fromCLI := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { fromCLI[f.Name] = f.Changed })
	for _, s := range skip {
		fromCLI[s] = true
	}
	if path != "" {
		values, err := readFile(path)
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f := fs.Lookup(k)
			if f == nil {
				return fmt.Errorf("config %s: unknown setting %q (settings are the command's flag names, e.g. %s)", path, k, someFlags(fs))
			}
			if fromCLI[k] {
				continue
			}
			if err := setValue(f, values[k]); err != nil {
				return fmt.Errorf("config %s: %s: %w", path, k, err)
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if fromCLI[f.Name] {
			return
		}
		if v, ok := lookup(EnvName(f.Name)); ok {
			// The environment replaces a list the YAML set; without this a
			// slice flag set from a YAML scalar would append to it.
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				_ = sv.Replace(nil)
			}
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("environment %s=%q: %w", EnvName(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}

func readFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	values := map[string]any{}
	if err := yaml.Unmarshal(b, &values); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return values, nil
}

// setValue sets a flag from a YAML value; a list sets a repeatable flag
// once per element.
func setValue(f *pflag.Flag, v any) error {
	if list, ok := v.([]any); ok {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			items := make([]string, len(list))
			for i, item := range list {
				items[i] = fmt.Sprint(item)
			}
			return sv.Replace(items)
		}
		return fmt.Errorf("takes one value, not a list")
	}
	if m, ok := v.(map[string]any); ok {
		return fmt.Errorf("takes a value, not a mapping (%d keys)", len(m))
	}
	return f.Value.Set(fmt.Sprint(v))
}

func someFlags(fs *pflag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if len(names) < 4 {
			names = append(names, f.Name)
		}
	})
	return strings.Join(names, ", ")
}
