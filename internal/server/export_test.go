package server

import (
	"context"
	"log/slog"
	"testing"
)

// NewForTest exposes New to the external test package.
func NewForTest(t *testing.T, cfg Config) (*Server, error) {
	return New(context.Background(), cfg, slog.New(slog.DiscardHandler))
}
