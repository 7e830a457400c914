package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-project/cssc/internal/store"
)

func (rg *Registry) getManifest(w http.ResponseWriter, r *http.Request, rt route) {
	ctx := r.Context()
	var (
		m   store.ManifestContent
		err error
	)
	if isDigestRef(rt.ref) {
		d, ok := parseDigest(rt.ref)
		if !ok {
			writeError(w, r, newError(http.StatusBadRequest, codeDigestInvalid, "invalid digest", rt.ref))
			return
		}
		m, err = rg.meta.GetManifest(ctx, rt.name, d.String())
	} else {
		if !validTag(rt.ref) {
			writeError(w, r, newError(http.StatusNotFound, codeManifestUnknown, "manifest unknown: invalid tag", rt.ref))
			return
		}
		m, err = rg.meta.GetTaggedManifest(ctx, rt.name, rt.ref)
	}
	if errors.Is(err, store.ErrManifestUnknown) {
		writeError(w, r, newError(http.StatusNotFound, codeManifestUnknown, "manifest unknown", rt.ref))
		return
	}
	if err != nil {
		rg.internalError(w, r, "get manifest", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", m.MediaType)
	h.Set("Docker-Content-Digest", m.Digest)
	h.Set("ETag", `"`+m.Digest+`"`)
	h.Set("Content-Length", strconv.Itoa(len(m.Content)))
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == `"`+m.Digest+`"` || inm == m.Digest) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(m.Content)
	}
}

func (rg *Registry) putManifest(w http.ResponseWriter, r *http.Request, rt route) {
	ctx := r.Context()
	limit := rg.opts.MaxManifestBytes
	tooLarge := newError(http.StatusRequestEntityTooLarge, codeManifestInvalid,
		fmt.Sprintf("manifest larger than the limit of %d bytes", limit), nil)
	if r.ContentLength > limit {
		writeError(w, r, tooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		writeError(w, r, newError(http.StatusBadRequest, codeManifestInvalid, "reading the manifest failed", err.Error()))
		return
	}
	if int64(len(body)) > limit {
		writeError(w, r, tooLarge)
		return
	}
	var (
		d    digest.Digest
		tags []string
	)
	if isDigestRef(rt.ref) {
		var ok bool
		if d, ok = parseDigest(rt.ref); !ok {
			writeError(w, r, newError(http.StatusBadRequest, codeDigestInvalid, "invalid digest", rt.ref))
			return
		}
		if got := d.Algorithm().FromBytes(body); got != d {
			writeError(w, r, newError(http.StatusBadRequest, codeDigestInvalid, "manifest does not match digest",
				map[string]string{"expected": d.String(), "computed": got.String()}))
			return
		}
	} else {
		if !validTag(rt.ref) {
			writeError(w, r, newError(http.StatusBadRequest, codeManifestInvalid, "invalid tag", rt.ref))
			return
		}
		tags = append(tags, rt.ref)
		d = digest.SHA256.FromBytes(body)
	}
	for _, t := range r.URL.Query()["tag"] {
		if !validTag(t) {
			writeError(w, r, newError(http.StatusBadRequest, codeManifestInvalid, "invalid tag", t))
			return
		}
		tags = append(tags, t)
	}
	p, err := parseManifest(r.Header.Get("Content-Type"), body)
	if err != nil {
		writeError(w, r, newError(http.StatusBadRequest, codeManifestInvalid, "manifest invalid", err.Error()))
		return
	}
	rec := store.Manifest{
		Repository:   rt.name,
		Digest:       d.String(),
		MediaType:    p.MediaType,
		ArtifactType: p.ArtifactType,
		Content:      body,
		Subject:      p.Subject.String(),
		Annotations:  p.Annotations,
		Blobs:        references(p.Blobs),
		Manifests:    references(p.Children),
	}
	err = rg.meta.PutManifest(ctx, rec, tags)
	var missing *store.MissingReferenceError
	if errors.As(err, &missing) {
		if missing.WantSize >= 0 {
			writeError(w, r, newError(http.StatusBadRequest, codeManifestInvalid, "manifest invalid", missing.Error()))
		} else {
			writeError(w, r, newError(http.StatusBadRequest, codeManifestBlobUnknown, "manifest references a "+missing.Kind+" unknown to this repository", missing.Digest))
		}
		return
	}
	if err != nil {
		rg.internalError(w, r, "store manifest", err)
		return
	}
	h := w.Header()
	h.Set("Location", "/v2/"+rt.name+"/manifests/"+d.String())
	h.Set("Docker-Content-Digest", d.String())
	if p.Subject != "" {
		h.Set("OCI-Subject", p.Subject.String())
	}
	if isDigestRef(rt.ref) {
		for _, t := range tags {
			h.Add("OCI-Tag", t)
		}
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// references keeps each digest once (a layer may repeat).
func references(ds []v1.Descriptor) []store.Reference {
	seen := map[digest.Digest]bool{}
	var out []store.Reference
	for _, d := range ds {
		if !seen[d.Digest] {
			seen[d.Digest] = true
			out = append(out, store.Reference{Digest: d.Digest.String(), Size: d.Size})
		}
	}
	return out
}

// deleteManifest deletes a manifest by digest (and its tags), or only a
// tag when given one.
func (rg *Registry) deleteManifest(w http.ResponseWriter, r *http.Request, rt route) {
	ctx := r.Context()
	var err error
	if isDigestRef(rt.ref) {
		d, ok := parseDigest(rt.ref)
		if !ok {
			writeError(w, r, newError(http.StatusBadRequest, codeDigestInvalid, "invalid digest", rt.ref))
			return
		}
		err = rg.meta.DeleteManifest(ctx, rt.name, d.String())
	} else {
		if !validTag(rt.ref) {
			writeError(w, r, newError(http.StatusNotFound, codeManifestUnknown, "manifest unknown: invalid tag", rt.ref))
			return
		}
		err = rg.meta.DeleteTag(ctx, rt.name, rt.ref)
	}
	if errors.Is(err, store.ErrManifestUnknown) {
		writeError(w, r, newError(http.StatusNotFound, codeManifestUnknown, "manifest unknown", rt.ref))
		return
	}
	if errors.Is(err, store.ErrManifestReferenced) {
		writeError(w, r, newError(http.StatusMethodNotAllowed, codeDenied, "manifest is listed by an index; delete the index first", err.Error()))
		return
	}
	if err != nil {
		rg.internalError(w, r, "delete manifest", err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}
