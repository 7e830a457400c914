// Package version tells which cssc this is. The values are set at link
// time (-ldflags "-X github.com/cssc-project/cssc/internal/version.Version=…").
package version

import "runtime/debug"

// Set by the linker; the defaults describe a plain `go build`.
var (
	Version = "dev"
	Commit  = ""
)

// String is the version line `cssc version` prints.
func String() string {
	commit := Commit
	if commit == "" {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	return "cssc " + Version + " (commit " + commit + ")"
}
