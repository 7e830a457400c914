package registry

import (
	"errors"
	"net/http"
	"time"

	"github.com/cssc-project/cssc/internal/storage"
	"github.com/cssc-project/cssc/internal/store"
)

// getBlob serves GET and HEAD of a blob, with byte ranges.
func (rg *Registry) getBlob(w http.ResponseWriter, r *http.Request, rt route) {
	d, ok := parseDigest(rt.ref)
	if !ok {
		writeError(w, r, newError(http.StatusBadRequest, codeDigestInvalid, "invalid digest", rt.ref))
		return
	}
	ctx := r.Context()
	if _, err := rg.meta.BlobSize(ctx, rt.name, d.String()); err != nil {
		if errors.Is(err, store.ErrBlobUnknown) {
			writeError(w, r, newError(http.StatusNotFound, codeBlobUnknown, "blob unknown to registry", d.String()))
			return
		}
		rg.internalError(w, r, "look up blob", err)
		return
	}
	f, err := rg.blobs.Open(ctx, d)
	if errors.Is(err, storage.ErrNotFound) {
		// Linked but its bytes are gone: say so rather than serve nothing.
		rg.log.ErrorContext(ctx, "blob linked but missing from storage", "repository", rt.name, "digest", d)
		writeError(w, r, newError(http.StatusNotFound, codeBlobUnknown, "blob unknown to registry", d.String()))
		return
	}
	if err != nil {
		rg.internalError(w, r, "open blob", err)
		return
	}
	defer func() { _ = f.Close() }()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d.String())
	h.Set("ETag", `"`+d.String()+`"`)
	h.Set("Cache-Control", "max-age=31536000")
	// ServeContent answers Range (206, 416), If-None-Match and HEAD.
	http.ServeContent(w, r, "", time.Time{}, f)
}

// deleteBlob removes a blob from a repository. The bytes stay until garbage
// collection finds no repository holding them.
func (rg *Registry) deleteBlob(w http.ResponseWriter, r *http.Request, rt route) {
	d, ok := parseDigest(rt.ref)
	if !ok {
		writeError(w, r, newError(http.StatusBadRequest, codeDigestInvalid, "invalid digest", rt.ref))
		return
	}
	err := rg.meta.UnlinkBlob(r.Context(), rt.name, d.String())
	switch {
	case errors.Is(err, store.ErrBlobUnknown):
		writeError(w, r, newError(http.StatusNotFound, codeBlobUnknown, "blob unknown to registry", d.String()))
	case errors.Is(err, store.ErrBlobReferenced):
		writeError(w, r, newError(http.StatusMethodNotAllowed, codeDenied, "blob is in use by a manifest; delete the manifest first", err.Error()))
	case err != nil:
		rg.internalError(w, r, "delete blob", err)
	default:
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
	}
}
