package sign

import "testing"

func TestParseReference(t *testing.T) {
	const d = "sha256:bbd49b08ef807c94830ae16280faa2a2a022fbd7d6249ea06ada48744c1a0c54"
	tests := []struct {
		in, want, err string
	}{
		// Docker Hub is docker.io, as notation's trust policy scopes and
		// the credential stores name it.
		{"alpine:3", "docker.io/library/alpine:3", ""},
		{"docker.io/library/alpine:3", "docker.io/library/alpine:3", ""},
		{"index.docker.io/team/app@" + d, "docker.io/team/app@" + d, ""},
		{"localhost:5000/a/b:v1", "localhost:5000/a/b:v1", ""},
		{"ghcr.io/x/y:1@" + d, "ghcr.io/x/y@" + d, ""},
		{"alpine", "docker.io/library/alpine", ""},
		{"UPPER/x:1", "", "could not parse reference"},
		{"a/b:c:d", "", "could not parse reference"},
	}
	for _, tc := range tests {
		r, err := parseReference(tc.in)
		if tc.err != "" {
			if err == nil {
				t.Errorf("parseReference(%q) = %v, want error %q", tc.in, r, tc.err)
			}
			continue
		}
		if err != nil || r.String() != tc.want {
			t.Errorf("parseReference(%q) = %q, %v; want %q", tc.in, r.String(), err, tc.want)
		}
	}
	if _, err := Repository("https://example.com/a:1", RemoteOptions{}); err == nil {
		t.Error("a reference with a scheme was accepted")
	}
}
