package server

import (
	"strings"
	"testing"
)

func TestStaticUpstreams(t *testing.T) {
	tests := []struct {
		entry    string
		registry string
		glob     string
		insecure bool
		err      string
	}{
		{entry: "docker.io/library/*", registry: "docker.io", glob: "library/*"},
		{entry: "index.docker.io/bitnami/**", registry: "docker.io", glob: "bitnami/**"},
		{entry: "127.0.0.1:5001/demo/*", registry: "127.0.0.1:5001", glob: "demo/*", insecure: true},
		{entry: "docker.io", err: "want host/repository-glob"},
		{entry: "/library/*", err: "want host/repository-glob"},
	}
	for _, tc := range tests {
		t.Run(tc.entry, func(t *testing.T) {
			got, err := staticUpstreams([]string{tc.entry})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := got[0]
			if u.Registry != tc.registry || len(u.Repositories) != 1 || u.Repositories[0] != tc.glob || u.Insecure != tc.insecure || u.SignaturePolicy != "if-present" {
				t.Errorf("got %+v", u)
			}
		})
	}
	a, _ := staticUpstreams([]string{"docker.io/library/*"})
	b, _ := staticUpstreams([]string{"docker.io/bitnami/*"})
	if a[0].Name == b[0].Name {
		t.Errorf("two entries share the name %s", a[0].Name)
	}
}
