package registry

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-project/cssc/internal/storage"
	"github.com/cssc-project/cssc/internal/store"
)

// startUpload handles POST /v2/<name>/blobs/uploads/: a cross-repository
// mount, a monolithic upload (?digest=), or a new upload session.
func (rg *Registry) startUpload(w http.ResponseWriter, r *http.Request, rt route) {
	ctx := r.Context()
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		if d, ok := parseDigest(mount); ok {
			mounted, err := rg.mount(ctx, rt.name, d, q.Get("from"))
			if err != nil {
				rg.internalError(w, r, "mount blob", err)
				return
			}
			if mounted {
				blobCreated(w, rt.name, d)
				return
			}
		}
		// Not mountable: the spec says to answer with a new upload session.
	}
	if dg := q.Get("digest"); dg != "" {
		rg.monolithicUpload(w, r, rt, dg)
		return
	}
	id := storage.NewUploadID()
	if err := rg.meta.CreateUpload(ctx, rt.name, id); err != nil {
		rg.internalError(w, r, "create upload", err)
		return
	}
	uploadAccepted(w, rt.name, id, 0, http.StatusAccepted)
}

// mountCandidates bounds how many repositories holding a blob are tried
// for a mount without from.
const mountCandidates = 64

// mount links d into repo if it can be found in from (or, with no from, in
// any repository: the spec's anonymous mount), and only from a repository
// the caller may pull, so nobody mounts what they could not read.
func (rg *Registry) mount(ctx context.Context, repo string, d digest.Digest, from string) (bool, error) {
	var sources []string
	if from != "" {
		if !validName(from) {
			return false, nil
		}
		sources = []string{from}
	} else {
		var err error
		if sources, err = rg.meta.RepositoriesWithBlob(ctx, d.String(), mountCandidates); err != nil {
			return false, err
		}
	}
	for _, src := range sources {
		if !rg.opts.CanPull(ctx, src) {
			continue
		}
		size, err := rg.meta.BlobSize(ctx, src, d.String())
		if errors.Is(err, store.ErrBlobUnknown) || errors.Is(err, store.ErrRepositoryUnknown) {
			continue
		}
		if err != nil {
			return false, err
		}
		err = rg.link(ctx, repo, d, size)
		if errors.Is(err, storage.ErrNotFound) {
			continue // linked but its bytes are gone: not mountable
		}
		return err == nil, err
	}
	return false, nil
}

// link records a blob whose bytes are stored, refreshing their time under
// the commit lock so a collection running now keeps them.
func (rg *Registry) link(ctx context.Context, repo string, d digest.Digest, size int64) error {
	rg.opts.CommitLock.RLock()
	defer rg.opts.CommitLock.RUnlock()
	if _, err := rg.blobs.Stat(ctx, d); err != nil {
		return fmt.Errorf("link %s: %w", d, err)
	}
	return rg.meta.LinkBlob(ctx, repo, d.String(), size)
}

// monolithicUpload stores the request body as one blob (POST ?digest=).
func (rg *Registry) monolithicUpload(w http.ResponseWriter, r *http.Request, rt route, dg string) {
	d, ok := parseDigest(dg)
	if !ok {
		writeError(w, r, newError(http.StatusBadRequest, codeDigestInvalid, "invalid digest", dg))
		return
	}
	ctx := r.Context()
	id := storage.NewUploadID()
	verifier := d.Verifier()
	n, err := rg.blobs.AppendUpload(ctx, id, 0, io.TeeReader(r.Body, verifier))
	if err != nil {
		_ = rg.blobs.RemoveUpload(ctx, id)
		writeError(w, r, newError(http.StatusBadRequest, codeBlobUploadInvalid, "reading the blob failed", err.Error()))
		return
	}
	if r.ContentLength >= 0 && n != r.ContentLength {
		_ = rg.blobs.RemoveUpload(ctx, id)
		writeError(w, r, newError(http.StatusBadRequest, codeSizeInvalid, "body length differs from Content-Length", nil))
		return
	}
	if !verifier.Verified() {
		_ = rg.blobs.RemoveUpload(ctx, id)
		writeError(w, r, newError(http.StatusBadRequest, codeDigestInvalid, "content does not match digest", d.String()))
		return
	}
	if err := rg.commit(ctx, rt.name, id, n, d); err != nil {
		rg.internalError(w, r, "store blob", err)
		return
	}
	blobCreated(w, rt.name, d)
}

// commit turns the first size bytes of upload id into blob d of repo.
func (rg *Registry) commit(ctx context.Context, repo, id string, size int64, d digest.Digest) error {
	rg.opts.CommitLock.RLock()
	defer rg.opts.CommitLock.RUnlock()
	if _, err := rg.blobs.CommitUpload(ctx, id, size, d); err != nil {
		return err
	}
	return rg.meta.LinkBlob(ctx, repo, d.String(), size)
}

func blobCreated(w http.ResponseWriter, repo string, d digest.Digest) {
	h := w.Header()
	h.Set("Location", "/v2/"+repo+"/blobs/"+d.String())
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// uploadAccepted describes an open upload session: where to send the next
// chunk and which bytes are stored.
func uploadAccepted(w http.ResponseWriter, repo, id string, size int64, status int) {
	h := w.Header()
	h.Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
	h.Set("Docker-Upload-UUID", id)
	h.Set("Range", rangeHeader(size))
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
}

// rangeHeader is "0-<last byte>" ("0-0" for an empty upload, as the CNCF
// distribution registry answers and clients expect).
func rangeHeader(size int64) string {
	if size == 0 {
		return "0-0"
	}
	return "0-" + strconv.FormatInt(size-1, 10)
}

// openUpload finds the session of a request and takes its lock.
func (rg *Registry) openUpload(w http.ResponseWriter, r *http.Request, rt route) (store.Upload, func(), bool) {
	unlock, ok := rg.uploads.tryLock(rt.ref)
	if !ok {
		busy := newError(http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid,
			"another request is writing to this upload", nil)
		// Say where the upload stands (Range, Location), as any 416 does.
		if up, err := rg.meta.GetUpload(r.Context(), rt.name, rt.ref); err == nil {
			rg.writeUploadError(w, r, rt, up, busy)
		} else {
			writeError(w, r, busy)
		}
		return store.Upload{}, nil, false
	}
	up, ok := rg.lookupUpload(w, r, rt)
	if !ok {
		unlock()
		return store.Upload{}, nil, false
	}
	return up, unlock, true
}

// lookupUpload finds the session of a request, answering 404 when there is
// none.
func (rg *Registry) lookupUpload(w http.ResponseWriter, r *http.Request, rt route) (store.Upload, bool) {
	up, err := rg.meta.GetUpload(r.Context(), rt.name, rt.ref)
	if errors.Is(err, store.ErrUploadUnknown) {
		writeError(w, r, newError(http.StatusNotFound, codeBlobUploadUnknown, "blob upload unknown to registry", rt.ref))
		return up, false
	}
	if err != nil {
		rg.internalError(w, r, "look up upload", err)
		return up, false
	}
	return up, true
}

// uploadStatus reads the recorded progress without taking the session's
// lock, so a client can ask while its own PATCH is still streaming.
func (rg *Registry) uploadStatus(w http.ResponseWriter, r *http.Request, rt route) {
	if up, ok := rg.lookupUpload(w, r, rt); ok {
		uploadAccepted(w, rt.name, up.ID, up.Size, http.StatusNoContent)
	}
}

func (rg *Registry) cancelUpload(w http.ResponseWriter, r *http.Request, rt route) {
	up, unlock, ok := rg.openUpload(w, r, rt)
	if !ok {
		return
	}
	defer unlock()
	if err := rg.discardUpload(r.Context(), up.ID); err != nil {
		rg.internalError(w, r, "cancel upload", err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}

func (rg *Registry) discardUpload(ctx context.Context, id string) error {
	if err := rg.meta.DeleteUpload(ctx, id); err != nil {
		return err
	}
	return rg.blobs.RemoveUpload(ctx, id)
}

func (rg *Registry) patchUpload(w http.ResponseWriter, r *http.Request, rt route) {
	up, unlock, ok := rg.openUpload(w, r, rt)
	if !ok {
		return
	}
	defer unlock()
	up, _, apiErr := rg.appendChunk(r, up)
	if apiErr != nil {
		rg.writeUploadError(w, r, rt, up, apiErr)
		return
	}
	uploadAccepted(w, rt.name, up.ID, up.Size, http.StatusAccepted)
}

// finishUpload handles PUT ?digest=, with an optional last chunk.
func (rg *Registry) finishUpload(w http.ResponseWriter, r *http.Request, rt route) {
	d, ok := parseDigest(r.URL.Query().Get("digest"))
	if !ok {
		writeError(w, r, newError(http.StatusBadRequest, codeDigestInvalid, "digest query parameter missing or invalid", r.URL.Query().Get("digest")))
		return
	}
	up, unlock, ok := rg.openUpload(w, r, rt)
	if !ok {
		return
	}
	defer unlock()
	ctx := r.Context()
	var h hash.Hash
	if r.ContentLength != 0 || r.Header.Get("Content-Range") != "" {
		var apiErr *apiError
		if up, h, apiErr = rg.appendChunk(r, up); apiErr != nil {
			rg.writeUploadError(w, r, rt, up, apiErr)
			return
		}
	}
	lost := newError(http.StatusBadRequest, codeBlobUploadInvalid, "upload data lost; restart the upload", nil)
	got, err := rg.uploadDigest(ctx, up, h, d.Algorithm())
	if errors.Is(err, storage.ErrUploadCorrupt) {
		writeError(w, r, lost)
		return
	}
	if err != nil {
		rg.internalError(w, r, "hash upload", err)
		return
	}
	if got != d {
		if err := rg.discardUpload(ctx, up.ID); err != nil {
			rg.log.WarnContext(ctx, "discard upload with wrong digest", "upload", up.ID, "err", err)
		}
		writeError(w, r, newError(http.StatusBadRequest, codeDigestInvalid, "content does not match digest",
			map[string]string{"expected": d.String(), "computed": got.String()}))
		return
	}
	if err := rg.commit(ctx, rt.name, up.ID, up.Size, d); errors.Is(err, storage.ErrUploadCorrupt) {
		writeError(w, r, lost)
		return
	} else if err != nil {
		rg.internalError(w, r, "store blob", err)
		return
	}
	if err := rg.meta.DeleteUpload(ctx, up.ID); err != nil {
		rg.log.WarnContext(ctx, "forget finished upload", "upload", up.ID, "err", err)
	}
	blobCreated(w, rt.name, d)
}

// writeUploadError answers a failed chunk; a 416 also tells the client
// where the upload stands so it can recover.
func (rg *Registry) writeUploadError(w http.ResponseWriter, r *http.Request, rt route, up store.Upload, e *apiError) {
	if e.Status == http.StatusRequestedRangeNotSatisfiable {
		h := w.Header()
		h.Set("Location", "/v2/"+rt.name+"/blobs/uploads/"+up.ID)
		h.Set("Docker-Upload-UUID", up.ID)
		h.Set("Range", rangeHeader(up.Size))
	}
	if e.Status >= 500 {
		rg.log.ErrorContext(r.Context(), "upload chunk", "upload", up.ID, "err", e.Detail)
		e.Detail = nil
	}
	writeError(w, r, e)
}

// appendChunk writes the request body at the end of the upload and records
// the new size and hash state. When the client goes away mid-body, what
// arrived is kept and the upload can resume from there.
func (rg *Registry) appendChunk(r *http.Request, up store.Upload) (store.Upload, hash.Hash, *apiError) {
	ctx := r.Context()
	body := io.Reader(r.Body)
	want := int64(-1)
	if cr := r.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok {
			return up, nil, newError(http.StatusRequestedRangeNotSatisfiable, codeRangeInvalid, "invalid Content-Range", cr)
		}
		if start != up.Size {
			return up, nil, newError(http.StatusRequestedRangeNotSatisfiable, codeRangeInvalid,
				fmt.Sprintf("chunk starts at %d but the upload has %d bytes", start, up.Size), nil)
		}
		want = end - start + 1
		if r.ContentLength >= 0 && r.ContentLength != want {
			return up, nil, newError(http.StatusBadRequest, codeSizeInvalid, "Content-Length does not match Content-Range", nil)
		}
		body = io.LimitReader(r.Body, want)
	}
	h, err := restoreHash(up.HashState)
	if err != nil {
		return up, nil, newError(http.StatusInternalServerError, codeUnsupported, "restore upload state", err.Error())
	}
	src := &readErrRecorder{r: body}
	n, err := rg.blobs.AppendUpload(ctx, up.ID, up.Size, io.TeeReader(src, h))
	// A read error or a cancelled request means the client went away: every
	// byte read was written, so the progress is kept.
	readFailed := err != nil && (src.err != nil && errors.Is(err, src.err) || errors.Is(err, context.Canceled))
	if err != nil && !readFailed {
		if errors.Is(err, storage.ErrUploadCorrupt) {
			return up, nil, newError(http.StatusBadRequest, codeBlobUploadInvalid, "upload data lost; restart the upload", nil)
		}
		return up, nil, newError(http.StatusInternalServerError, codeUnsupported, "store chunk", err.Error())
	}
	if n > 0 {
		state, mErr := h.(encoding.BinaryMarshaler).MarshalBinary()
		if mErr != nil {
			return up, nil, newError(http.StatusInternalServerError, codeUnsupported, "save upload state", mErr.Error())
		}
		// A cancelled request has no context left: record its progress anyway.
		if aErr := rg.meta.AdvanceUpload(context.WithoutCancel(ctx), up.ID, up.Size, up.Size+n, state); aErr != nil {
			return up, nil, newError(http.StatusInternalServerError, codeUnsupported, "record upload progress", aErr.Error())
		}
		up.Size += n
		up.HashState = state
	}
	if readFailed {
		return up, nil, newError(http.StatusBadRequest, codeBlobUploadInvalid,
			fmt.Sprintf("reading the chunk failed after %d bytes; resume from byte %d", n, up.Size), nil)
	}
	if want >= 0 {
		if n != want {
			return up, nil, newError(http.StatusBadRequest, codeSizeInvalid, "body shorter than Content-Range", nil)
		}
		if r.ContentLength < 0 {
			var one [1]byte
			if m, _ := r.Body.Read(one[:]); m > 0 {
				return up, nil, newError(http.StatusBadRequest, codeSizeInvalid, "body longer than Content-Range", nil)
			}
		}
	}
	return up, h, nil
}

// uploadDigest computes the upload's digest with algorithm alg: from the
// saved sha256 state when it can, else by reading the bytes again.
func (rg *Registry) uploadDigest(ctx context.Context, up store.Upload, h hash.Hash, alg digest.Algorithm) (digest.Digest, error) {
	if alg == digest.SHA256 {
		if h == nil {
			var err error
			if h, err = restoreHash(up.HashState); err != nil {
				return "", err
			}
		}
		return digest.NewDigest(alg, h), nil
	}
	rc, err := rg.blobs.OpenUpload(ctx, up.ID, up.Size)
	if err != nil {
		return "", err
	}
	defer func() { _ = rc.Close() }()
	return alg.FromReader(rc)
}

// restoreHash rebuilds the running sha256 of an upload.
func restoreHash(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if len(state) > 0 {
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			return nil, fmt.Errorf("restore hash state: %w", err)
		}
	}
	return h, nil
}

// parseContentRange reads "<start>-<end>" (the spec's form) and also
// "bytes <start>-<end>/<size>" that some clients send.
func parseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimSpace(strings.TrimPrefix(s, "bytes "))
	s, _, _ = strings.Cut(s, "/")
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

// readErrRecorder remembers the error of the request body, to tell a client
// that went away from a failing disk.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (e *readErrRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
