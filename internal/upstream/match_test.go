package upstream

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	list := []Upstream{
		{Name: "dockerhub", Registry: "docker.io", Repositories: []string{"library/*", "bitnami/**"}},
		{Name: "hub-nginx", Registry: "index.docker.io", Repositories: []string{"nginxinc/nginx-unprivileged"}},
		{Name: "ghcr", Registry: "ghcr.io", Repositories: []string{"acme/**"}},
		{Name: "local", Registry: "127.0.0.1:5001", Repositories: []string{"team/app"}},
		{Name: "mirror", Registry: "mirror.example", Repositories: []string{"**"}},
	}
	tests := []struct {
		ref      string
		want     string // upstream name; "" when refused
		wantRef  Ref
		suggests []string
	}{
		{ref: "nginx", want: "dockerhub", wantRef: Ref{Registry: "docker.io", Repository: "library/nginx", Tag: "latest"}},
		{ref: "docker.io/library/nginx:1.27", want: "dockerhub", wantRef: Ref{Registry: "docker.io", Repository: "library/nginx", Tag: "1.27"}},
		{ref: "index.docker.io/library/alpine@sha256:" + strings.Repeat("a", 64), want: "dockerhub",
			wantRef: Ref{Registry: "docker.io", Repository: "library/alpine", Digest: "sha256:" + strings.Repeat("a", 64)}},
		{ref: "alpine:3.20@sha256:" + strings.Repeat("b", 64), want: "dockerhub",
			wantRef: Ref{Registry: "docker.io", Repository: "library/alpine", Tag: "3.20", Digest: "sha256:" + strings.Repeat("b", 64)}},
		{ref: "bitnami/redis/sub/deep:7", want: "dockerhub", wantRef: Ref{Registry: "docker.io", Repository: "bitnami/redis/sub/deep", Tag: "7"}},
		{ref: "nginxinc/nginx-unprivileged", want: "hub-nginx", wantRef: Ref{Registry: "docker.io", Repository: "nginxinc/nginx-unprivileged", Tag: "latest"}},
		{ref: "ghcr.io/acme/tools/cli:v1", want: "ghcr", wantRef: Ref{Registry: "ghcr.io", Repository: "acme/tools/cli", Tag: "v1"}},
		{ref: "127.0.0.1:5001/team/app:v2", want: "local", wantRef: Ref{Registry: "127.0.0.1:5001", Repository: "team/app", Tag: "v2"}},
		// library/* is one segment only.
		{ref: "library/nginx/extra", suggests: nil},
		// Typo-squatted repository on an allowed registry.
		{ref: "nginxinc/nginx-unprivilegd", suggests: []string{"docker.io/nginxinc/nginx-unprivileged"}},
		// Typo in a glob's literal prefix.
		{ref: "libary/nginx", suggests: []string{"docker.io/library/nginx"}},
		{ref: "ghcr.io/acmee/tools", suggests: []string{"ghcr.io/acme/tools"}},
		{ref: "127.0.0.1:5001/team/ap", suggests: []string{"127.0.0.1:5001/team/app"}},
		// Same repository on another registry.
		{ref: "quay.io/acme/tools", suggests: []string{"ghcr.io/acme/tools"}},
		{ref: "docker.io/team/app", suggests: []string{"127.0.0.1:5001/team/app"}},
		// A catch-all on another registry is suggested only for a registry typo.
		{ref: "mirror.exmple/x/y", suggests: []string{"mirror.example/x/y"}},
		{ref: "mirror.example/x/y", want: "mirror", wantRef: Ref{Registry: "mirror.example", Repository: "x/y", Tag: "latest"}},
		// Nothing close.
		{ref: "quay.io/evil/thing", suggests: nil},
		{ref: "ghcr.io/other/tools", suggests: nil},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			u, r, err := Match(list, tt.ref)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("Match: %v", err)
				}
				if u.Name != tt.want || r != tt.wantRef {
					t.Fatalf("Match = %s, %+v; want %s, %+v", u.Name, r, tt.want, tt.wantRef)
				}
				return
			}
			var na *NotAllowedError
			if !errors.As(err, &na) {
				t.Fatalf("Match = %s, %v; want a NotAllowedError", u.Name, err)
			}
			if !reflect.DeepEqual(na.Suggestions, tt.suggests) {
				t.Fatalf("suggestions = %q, want %q", na.Suggestions, tt.suggests)
			}
			if na.Ref != r.Name() {
				t.Fatalf("error names %q, want %q", na.Ref, r.Name())
			}
		})
	}
}

func TestMatchPrefersMostSpecific(t *testing.T) {
	list := []Upstream{
		{Name: "all", Registry: "docker.io", Repositories: []string{"**"}},
		{Name: "bitnami", Registry: "docker.io", Repositories: []string{"bitnami/**"}},
	}
	for ref, want := range map[string]string{"bitnami/redis": "bitnami", "library/nginx": "all"} {
		u, _, err := Match(list, ref)
		if err != nil || u.Name != want {
			t.Errorf("Match(%s) = %s, %v; want %s", ref, u.Name, err, want)
		}
	}
}

func TestNotAllowedErrorMessage(t *testing.T) {
	list := []Upstream{{Name: "dockerhub", Registry: "docker.io", Repositories: []string{"library/nginx", "library/nginy"}}}
	_, _, err := Match(list, "ngnix")
	want := "docker.io/library/ngnix is not from an allow-listed upstream (did you mean docker.io/library/nginx?); allow it with `cssc upstream add`"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	_, _, err = Match(list, "nginz")
	want = "docker.io/library/nginz is not from an allow-listed upstream (did you mean docker.io/library/nginx or docker.io/library/nginy?); allow it with `cssc upstream add`"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	_, _, err = Match(nil, "quay.io/x/y")
	want = "quay.io/x/y is not from an allow-listed upstream; allow it with `cssc upstream add`"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestMatchBadReference(t *testing.T) {
	_, _, err := Match(nil, "UPPER/Case::bad")
	var na *NotAllowedError
	if err == nil || errors.As(err, &na) || !strings.Contains(err.Error(), "parse image reference") {
		t.Fatalf("err = %v, want a parse error", err)
	}
}

func TestLevenshtein(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"nginx", "ngnix", 2}, {"nginx", "nginx", 0}, {"kitten", "sitting", 3}, {"library/", "libary/", 1}} {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
