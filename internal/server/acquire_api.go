package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"oras.land/oras-go/v2/errdef"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/auth"
	"github.com/cssc-project/cssc/internal/policy"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/store"
	"github.com/cssc-project/cssc/internal/upstream"
)

// acquireRoutes adds the acquire pipeline's API: acquisitions, upstreams
// and exceptions. Reading acquisitions needs a login; changing anything
// needs admin.
func (s *Server) acquireRoutes(handle func(string, func(http.ResponseWriter, *http.Request, *auth.Principal)), admin func(func(http.ResponseWriter, *http.Request, *auth.Principal)) func(http.ResponseWriter, *http.Request, *auth.Principal)) {
	handle("POST /api/v1/acquisitions", admin(s.submitAcquisition))
	handle("GET /api/v1/acquisitions", s.needPipeline(s.listAcquisitions))
	handle("GET /api/v1/acquisitions/{id}", s.needPipeline(s.getAcquisition))
	handle("POST /api/v1/acquisitions/{id}/retry", admin(s.needPipeline(s.retryAcquisition)))
	handle("GET /api/v1/sync-rules", s.needPipeline(s.listSyncRules))
	handle("POST /api/v1/sync-rules", admin(s.needPipeline(s.addSyncRule)))
	handle("DELETE /api/v1/sync-rules/{id}", admin(s.needPipeline(s.removeSyncRule)))
	handle("POST /api/v1/sync-rules/{id}/run", admin(s.needPipeline(s.runSyncRule)))
	handle("POST /api/v1/rescan", admin(s.needPipeline(s.rescan)))
	handle("POST /api/v1/golden/retire", admin(s.needPipeline(s.retireGolden)))
	handle("GET /api/v1/golden/retirements", s.needPipeline(s.listRetirements))
	handle("GET /api/v1/upstreams", admin(s.listUpstreams))
	handle("POST /api/v1/upstreams", admin(s.addUpstream))
	handle("DELETE /api/v1/upstreams/{name}", admin(s.removeUpstream))
	handle("GET /api/v1/exceptions", s.listExceptions)
	handle("POST /api/v1/exceptions", admin(s.addException))
	handle("DELETE /api/v1/exceptions/{id}", admin(s.removeException))
}

func (s *Server) needPipeline(h func(http.ResponseWriter, *http.Request, *auth.Principal)) func(http.ResponseWriter, *http.Request, *auth.Principal) {
	return func(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
		if s.pipeline == nil {
			writeAPIError(w, http.StatusServiceUnavailable, "UNAVAILABLE",
				"the acquire pipeline is not running on this server: start cssc serve with --signing-key NAME (a key made by `cssc key generate NAME`)")
			return
		}
		h(w, r, p)
	}
}

// acquisitionRequest is the body of POST /api/v1/acquisitions.
type acquisitionRequest struct {
	acquire.Request
	// AllTags acquires every tag of Source's repository matching Match (a
	// regular expression over the tag).
	AllTags bool   `json:"all_tags,omitempty"`
	Match   string `json:"match,omitempty"`
}

func (s *Server) submitAcquisition(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if s.pipeline == nil {
		s.needPipeline(nil)(w, r, p)
		return
	}
	var req acquisitionRequest
	if err := decodeBody(r, &req); err != nil {
		s.acquireFailure(w, r, "submit acquisition", err)
		return
	}
	if req.AllTags {
		recs, skipped, err := s.pipeline.SubmitAllTags(r.Context(), req.Request, req.Match, p.Name)
		if err != nil && len(recs) == 0 {
			s.acquireFailure(w, r, "submit acquisitions", err)
			return
		}
		body := map[string]any{"acquisitions": recs, "skipped_tags": skipped}
		if err != nil {
			// Some were queued: they run; say what stopped the rest.
			body["error"] = err.Error()
		}
		writeJSON(w, http.StatusAccepted, body)
		return
	}
	if req.Match != "" {
		s.acquireFailure(w, r, "submit acquisition", fmt.Errorf("%w: match needs all_tags", errBadRequest))
		return
	}
	rec, err := s.pipeline.Submit(r.Context(), req.Request, p.Name)
	if err != nil {
		s.acquireFailure(w, r, "submit acquisition", err)
		return
	}
	w.Header().Set("Location", "/api/v1/acquisitions/"+rec.ID)
	writeJSON(w, http.StatusAccepted, rec)
}

func (s *Server) listAcquisitions(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	q := r.URL.Query()
	f := store.AcquisitionFilter{State: q.Get("state"), Name: q.Get("name")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			writeAPIError(w, http.StatusBadRequest, "INVALID", "limit: want a positive number")
			return
		}
		f.Limit = n
	}
	recs, err := s.pipeline.List(r.Context(), f)
	if err != nil {
		s.acquireFailure(w, r, "list acquisitions", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acquisitions": recs})
}

func (s *Server) getAcquisition(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	rec, err := s.pipeline.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.acquireFailure(w, r, "get acquisition", err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) retryAcquisition(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	rec, err := s.pipeline.Retry(r.Context(), r.PathValue("id"), p.Name)
	if err != nil {
		s.acquireFailure(w, r, "retry acquisition", err)
		return
	}
	writeJSON(w, http.StatusAccepted, rec)
}

func (s *Server) listUpstreams(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	list, err := s.upstreams.List(r.Context())
	if err != nil {
		s.acquireFailure(w, r, "list upstreams", err)
		return
	}
	static, _ := staticUpstreams(s.cfg.Pipeline.UpstreamAllow)
	writeJSON(w, http.StatusOK, map[string]any{"upstreams": list, "configured": static})
}

// upstreamRequest carries the password, which Upstream's JSON leaves out.
type upstreamRequest struct {
	upstream.Upstream
	Password string `json:"password,omitempty"`
}

func (s *Server) addUpstream(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req upstreamRequest
	if err := decodeBody(r, &req); err != nil {
		s.acquireFailure(w, r, "add upstream", err)
		return
	}
	u := req.Upstream
	u.Password = req.Password
	u.CreatedAt = time.Time{}
	if err := s.upstreams.Add(r.Context(), u); err != nil {
		s.acquireFailure(w, r, "add upstream", fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	got, err := s.upstreams.Get(r.Context(), u.Name)
	if err != nil {
		s.acquireFailure(w, r, "add upstream", err)
		return
	}
	got.Password = ""
	s.changed(w, r, p, "upstream.add", got.String(), http.StatusCreated, got)
}

func (s *Server) removeUpstream(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	name := r.PathValue("name")
	if err := s.upstreams.Remove(r.Context(), name); err != nil {
		s.acquireFailure(w, r, "remove upstream", err)
		return
	}
	s.changed(w, r, p, "upstream.remove", name, http.StatusOK, map[string]string{"removed": name})
}

// exceptionResponse is a stored exception as the API shows it.
type exceptionResponse struct {
	ID         string             `json:"id"`
	CreatedBy  string             `json:"created_by"`
	CreatedAt  time.Time          `json:"created_at"`
	ExpiresAt  time.Time          `json:"expires_at"`
	Exceptions []policy.Exception `json:"exceptions"`
}

func (s *Server) listExceptions(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	var now time.Time
	if r.URL.Query().Get("all") == "" {
		now = time.Now()
	}
	rows, err := s.dir.Meta.ListExceptions(r.Context(), now)
	if err != nil {
		s.acquireFailure(w, r, "list exceptions", err)
		return
	}
	out := []exceptionResponse{}
	for _, row := range rows {
		ex, err := policy.ParseExceptions(row.Document)
		if err != nil {
			s.acquireFailure(w, r, "list exceptions", fmt.Errorf("exception %s: %w", row.ID, err))
			return
		}
		out = append(out, exceptionResponse{ID: row.ID, CreatedBy: row.CreatedBy, CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt, Exceptions: ex})
	}
	writeJSON(w, http.StatusOK, map[string]any{"exceptions": out})
}

func (s *Server) addException(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req policy.ExceptionRequest
	if err := decodeBody(r, &req); err != nil {
		s.acquireFailure(w, r, "add exception", err)
		return
	}
	now := time.Now()
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := "exc-" + hex.EncodeToString(b[:])
	doc, err := policy.NewExceptionDocument("https://cssc.dev/exceptions/"+id, p.Name, req, now)
	if err != nil {
		s.acquireFailure(w, r, "add exception", fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	if err := s.dir.Meta.AddException(r.Context(), store.Exception{ID: id, Document: doc, CreatedBy: p.Name, CreatedAt: now, ExpiresAt: req.Expires}); err != nil {
		s.acquireFailure(w, r, "add exception", err)
		return
	}
	ex, _ := policy.ParseExceptions(doc)
	target := fmt.Sprintf("%s %s on %s until %s approved by %s: %s", id, req.Vulnerability, req.Image, req.Expires.UTC().Format(time.RFC3339), req.Approver, req.Reason)
	s.changed(w, r, p, "exception.add", target, http.StatusCreated,
		exceptionResponse{ID: id, CreatedBy: p.Name, CreatedAt: now, ExpiresAt: req.Expires, Exceptions: ex})
}

func (s *Server) removeException(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id := r.PathValue("id")
	if err := s.dir.Meta.DeleteException(r.Context(), id); err != nil {
		s.acquireFailure(w, r, "remove exception", err)
		return
	}
	s.changed(w, r, p, "exception.remove", id, http.StatusOK, map[string]string{"removed": id})
}

func (s *Server) listSyncRules(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	rules, err := s.pipeline.SyncRules(r.Context())
	if err != nil {
		s.acquireFailure(w, r, "list sync rules", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sync_rules": rules})
}

func (s *Server) addSyncRule(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var rule acquire.SyncRule
	if err := decodeBody(r, &rule); err != nil {
		s.acquireFailure(w, r, "add sync rule", err)
		return
	}
	got, err := s.pipeline.AddSyncRule(r.Context(), rule, p.Name)
	if err != nil {
		s.acquireFailure(w, r, "add sync rule", err)
		return
	}
	writeJSON(w, http.StatusCreated, got)
}

func (s *Server) removeSyncRule(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if err := s.pipeline.RemoveSyncRule(r.Context(), r.PathValue("id"), p.Name); err != nil {
		s.acquireFailure(w, r, "remove sync rule", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": r.PathValue("id")})
}

func (s *Server) runSyncRule(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	got, err := s.pipeline.RunSyncRule(r.Context(), r.PathValue("id"))
	if err != nil {
		s.acquireFailure(w, r, "run sync rule", err)
		return
	}
	writeJSON(w, http.StatusOK, got)
}

func (s *Server) rescan(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	rep, err := s.pipeline.Rescan(r.Context(), true)
	if err != nil {
		s.acquireFailure(w, r, "rescan", err)
		return
	}
	s.changed(w, r, p, "golden.rescan", fmt.Sprintf("%d images, %d flagged, %d demoted", len(rep.Images), rep.Flagged, rep.Demoted), http.StatusOK, rep)
}

// retireRequest is the body of POST /api/v1/golden/retire.
type retireRequest struct {
	Image string    `json:"image"`
	EOL   time.Time `json:"eol,omitzero"`
	// Grace is how long after the end of life the image stays in golden/
	// (a Go duration; default 720h).
	Grace string `json:"grace,omitempty"`
}

func (s *Server) retireGolden(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req retireRequest
	if err := decodeBody(r, &req); err != nil {
		s.acquireFailure(w, r, "retire", err)
		return
	}
	grace := 30 * 24 * time.Hour
	if req.Grace != "" {
		d, err := time.ParseDuration(req.Grace)
		if err != nil {
			s.acquireFailure(w, r, "retire", fmt.Errorf("%w: grace %q: %v", errBadRequest, req.Grace, err))
			return
		}
		grace = d
	}
	ret, err := s.pipeline.Retire(r.Context(), req.Image, req.EOL, grace, p.Name)
	if err != nil {
		if sign.HTTPError(err) || sign.Unreachable(err) {
			s.apiFailure(w, r, "retire", err) // this server's registry, not an upstream
			return
		}
		s.acquireFailure(w, r, "retire", err)
		return
	}
	writeJSON(w, http.StatusOK, ret)
}

func (s *Server) listRetirements(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	list, err := s.pipeline.Retirements(r.Context())
	if err != nil {
		s.acquireFailure(w, r, "list retirements", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"retirements": list})
}

// acquireFailure maps the pipeline's errors to answers.
func (s *Server) acquireFailure(w http.ResponseWriter, r *http.Request, what string, err error) {
	var na *upstream.NotAllowedError
	switch {
	case errors.As(err, &na):
		writeAPIError(w, http.StatusForbidden, "NOT_ALLOWED", err.Error())
	case errors.Is(err, store.ErrAcquisitionUnknown), errors.Is(err, store.ErrUpstreamUnknown), errors.Is(err, store.ErrExceptionUnknown),
		errors.Is(err, store.ErrSyncRuleUnknown):
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", err.Error())
	case errors.Is(err, acquire.ErrNotRetryable):
		writeAPIError(w, http.StatusConflict, "CONFLICT", err.Error())
	case errors.Is(err, errBadRequest), acquire.IsInvalid(err):
		writeAPIError(w, http.StatusBadRequest, "INVALID", err.Error())
	case errors.Is(err, errdef.ErrNotFound):
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", err.Error())
	case sign.HTTPError(err), sign.Unreachable(err) && r.Context().Err() == nil:
		// The upstream answered with an error, or not at all.
		writeAPIError(w, http.StatusBadGateway, "UPSTREAM", err.Error())
	default:
		s.apiFailure(w, r, what, err)
	}
}
