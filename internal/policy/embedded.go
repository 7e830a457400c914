package policy

import (
	"fmt"
	"io/fs"
)

// DefaultFS is the embedded default policy as a file system: its .rego
// modules and their *_test.rego tests at the top, laid out as a policy
// directory (Load, RunTests) expects, so an operator can copy it and start
// from it (cssc policy show-default).
func DefaultFS() (fs.FS, error) {
	sub, err := fs.Sub(defaultPolicy, "default")
	if err != nil {
		return nil, fmt.Errorf("default policy: %w", err)
	}
	return sub, nil
}
