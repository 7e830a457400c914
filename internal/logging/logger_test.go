package logging_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cssc-project/cssc/internal/logging"
)

func TestNewLoggerFormatsAndLevels(t *testing.T) {
	tests := []struct {
		format, level string
		wantInfo      bool // an Info record is written
		wantDebug     bool
		json          bool
	}{
		{"text", "info", true, false, false},
		{"", "info", true, false, false},
		{"TEXT", "debug", true, true, false},
		{"json", "info", true, false, true},
		{"JSON", "DEBUG", true, true, true},
		{"json", "warn", false, false, true},
		{"text", "error", false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.format+"/"+tc.level, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := logging.New(&buf, tc.format, tc.level)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			log.Debug("debug record", "k", "v")
			log.Info("info record", "k", "v")
			out := buf.String()
			if got := strings.Contains(out, "info record"); got != tc.wantInfo {
				t.Errorf("info written = %v, want %v: %q", got, tc.wantInfo, out)
			}
			if got := strings.Contains(out, "debug record"); got != tc.wantDebug {
				t.Errorf("debug written = %v, want %v: %q", got, tc.wantDebug, out)
			}
			if !tc.wantInfo {
				return
			}
			first, _, _ := strings.Cut(out, "\n")
			var rec map[string]any
			isJSON := json.Unmarshal([]byte(first), &rec) == nil
			if isJSON != tc.json {
				t.Fatalf("JSON output = %v, want %v: %q", isJSON, tc.json, first)
			}
			if isJSON && (rec["k"] != "v" || rec["msg"] == nil || rec["level"] == nil) {
				t.Errorf("JSON record lacks fields: %v", rec)
			}
			if !isJSON && !strings.Contains(first, "k=v") {
				t.Errorf("text record lacks attributes: %q", first)
			}
		})
	}
}

func TestNewLoggerRejectsBadSettings(t *testing.T) {
	tests := []struct{ format, level, want string }{
		{"text", "loud", `log level "loud"`},
		{"text", "", `log level ""`},
		{"xml", "info", `log format "xml"`},
	}
	for _, tc := range tests {
		if _, err := logging.New(&bytes.Buffer{}, tc.format, tc.level); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q, %q) = %v, want an error mentioning %s", tc.format, tc.level, err, tc.want)
		}
	}
}
