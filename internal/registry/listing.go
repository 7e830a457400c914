package registry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-project/cssc/internal/store"
)

// maxPage caps n in tag and catalog listings; a client asking for more gets
// this many and a Link to the rest, as the spec allows.
const maxPage = 10000

// pageParams reads n and last. Without n, tags list everything (the spec
// says so for tags); with an invalid n the answer is 400.
func pageParams(r *http.Request) (n int, last string, err *apiError) {
	q := r.URL.Query()
	last = q.Get("last")
	n = -1
	if s := q.Get("n"); s != "" {
		v, convErr := strconv.Atoi(s)
		if convErr != nil || v < 0 {
			return 0, "", newError(http.StatusBadRequest, codeUnsupported, "n must be a non-negative integer", s)
		}
		n = min(v, maxPage)
	}
	return n, last, nil
}

// writeList answers a page as JSON with a Link header to the next one.
func writeList(w http.ResponseWriter, path string, n int, items []string, more bool, body any) {
	if more && len(items) > 0 {
		q := url.Values{}
		q.Set("n", strconv.Itoa(n))
		q.Set("last", items[len(items)-1])
		w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func (rg *Registry) tags(w http.ResponseWriter, r *http.Request, rt route) {
	n, last, apiErr := pageParams(r)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	tags, more, err := rg.meta.ListTags(r.Context(), rt.name, last, n)
	if errors.Is(err, store.ErrRepositoryUnknown) {
		writeError(w, r, newError(http.StatusNotFound, codeNameUnknown, "repository name not known to registry", rt.name))
		return
	}
	if err != nil {
		rg.internalError(w, r, "list tags", err)
		return
	}
	writeList(w, "/v2/"+rt.name+"/tags/list", n, tags, more, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
}

func (rg *Registry) catalog(w http.ResponseWriter, r *http.Request, _ route) {
	n, last, apiErr := pageParams(r)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	if n < 0 {
		n = maxPage
	}
	names, more, err := rg.visibleRepositories(r.Context(), last, n)
	if err != nil {
		rg.internalError(w, r, "list repositories", err)
		return
	}
	writeList(w, "/v2/_catalog", n, names, more, struct {
		Repositories []string `json:"repositories"`
	}{names})
}

// referrers answers the referrers API: an index of the manifests whose
// subject is the digest, whether or not the subject itself is stored.
func (rg *Registry) referrers(w http.ResponseWriter, r *http.Request, rt route) {
	d, ok := parseDigest(rt.ref)
	if !ok {
		writeError(w, r, newError(http.StatusBadRequest, codeDigestInvalid, "invalid digest", rt.ref))
		return
	}
	artifactType := r.URL.Query().Get("artifactType")
	refs, err := rg.meta.Referrers(r.Context(), rt.name, d.String(), artifactType)
	if err != nil {
		rg.internalError(w, r, "list referrers", err)
		return
	}
	index := v1.Index{
		MediaType: v1.MediaTypeImageIndex,
		Manifests: make([]v1.Descriptor, 0, len(refs)),
	}
	index.SchemaVersion = 2
	for _, ref := range refs {
		index.Manifests = append(index.Manifests, v1.Descriptor{
			MediaType:    ref.MediaType,
			ArtifactType: ref.ArtifactType,
			Digest:       digest.Digest(ref.Digest),
			Size:         ref.Size,
			Annotations:  ref.Annotations,
		})
	}
	b, _ := json.Marshal(index)
	h := w.Header()
	if artifactType != "" {
		h.Set("OCI-Filters-Applied", "artifactType")
	}
	h.Set("Content-Type", v1.MediaTypeImageIndex)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// visibleRepositories pages through the repositories the caller may pull:
// it reads further pages until n are found or the list ends, so filtering
// never makes a page come back short while more follow.
func (rg *Registry) visibleRepositories(ctx context.Context, last string, n int) ([]string, bool, error) {
	out := make([]string, 0, min(n, 256))
	for {
		names, more, err := rg.meta.ListRepositories(ctx, last, n)
		if err != nil {
			return nil, false, err
		}
		for i, name := range names {
			if !rg.opts.CanPull(ctx, name) {
				continue
			}
			out = append(out, name)
			if len(out) == n {
				return out, more || i < len(names)-1, nil
			}
		}
		if !more || len(names) == 0 {
			return out, false, nil
		}
		last = names[len(names)-1]
	}
}
