package upstream

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/cssc-project/cssc/internal/auth"
)

// Ref is a parsed image reference, its registry normalised (Docker Hub is
// "docker.io", short names are in "library/").
type Ref struct {
	Registry   string // e.g. "docker.io"
	Repository string // e.g. "library/nginx"
	Tag        string // "" when the reference gave none (a digest reference)
	Digest     string // "" for a tag reference
}

// Name is the repository's full name: registry/repository.
func (r Ref) Name() string { return r.Registry + "/" + r.Repository }

// String is the reference: registry/repository[:tag][@digest].
func (r Ref) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// ParseRef parses an image reference the way docker does: "nginx" is
// docker.io/library/nginx:latest.
func ParseRef(ref string) (Ref, error) {
	parsed, err := name.ParseReference(strings.TrimSpace(ref))
	if err != nil {
		return Ref{}, fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	r := Ref{
		Registry:   NormalizeRegistry(parsed.Context().RegistryStr()),
		Repository: parsed.Context().RepositoryStr(),
	}
	switch p := parsed.(type) {
	case name.Tag:
		r.Tag = p.TagStr()
	case name.Digest:
		r.Digest = p.DigestStr()
		// go-containerregistry drops a tag given beside the digest.
		base, _, _ := strings.Cut(ref, "@")
		if t, err := name.NewTag(base); err == nil && strings.Contains(base[strings.LastIndex(base, "/")+1:], ":") {
			r.Tag = t.TagStr()
		}
	}
	return r, nil
}

// NotAllowedError refuses a reference no allow-list entry allows.
type NotAllowedError struct {
	Ref         string   // registry/repository
	Suggestions []string // allow-listed names close to Ref
}

func (e *NotAllowedError) Error() string {
	msg := e.Ref + " is not from an allow-listed upstream"
	if n := len(e.Suggestions); n > 0 {
		s := e.Suggestions[n-1]
		if n > 1 {
			s = strings.Join(e.Suggestions[:n-1], ", ") + " or " + s
		}
		msg += " (did you mean " + s + "?)"
	}
	return msg + "; allow it with `cssc upstream add`"
}

// Match finds the entry of list that allows ref: same registry and a
// repository glob matching. When several do, the one whose matching glob
// has the longest literal prefix wins (then the first in list). When none
// does, the error is a *NotAllowedError.
func Match(list []Upstream, ref string) (Upstream, Ref, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return Upstream{}, Ref{}, err
	}
	best, bestLen := -1, -1
	for i, u := range list {
		if NormalizeRegistry(u.Registry) != r.Registry {
			continue
		}
		for _, g := range u.Repositories {
			if auth.MatchPattern(g, r.Repository) && len(literalPrefix(g)) > bestLen {
				best, bestLen = i, len(literalPrefix(g))
			}
		}
	}
	if best >= 0 {
		return list[best], r, nil
	}
	return Upstream{}, r, &NotAllowedError{Ref: r.Name(), Suggestions: suggest(list, r)}
}

// maxSuggestions bounds the names a refusal lists.
const maxSuggestions = 5

// suggest lists allow-listed names close to r: on r's registry, a
// repository at most 2 edits away; on another registry, r's repository
// when a glob with a literal prefix allows it there, or when that
// registry's name is at most 2 edits from r's.
func suggest(list []Upstream, r Ref) []string {
	var out []string
	for _, u := range list {
		reg := NormalizeRegistry(u.Registry)
		for _, g := range u.Repositories {
			cand, ok := closeRepository(g, r.Repository)
			if !ok {
				continue
			}
			if reg == r.Registry && cand == r.Repository {
				continue // allowed: not a suggestion (cannot happen after Match)
			}
			if reg != r.Registry {
				// On another registry: only the same repository, and only
				// where the glob names it (a catch-all like "**" would be
				// suggested for everything) or the registry is a typo.
				if cand != r.Repository || (literalPrefix(g) == "" && levenshtein(reg, r.Registry) > 2) {
					continue
				}
			}
			if s := reg + "/" + cand; !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	if len(out) > maxSuggestions {
		out = out[:maxSuggestions]
	}
	return out
}

// closeRepository returns the repository glob g allows that is closest to
// repo, if it is at most 2 edits away. A literal glob is compared whole; a
// wildcard glob by its literal leading segments, the rest taken from repo.
func closeRepository(g, repo string) (string, bool) {
	prefix := literalPrefix(g)
	if prefix == g {
		return g, levenshtein(g, repo) <= 2
	}
	segs := strings.Split(repo, "/")
	n := strings.Count(prefix, "/")
	if n > len(segs) {
		return "", false
	}
	head, rest := strings.Join(segs[:n], "/"), strings.Join(segs[n:], "/")
	if n > 0 {
		head += "/"
	}
	if levenshtein(prefix, head) > 2 {
		return "", false
	}
	cand := prefix + rest
	return cand, auth.MatchPattern(g, cand)
}

// literalPrefix returns the whole glob when it has no wildcard, else its
// leading segments without one, each followed by "/" ("library/*" gives
// "library/", "**" gives "").
func literalPrefix(g string) string {
	if !strings.ContainsAny(g, "*?[\\") {
		return g
	}
	var b strings.Builder
	for _, seg := range strings.Split(g, "/") {
		if strings.ContainsAny(seg, "*?[\\") {
			break
		}
		b.WriteString(seg + "/")
	}
	return b.String()
}

// levenshtein is the edit distance between a and b (in bytes: repository
// names are ASCII).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
